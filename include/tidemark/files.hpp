// The pure part of the "files" strategy: which paths a pattern selects, and a streaming reader
// that turns one CSV or JSON Lines file (optionally gzip-compressed) into PostgreSQL COPY text
// lines for a list of target columns. No database; a file is read in blocks, one record at a time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tidemark/errors.hpp"

namespace tidemark::files {

// ---- selecting files -------------------------------------------------------------------------

// Matches a path relative to the source directory ("a/b/c.csv") against a glob pattern.
// `*` and `?` never cross `/`; `[abc]`, `[a-z]`, `[!x]` (or `[^x]`) are classes; `\` escapes
// the next character. `**` as a whole segment matches zero or more directories
// (`**/*.jsonl` matches `a.jsonl` and `x/y/a.jsonl`); as the last segment it matches every
// path below (`logs/**`). Elsewhere `**` is just two `*`.
bool glob_match(std::string_view pattern, std::string_view relpath);
// True when the pattern has a `**` segment, so a lister must descend without a depth limit.
bool glob_has_recursion(std::string_view pattern);
// The leading directories of the pattern that hold no wildcard ("in/2024/*.csv" -> "in/2024",
// "*.csv" -> ""), so a lister can start there.
std::string glob_literal_prefix_dir(std::string_view pattern);
// The default exclusions: a path component starting with `.`, or one ending in `.tmp`, `.part`,
// `.partial`, `.crdownload` or `~` (files still being written by a browser, rsync, curl …).
bool is_hidden_or_temp(std::string_view relpath);

// ---- reading a file --------------------------------------------------------------------------

struct Format {
  enum class Kind { kCsv, kJsonl } kind = Kind::kCsv;
  char delimiter = ',';   // CSV
  char quote = '"';       // CSV
  std::string null_string;      // CSV: an unquoted field equal to this is NULL ("" by default)
  bool ignore_unknown = false;  // unknown header names / JSON keys are skipped, not an error
  // A longer record (or line) is a file error: bounds memory on a file with a runaway quote.
  std::size_t max_record_bytes = std::size_t{256} << 20;
};

// The kind from the file name (case-insensitive, an optional `.gz` after it): .csv and .tsv are
// kCsv, .jsonl and .ndjson are kJsonl; nullopt for any other name.
std::optional<Format::Kind> kind_from_name(std::string_view name);
// The default Format for a name: kind_from_name, with a tab delimiter for .tsv.
std::optional<Format> format_from_name(std::string_view name);

// One source record as a COPY text line.
struct Record {
  std::string copy_line;  // fields in `columns` order, tab-separated, COPY-escaped, no newline
  int64_t line = 0;       // physical line (1-based) where the record starts
  std::string raw;        // the record's source text (for a rejects table), capped at 64 KiB
};

// A problem with a file, at a line (0 = the whole file). what() is "file:line: reason" (or
// "file: reason"). record() holds the rejected record's text for a per-record error, else "".
class FileError : public RunError {
 public:
  FileError(std::string file, int64_t line, std::string reason, std::string raw = {});
  const std::string& file() const noexcept { return file_; }
  int64_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& record() const noexcept { return raw_; }

 private:
  std::string file_;
  int64_t line_;
  std::string reason_;
  std::string raw_;
};

// Streams one file. The constructor opens it and, for CSV, reads and maps the header: a file
// that cannot be opened, an empty CSV file or a bad header throws FileError. Empty or duplicate
// `columns`, or a delimiter/quote that cannot work, throw std::invalid_argument.
class RecordReader {
 public:
  RecordReader(const std::string& path, const Format& fmt, std::vector<std::string> columns);
  ~RecordReader();
  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;

  // The next record; false at end of file. Throws FileError for a bad record (wrong field
  // count, bad quoting, a line that is not a JSON object, an unknown key): then can_continue()
  // stays true and the next call reads the following record, so a caller can quarantine bad
  // rows. After a stream error (truncated or corrupt gzip, unterminated quote at end of file,
  // an over-long record) can_continue() is false and next() throws the same error again.
  bool next(Record& out);
  bool can_continue() const;
  // Target columns that are NULL in every record: for CSV those missing from the header (known
  // after construction); for JSON Lines those no record read so far had (final at end of file).
  const std::vector<std::string>& missing_columns() const;
  // Bytes of the file (compressed, for .gz) consumed so far, for progress.
  int64_t bytes_read() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemark::files
