// The pieces RecordReader is built from (src/files/): a byte source over zlib, physical lines on
// top of it, the column mapping and COPY row shared by the two formats, and the format parsers.
#pragma once
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tidemark/files.hpp"

namespace tidemark::files {

inline constexpr std::size_t kMaxRawBytes = 64 * 1024;  // Record::raw cap

// A per-record error: the reader can go on with the next record. Any other FileError ends the
// stream.
class RecordError : public FileError {
 public:
  using FileError::FileError;
};

// Bytes of a plain or gzip file (zlib reads plain files transparently). A truncated or corrupt
// gzip stream throws FileError instead of looking like the end of the file.
class ByteSource {
 public:
  explicit ByteSource(const std::string& path);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  std::size_t read(char* buf, std::size_t n);  // 0 at the end of the file
  int64_t offset() const;                      // file bytes consumed so far
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  bool eof_ = false;
};

// Physical lines ending in "\n" or "\r\n" (the last may have neither); a UTF-8 BOM at the start
// of the file is dropped.
class LineReader {
 public:
  LineReader(ByteSource& src, std::size_t max_line);
  bool next(std::string& line);          // the line without its terminator; false at the end
  std::string_view eol() const { return eol_; }  // the last line's terminator
  int64_t line_number() const { return line_no_; }  // of the last line returned
  const std::string& path() const { return src_.path(); }
  std::size_t max_line() const { return max_; }

 private:
  bool fill();
  ByteSource& src_;
  std::size_t max_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, len_ = 0;
  std::string_view eol_;
  int64_t line_no_ = 0;
};

// Source names (CSV header fields, JSON keys) to target columns: an exact match first, then
// a case-insensitive one.
class ColumnMap {
 public:
  explicit ColumnMap(const std::vector<std::string>& columns);
  // The column index, or nullopt with *why saying what is wrong ("is not a target column …").
  std::optional<std::size_t> find(std::string_view name, std::string* why) const;
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::vector<std::string> columns_;
  std::unordered_map<std::string, std::size_t> exact_;
};

// The values of one record in target column order, rendered as a COPY text line.
class Row {
 public:
  explicit Row(std::size_t ncols) : state_(ncols, kUnset), values_(ncols) {}
  void reset() { std::fill(state_.begin(), state_.end(), kUnset); }
  bool is_set(std::size_t col) const { return state_[col] != kUnset; }
  void set_null(std::size_t col) { state_[col] = kNull; }
  std::string& set(std::size_t col) {  // cleared, for the caller to fill
    state_[col] = kValue;
    values_[col].clear();
    return values_[col];
  }
  // Writes the COPY line into *out. Returns the index of a column whose value holds a NUL
  // byte (which PostgreSQL text cannot store), else -1.
  int to_copy(std::string* out) const;

 private:
  enum State : unsigned char { kUnset, kNull, kValue };
  std::vector<State> state_;
  std::vector<std::string> values_;
};

// Appends text to a record's raw copy without passing kMaxRawBytes or splitting a UTF-8 char.
void append_raw(std::string* raw, std::string_view text);

// One file format over a line reader. next() throws RecordError for a bad record and
// FileError for a broken stream.
class Parser {
 public:
  virtual ~Parser() = default;
  virtual bool next(Record& out) = 0;
  virtual const std::vector<std::string>& missing_columns() = 0;
};

// Reads the header row: a bad one throws FileError.
std::unique_ptr<Parser> make_csv_parser(LineReader& lines, const Format& fmt,
                                        const std::vector<std::string>& columns);
std::unique_ptr<Parser> make_jsonl_parser(LineReader& lines, const Format& fmt,
                                          const std::vector<std::string>& columns);

}  // namespace tidemark::files
