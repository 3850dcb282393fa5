// File helpers shared by the state file, strategy files and the metrics file (pure: no
// database): one atomic replace and one SHA-256.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace tidemark {

// The directory of `path`: "." for a bare name, "/" for a file at the root.
std::string dir_of(const std::string& path);

struct AtomicWrite {
  unsigned mode = 0644;                 // set with fchmod, whatever the umask
  std::function<void()> before_rename;  // once the temp file is written and fsynced (crash tests)
};
// Replaces `path` with `text` so that a reader sees the old file or the new one, never a
// part: PATH.tmp.<pid> in the same directory is written, fsynced, renamed over PATH, and the
// directory fsynced (EINVAL, a file system that cannot sync directories, is accepted). Throws
// RunError "<what>: <step> <file>: <reason>"; the temp file is removed unless it was renamed.
void replace_file_atomically(const std::string& path, const std::string& text, const std::string& what,
                             const AtomicWrite& how = {});

// SHA-256 (OpenSSL) as lowercase hex, of a string or of data fed in blocks.
std::string sha256_hex(const std::string& data);
class Sha256 {
 public:
  Sha256();  // throws RunError when OpenSSL has no SHA-256
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // of everything fed so far; call once

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace tidemark
