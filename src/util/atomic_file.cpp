// The atomic file replace (tidemark/file_util.hpp) of the state file and the metrics file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "tidemark/errors.hpp"
#include "tidemark/file_util.hpp"

namespace tidemark {

namespace {

struct Fd {
  int fd;
  ~Fd() { close(); }
  int get() const { return fd; }
  int close() { return fd < 0 ? 0 : ::close(std::exchange(fd, -1)); }
};

// A temp file unlinked on scope exit unless it was renamed into place.
struct TempFile {
  std::string path;
  bool kept = false;
  ~TempFile() {
    if (!kept) ::unlink(path.c_str());
  }
};

}  // namespace

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

void replace_file_atomically(const std::string& path, const std::string& text, const std::string& what,
                             const AtomicWrite& how) {
  const std::string dir = dir_of(path);
  // errno first: building the message may change it
  auto fail = [&](const char* step, const std::string& name) {
    const int err = errno;
    throw RunError(what + ": " + step + " " + name + ": " + std::strerror(err));
  };
  TempFile tmp{path + ".tmp." + std::to_string(::getpid())};
  Fd out{::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, how.mode)};
  if (out.get() < 0) fail("cannot create", tmp.path);
  if (::fchmod(out.get(), how.mode) != 0) fail("cannot set the mode of", tmp.path);
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(out.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write", tmp.path);
    done += static_cast<size_t>(n);
  }
  if (::fsync(out.get()) != 0) fail("cannot fsync", tmp.path);
  if (out.close() != 0) fail("cannot close", tmp.path);
  if (how.before_rename) how.before_rename();
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) fail("cannot move into place", tmp.path);
  tmp.kept = true;
  // The rename is durable once the directory is; EINVAL: the file system cannot sync directories.
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.get() < 0 || (::fsync(d.get()) != 0 && errno != EINVAL))
    fail("the new file is in place, but a power loss may undo it: cannot fsync directory", dir);
}

}  // namespace tidemark
