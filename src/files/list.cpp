// Strategy `files`: the directory listing a run plans from.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/files.hpp"

namespace tidemark::files {

std::vector<FileInfo> list_files(const std::string& dir, const FilesDetect& f) {
  namespace fs = std::filesystem;
  const std::string pattern = f.pattern.empty() ? "**" : f.pattern;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw RunError("detect.path '" + dir + "' is not a readable directory" + (ec ? ": " + ec.message() : ""));
  const std::string prefix = glob_literal_prefix_dir(pattern);
  const fs::path start = prefix.empty() ? fs::path(dir) : fs::path(dir) / prefix;
  std::vector<FileInfo> out;
  if (!fs::is_directory(start, ec)) return out;  // nothing has landed there yet
  const bool deep = glob_has_recursion(pattern) || pattern.find('/') != std::string::npos;
  auto consider = [&](const fs::directory_entry& e) {
    std::error_code fe;
    if (!e.is_regular_file(fe)) return;
    const std::string rel = fs::relative(e.path(), dir, fe).generic_string();
    if (fe || is_hidden_or_temp(rel) || !glob_match(pattern, rel)) return;
    for (const auto& x : f.exclude)
      if (glob_match(x, rel)) return;
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0) return;  // gone since the listing: next run
    out.push_back({rel, static_cast<int64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  };
  try {
    if (deep) {
      for (fs::recursive_directory_iterator it(start, fs::directory_options::skip_permission_denied), end; it != end;
           ++it) {
        // Hidden directories (.git, .staging) are never entered.
        if (it->is_directory() && it->path().filename().string().rfind('.', 0) == 0) {
          it.disable_recursion_pending();
          continue;
        }
        consider(*it);
      }
    } else {
      for (const auto& e : fs::directory_iterator(start)) consider(e);
    }
  } catch (const fs::filesystem_error& e) {
    throw RunError("cannot list detect.path '" + dir + "': " + e.code().message());
  }
  std::sort(out.begin(), out.end(), [](const FileInfo& a, const FileInfo& b) { return a.rel < b.rel; });
  return out;
}

}  // namespace tidemark::files
