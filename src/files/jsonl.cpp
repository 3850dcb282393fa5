// JSON Lines: one object per line, its keys naming the target columns.
//
// Lines go through nlohmann's SAX interface rather than into a json value: a float token's
// text reaches number_float() as written, so 0.1, 1.10 and integers beyond 64 bits reach the
// target digit for digit instead of through a double.
#include <nlohmann/json.hpp>

#include <cctype>

#include "files/parsers.hpp"

namespace tidemark::files {
namespace {

using nlohmann::json;

// A string as compact JSON text, like json::dump() (UTF-8 kept, control characters escaped).
void append_json_string(std::string* out, const std::string& s) {
  static const char* const kHex = "0123456789abcdef";
  out->push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (u < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 15]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// "[json.exception.parse_error.101] parse error at line 1, column 9: …" -> "parse error at
// column 9: …": each line is its own document, so its "line 1" would only mislead.
std::string clean_message(std::string m) {
  if (m.compare(0, 1, "[") == 0)
    if (const auto end = m.find("] "); end != std::string::npos) m.erase(0, end + 2);
  if (const auto at = m.find("at line 1, column"); at != std::string::npos)
    m.replace(at, 17, "at column");
  return m;
}

class JsonlParser final : public Parser {
 public:
  JsonlParser(LineReader& lines, const Format& fmt, const std::vector<std::string>& columns)
      : lines_(lines), fmt_(fmt), map_(columns), row_(columns.size()), seen_(columns.size()) {}

  bool next(Record& out) override {
    do {
      if (!lines_.next(line_)) return false;
    } while (line_.find_first_not_of(" \t\r") == std::string::npos);
    const int64_t line_no = lines_.line_number();
    raw_.clear();
    append_raw(&raw_, line_);
    row_.reset();
    depth_ = 0;
    nested_.clear();
    error_.clear();
    if (!json::sax_parse(line_, this))
      throw RecordError(lines_.path(), line_no, error_.empty() ? "invalid JSON" : error_, raw_);
    const int bad = row_.to_copy(&out.copy_line);
    if (bad >= 0)
      throw RecordError(lines_.path(), line_no,
                        "column \"" + map_.columns()[static_cast<std::size_t>(bad)] +
                            "\" holds a NUL byte (\\u0000), which PostgreSQL text cannot store",
                        raw_);
    for (std::size_t c = 0; c < seen_.size(); ++c)
      if (row_.is_set(c)) seen_[c] = true;
    out.line = line_no;
    std::swap(out.raw, raw_);
    return true;
  }

  const std::vector<std::string>& missing_columns() override {
    missing_.clear();
    for (std::size_t c = 0; c < seen_.size(); ++c)
      if (!seen_[c]) missing_.push_back(map_.columns()[c]);
    return missing_;
  }

  // ---- the SAX interface (json::sax_parse calls these) --------------------------------------
  bool null() { return depth_ == 1 ? (set_null(), true) : nested("null", "null"); }
  bool boolean(bool v) { return scalar(v ? "true" : "false", "a boolean"); }
  bool number_integer(json::number_integer_t v) { return scalar(std::to_string(v), "a number"); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(std::to_string(v), "a number"); }
  bool number_float(json::number_float_t, const std::string& text) {
    // The token as written, except that the lexer stores the current locale's decimal point.
    std::string t = text;
    for (char& c : t)
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != 'e' &&
          c != 'E')
        c = '.';
    return scalar(t, "a number");
  }
  bool string(std::string& v) {
    if (depth_ == 0) return not_object("a string");
    if (depth_ == 1) {
      if (col_) row_.set(*col_) = v;
    } else if (out_ != nullptr) {
      separate();
      append_json_string(out_, v);
    }
    return true;
  }
  bool binary(json::binary_t&) { return not_object("binary data"); }  // never from text JSON
  bool start_object(std::size_t) { return open('{'); }
  bool end_object() { return close('}'); }
  bool start_array(std::size_t) { return depth_ == 0 ? not_object("an array") : open('['); }
  bool end_array() { return close(']'); }
  bool key(std::string& k) {
    if (depth_ > 1) {
      if (out_ != nullptr) {
        if (!nested_.back().first) out_->push_back(',');
        nested_.back().first = false;
        append_json_string(out_, k);
        out_->push_back(':');
      }
      return true;
    }
    return top_key(k);
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
    error_ = "not a JSON object: " + clean_message(ex.what());
    return false;
  }

 private:
  struct Level {
    bool array;
    bool first;
  };

  bool top_key(const std::string& k) {
    auto it = key_cache_.find(k);
    if (it == key_cache_.end()) {
      std::string why;
      const auto col = map_.find(k, &why);
      if (!col && !fmt_.ignore_unknown) {
        error_ = "key \"" + k + "\" " + why;
        return false;
      }
      const int c = col ? static_cast<int>(*col) : -1;
      if (key_cache_.size() >= 4096) key_cache_.clear();  // a file with a new key per line
      it = key_cache_.emplace(k, c).first;
    }
    col_.reset();
    if (it->second < 0) return true;
    col_ = static_cast<std::size_t>(it->second);
    if (row_.is_set(*col_)) {
      error_ = "key \"" + k + "\": column \"" + map_.columns()[*col_] + "\" is set twice";
      return false;
    }
    return true;
  }

  bool not_object(const char* what) {
    error_ = std::string("not a JSON object: the line holds ") + what;
    return false;
  }
  void set_null() {
    if (col_) row_.set_null(*col_);
  }
  bool scalar(const std::string& text, const char* what) {
    if (depth_ == 0) return not_object(what);
    if (depth_ == 1) {
      if (col_) row_.set(*col_) = text;
      return true;
    }
    return nested(text, what);
  }
  bool nested(const std::string& text, const char* what) {
    if (depth_ == 0) return not_object(what);
    if (out_ != nullptr) {
      separate();
      out_->append(text);
    }
    return true;
  }
  // Objects and arrays below the top level become compact JSON text (for json/jsonb columns).
  bool open(char bracket) {
    if (depth_++ == 0) return true;  // the line's object itself
    if (depth_ == 2) out_ = col_ ? &row_.set(*col_) : nullptr;
    else separate();
    if (out_ != nullptr) out_->push_back(bracket);
    nested_.push_back({bracket == '[', true});
    return true;
  }
  bool close(char bracket) {
    if (--depth_ == 0) return true;
    if (out_ != nullptr) out_->push_back(bracket);
    nested_.pop_back();
    return true;
  }
  void separate() {  // a comma before every array element but the first (keys do their own)
    if (nested_.empty() || !nested_.back().array) return;
    if (!nested_.back().first && out_ != nullptr) out_->push_back(',');
    nested_.back().first = false;
  }

  LineReader& lines_;
  const Format fmt_;
  ColumnMap map_;
  Row row_;
  std::vector<bool> seen_;
  std::vector<std::string> missing_;
  std::unordered_map<std::string, int> key_cache_;  // key -> column, -1 when ignored
  std::string line_, raw_, error_;
  int depth_ = 0;
  std::optional<std::size_t> col_;  // column of the current top-level key
  std::string* out_ = nullptr;      // where a nested value's JSON text goes (nullptr: skipped)
  std::vector<Level> nested_;
};

}  // namespace

std::unique_ptr<Parser> make_jsonl_parser(LineReader& lines, const Format& fmt,
                                          const std::vector<std::string>& columns) {
  return std::make_unique<JsonlParser>(lines, fmt, columns);
}

}  // namespace tidemark::files
