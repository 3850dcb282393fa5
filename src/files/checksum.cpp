// Strategy `files`: a file's content checksum (SHA-256 of its bytes as stored), read in blocks.
#include <cstdio>
#include <memory>
#include <vector>

#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/file_util.hpp"

namespace tidemark::files {

std::string checksum_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw RunError("cannot open " + path + " to checksum it");
  Sha256 h;
  std::vector<unsigned char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), n);
  if (std::ferror(f.get())) throw RunError("cannot read " + path + " to checksum it");
  return "sha256:" + h.hex();
}

}  // namespace tidemark::files
