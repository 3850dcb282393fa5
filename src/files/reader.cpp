// Bytes and physical lines of one file, plain or gzip (see parsers.hpp).
#include <cerrno>
#include <cstring>

#include "files/parsers.hpp"

namespace tidemark::files {

static std::string where(const std::string& file, int64_t line) {
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

FileError::FileError(std::string file, int64_t line, std::string reason, std::string raw)
    : RunError(where(file, line) + ": " + reason),
      file_(std::move(file)),
      line_(line),
      reason_(std::move(reason)),
      raw_(std::move(raw)) {}

// ---- ByteSource --------------------------------------------------------------------------------

// zlib's own buffer: large reads keep the syscall count low on multi-gigabyte files.
static constexpr unsigned kGzBuffer = 256 * 1024;

ByteSource::ByteSource(const std::string& path) : path_(path) {
  errno = 0;
  gz_ = gzopen(path.c_str(), "rb");
  if (gz_ == nullptr) {
    const int err = errno;
    throw FileError(path_, 0, std::string("cannot open: ") +
                                  (err != 0 ? std::strerror(err) : "out of memory"));
  }
  gzbuffer(gz_, kGzBuffer);
}

ByteSource::~ByteSource() {
  if (gz_ != nullptr) gzclose(gz_);
}

// gzerror() prefixes its message with the path given to gzopen(); FileError names the file
// already.
static std::string gz_message(const std::string& path, const char* msg) {
  std::string m = msg != nullptr ? msg : "";
  const std::string prefix = path + ": ";
  if (m.compare(0, prefix.size(), prefix) == 0) m.erase(0, prefix.size());
  return m;
}

std::size_t ByteSource::read(char* buf, std::size_t n) {
  if (eof_) return 0;
  const int got = gzread(gz_, buf, static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30)));
  if (got > 0) return static_cast<std::size_t>(got);
  // gzread() returns 0 both at a clean end and when a gzip stream stops short (a half-copied
  // file): only gzerror() tells them apart, as Z_BUF_ERROR "unexpected end of file".
  int err = Z_OK;
  const char* msg = gzerror(gz_, &err);
  if (err == Z_BUF_ERROR)
    throw FileError(path_, 0, "unexpected end of compressed data (the gzip file is truncated)");
  if (err == Z_ERRNO)
    throw FileError(path_, 0, std::string("read failed: ") + std::strerror(errno));
  if (got < 0 || err != Z_OK)
    throw FileError(path_, 0, "corrupt compressed data: " + gz_message(path_, msg));
  eof_ = true;
  return 0;
}

int64_t ByteSource::offset() const { return static_cast<int64_t>(gzoffset(gz_)); }

// ---- LineReader --------------------------------------------------------------------------------

static constexpr std::size_t kLineBuffer = 64 * 1024;

LineReader::LineReader(ByteSource& src, std::size_t max_line)
    : src_(src), max_(max_line), buf_(kLineBuffer) {}

bool LineReader::fill() {
  pos_ = 0;
  try {
    len_ = src_.read(buf_.data(), buf_.size());
  } catch (const FileError& e) {
    // Say how far the file got: the line being read when the data ran out.
    throw FileError(e.file(), line_no_ + 1, e.reason());
  }
  return len_ > 0;
}

bool LineReader::next(std::string& line) {
  line.clear();
  bool any = false;
  eol_ = {};
  for (;;) {
    if (pos_ == len_ && !fill()) break;
    any = true;
    const char* start = buf_.data() + pos_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
    const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - start) : len_ - pos_;
    if (line.size() + n > max_)
      throw FileError(path(), line_no_ + 1,
                      "line is longer than " + std::to_string(max_) + " bytes");
    line.append(start, n);
    pos_ += n;
    if (nl != nullptr) {
      ++pos_;
      eol_ = "\n";
      break;
    }
  }
  if (!any) return false;
  if (!eol_.empty() && !line.empty() && line.back() == '\r') {
    line.pop_back();
    eol_ = "\r\n";
  }
  if (++line_no_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

}  // namespace tidemark::files
