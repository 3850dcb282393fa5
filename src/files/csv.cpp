// CSV records (RFC 4180) with a header row that names the target columns.
#include "files/parsers.hpp"

namespace tidemark::files {
namespace {

struct Field {
  std::string text;
  bool quoted = false;
};

class CsvParser final : public Parser {
 public:
  CsvParser(LineReader& lines, const Format& fmt, const std::vector<std::string>& columns)
      : lines_(lines), fmt_(fmt), map_(columns), row_(columns.size()) {
    read_header();
  }

  bool next(Record& out) override {
    // A blank line is no record, except in a one-column file where it is one empty field
    // (as in PostgreSQL's COPY … CSV).
    do {
      if (!read_record()) return false;
    } while (raw_.empty() && field_col_.size() > 1);
    if (nfields_ != field_col_.size())
      throw RecordError(lines_.path(), start_line_,
                        "expected " + std::to_string(field_col_.size()) + " fields, found " +
                            std::to_string(nfields_),
                        raw_);
    row_.reset();
    for (std::size_t i = 0; i < nfields_; ++i) {
      const int col = field_col_[i];
      if (col < 0) continue;
      const auto c = static_cast<std::size_t>(col);
      Field& f = fields_[i];
      if (!f.quoted && f.text == fmt_.null_string)
        row_.set_null(c);
      else
        std::swap(row_.set(c), f.text);  // the field's buffer is reused by the next record
    }
    const int bad = row_.to_copy(&out.copy_line);
    if (bad >= 0)
      throw RecordError(lines_.path(), start_line_,
                        "column \"" + map_.columns()[static_cast<std::size_t>(bad)] +
                            "\" holds a NUL byte, which PostgreSQL text cannot store",
                        raw_);
    out.line = start_line_;
    std::swap(out.raw, raw_);
    return true;
  }

  const std::vector<std::string>& missing_columns() override { return missing_; }

 private:
  void read_header() {
    if (!read_record())
      throw FileError(lines_.path(), 0, "the file is empty: a header row is required");
    std::vector<std::size_t> source(map_.columns().size(), 0);  // header field (1-based) per column
    for (std::size_t i = 0; i < nfields_; ++i) {
      const std::string& name = fields_[i].text;
      std::string why;
      const auto col = map_.find(name, &why);
      if (!col) {
        if (fmt_.ignore_unknown) {
          field_col_.push_back(-1);
          continue;
        }
        throw FileError(lines_.path(), start_line_, "column \"" + name + "\" in the header " + why);
      }
      if (source[*col] != 0)
        throw FileError(lines_.path(), start_line_,
                        "header fields " + std::to_string(source[*col]) + " (\"" +
                            fields_[source[*col] - 1].text + "\") and " + std::to_string(i + 1) +
                            " (\"" + name + "\") both name column \"" + map_.columns()[*col] +
                            "\"");
      source[*col] = i + 1;
      field_col_.push_back(static_cast<int>(*col));
    }
    for (std::size_t c = 0; c < source.size(); ++c)
      if (source[c] == 0) missing_.push_back(map_.columns()[c]);
  }

  // Splits the next record (one or more physical lines) into fields_[0, nfields_); false at the
  // end of the file.
  bool read_record() {
    if (!lines_.next(line_)) return false;
    start_line_ = lines_.line_number();
    raw_.clear();
    append_raw(&raw_, line_);
    std::size_t record_bytes = line_.size();
    nfields_ = 0;
    Field* f = start_field();
    int64_t field_line = start_line_;
    enum { kStart, kUnquoted, kQuoted, kAfterQuote } st = kStart;
    std::size_t i = 0;  // next byte of line_
    for (;;) {
      if (i == line_.size()) {
        if (st != kQuoted) return true;
        // A line break inside quotes belongs to the field; the record goes on on the next line.
        f->text.append(lines_.eol());
        if (lines_.eol().empty() || !lines_.next(line_))
          throw FileError(lines_.path(), field_line,
                          "quoted field " + std::to_string(nfields_) +
                              " starts here and is never closed (end of file reached)");
        record_bytes += line_.size() + 2;
        if (record_bytes > lines_.max_line())
          throw FileError(lines_.path(), start_line_,
                          "record is longer than " + std::to_string(lines_.max_line()) +
                              " bytes (is a quote missing in field " + std::to_string(nfields_) +
                              ", which starts on line " + std::to_string(field_line) + "?)");
        append_raw(&raw_, lines_.eol());
        append_raw(&raw_, line_);
        i = 0;
        continue;
      }
      const char c = line_[i++];
      switch (st) {
        case kStart:
          if (c == fmt_.quote) {
            f->quoted = true;
            field_line = lines_.line_number();
            st = kQuoted;
            continue;
          }
          st = kUnquoted;
          [[fallthrough]];
        case kUnquoted:
          if (c == fmt_.delimiter) {
            f = start_field();
            st = kStart;
          } else if (c == fmt_.quote) {
            bad_quote("a quote inside an unquoted field");
          } else {
            f->text.push_back(c);
          }
          continue;
        case kQuoted:
          if (c != fmt_.quote) {
            f->text.push_back(c);
          } else if (i < line_.size() && line_[i] == fmt_.quote) {
            f->text.push_back(c);  // a doubled quote is one quote
            ++i;
          } else {
            st = kAfterQuote;
          }
          continue;
        case kAfterQuote:
          if (c != fmt_.delimiter) bad_quote("text after the closing quote");
          f = start_field();
          st = kStart;
          continue;
      }
    }
  }

  Field* start_field() {
    if (fields_.size() == nfields_) fields_.emplace_back();
    Field* f = &fields_[nfields_++];
    f->text.clear();
    f->quoted = false;
    return f;
  }

  [[noreturn]] void bad_quote(const std::string& what) const {
    throw RecordError(lines_.path(), lines_.line_number(),
                      what + " (field " + std::to_string(nfields_) +
                          "; quote a field that holds quotes and double the quotes inside it)",
                      raw_);
  }

  LineReader& lines_;
  const Format fmt_;
  ColumnMap map_;
  Row row_;
  std::vector<int> field_col_;  // header field -> target column, -1 when ignored
  std::vector<std::string> missing_;
  std::string line_, raw_;
  std::vector<Field> fields_;  // reused record to record; nfields_ of them are in use
  std::size_t nfields_ = 0;
  int64_t start_line_ = 0;
};

}  // namespace

std::unique_ptr<Parser> make_csv_parser(LineReader& lines, const Format& fmt,
                                        const std::vector<std::string>& columns) {
  return std::make_unique<CsvParser>(lines, fmt, columns);
}

}  // namespace tidemark::files
