// What both formats share (column mapping, the COPY line, the raw copy of a record) and
// RecordReader, which puts a byte source, a line reader and a format parser together.
#include <cctype>
#include <stdexcept>

#include "files/parsers.hpp"
#include "tidemark/util.hpp"

namespace tidemark::files {

// ---- names -----------------------------------------------------------------------------------

static bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

static bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequal(s.substr(s.size() - suffix.size()), suffix);
}

std::optional<Format::Kind> kind_from_name(std::string_view name) {
  if (iends_with(name, ".gz")) name.remove_suffix(3);
  if (iends_with(name, ".csv") || iends_with(name, ".tsv")) return Format::Kind::kCsv;
  if (iends_with(name, ".jsonl") || iends_with(name, ".ndjson")) return Format::Kind::kJsonl;
  return std::nullopt;
}

std::optional<Format> format_from_name(std::string_view name) {
  const auto kind = kind_from_name(name);
  if (!kind) return std::nullopt;
  Format fmt;
  fmt.kind = *kind;
  if (iends_with(name, ".gz")) name.remove_suffix(3);
  if (iends_with(name, ".tsv")) fmt.delimiter = '\t';
  return fmt;
}

// ---- ColumnMap -------------------------------------------------------------------------------

ColumnMap::ColumnMap(const std::vector<std::string>& columns) : columns_(columns) {
  if (columns_.empty()) throw std::invalid_argument("files: no target columns");
  for (std::size_t i = 0; i < columns_.size(); ++i)
    if (!exact_.emplace(columns_[i], i).second)
      throw std::invalid_argument("files: target column \"" + columns_[i] + "\" is listed twice");
}

// At most 20 names: an error about a 300-column table should still fit on a screen.
static std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 20; ++i) out += (i > 0 ? ", " : "") + names[i];
  if (names.size() > 20) out += ", … (" + std::to_string(names.size() - 20) + " more)";
  return out;
}

std::optional<std::size_t> ColumnMap::find(std::string_view name, std::string* why) const {
  if (const auto it = exact_.find(std::string(name)); it != exact_.end()) return it->second;
  std::vector<std::size_t> hits;
  for (std::size_t i = 0; i < columns_.size(); ++i)
    if (iequal(columns_[i], name)) hits.push_back(i);
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) {
    *why = "is not a target column" + did_you_mean(std::string(name), columns_) +
           " (target columns: " + name_list(columns_) + ")";
  } else {
    std::vector<std::string> names;
    for (std::size_t i : hits) names.push_back(columns_[i]);
    *why = "matches several target columns when case is ignored (" + name_list(names) + ")";
  }
  return std::nullopt;
}

// ---- Row and raw text -------------------------------------------------------------------------

// COPY text format: only backslash and the characters that separate fields and rows are special.
static bool escape_into(std::string* out, const std::string& v) {
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char* esc = nullptr;
    switch (v[i]) {
      case '\\': esc = "\\\\"; break;
      case '\t': esc = "\\t"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\0': return false;
      default: continue;
    }
    out->append(v, run, i - run);
    out->append(esc);
    run = i + 1;
  }
  out->append(v, run, std::string::npos);
  return true;
}

int Row::to_copy(std::string* out) const {
  out->clear();
  for (std::size_t c = 0; c < state_.size(); ++c) {
    if (c > 0) out->push_back('\t');
    if (state_[c] != kValue) {
      out->append("\\N");
    } else if (!escape_into(out, values_[c])) {
      return static_cast<int>(c);
    }
  }
  return -1;
}

void append_raw(std::string* raw, std::string_view text) {
  if (raw->size() >= kMaxRawBytes) return;
  std::size_t n = std::min(text.size(), kMaxRawBytes - raw->size());
  if (n < text.size())  // cut before a UTF-8 continuation byte, never inside a character
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  raw->append(text.substr(0, n));
}

// ---- RecordReader ----------------------------------------------------------------------------

struct RecordReader::Impl {
  Impl(const std::string& path, const Format& fmt, std::vector<std::string> cols)
      : columns(std::move(cols)), src(path), lines(src, fmt.max_record_bytes) {
    if (fmt.kind == Format::Kind::kCsv) {
      const std::string bad = "\r\n";
      if (fmt.delimiter == fmt.quote || bad.find(fmt.delimiter) != std::string::npos ||
          bad.find(fmt.quote) != std::string::npos)
        throw std::invalid_argument(
            "files: the CSV delimiter and quote must differ and not be a line break");
      parser = make_csv_parser(lines, fmt, columns);
    } else {
      parser = make_jsonl_parser(lines, fmt, columns);
    }
  }
  std::vector<std::string> columns;
  ByteSource src;
  LineReader lines;
  std::unique_ptr<Parser> parser;
  std::optional<FileError> failed;  // a stream error: every later next() repeats it
};

RecordReader::RecordReader(const std::string& path, const Format& fmt,
                           std::vector<std::string> columns)
    : impl_(std::make_unique<Impl>(path, fmt, std::move(columns))) {}
RecordReader::~RecordReader() = default;
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;

bool RecordReader::next(Record& out) {
  if (impl_->failed) throw *impl_->failed;
  try {
    return impl_->parser->next(out);
  } catch (const RecordError&) {
    throw;
  } catch (const FileError& e) {
    impl_->failed = e;
    throw;
  }
}

bool RecordReader::can_continue() const { return !impl_->failed; }
const std::vector<std::string>& RecordReader::missing_columns() const {
  return impl_->parser->missing_columns();
}
int64_t RecordReader::bytes_read() const { return impl_->src.offset(); }

}  // namespace tidemark::files
