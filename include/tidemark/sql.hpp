// SQL text built without a database: identifier quoting and statements whose values are
// kept apart from the text, so the Postgres layer can bind them (normal statements) or
// escape them with the connection (COPY, which takes no parameters).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace tidemark {

// Double-quotes an identifier exactly as PostgreSQL's quote_ident would for any name.
std::string quote_ident(const std::string& name);

// A dotted name split into its parts, the syntax shared by relation names and table patterns:
// dots outside double quotes separate parts; inside quotes, "" is one quote. Unquoted parts are
// kept as written (no case folding). What a part may hold, and how many there may be, is the
// caller's to judge.
struct NamePart {
  std::string text;     // quotes removed
  bool quoted = false;  // written in double quotes
};
struct SplitName {
  enum class Error { none, quote_inside_part, text_after_quote, unterminated };
  // Never empty. Every part but the last was ended by a dot; on an error the last one is
  // the part it stopped in, so a caller can judge the parts before the error first.
  std::vector<NamePart> parts;
  Error error = Error::none;
};
SplitName split_name(const std::string& text);
// The reason for an error of split_name, as a message says it ("" for none).
const char* split_name_error(SplitName::Error e);

// A possibly schema-qualified relation name from config: `public.orders`, `"My S"."T.x"`.
struct QualifiedName {
  std::string schema;  // empty: resolved through search_path
  std::string name;
  std::string quoted() const;
  std::string display() const;  // as the user wrote it, for messages
  static std::optional<QualifiedName> parse(const std::string& text, std::string* error);
};

// A statement as text interleaved with values: text = parts[0] v0 parts[1] v1 … parts[n].
// A value is either a literal text (std::string) or SQL NULL.
using SqlValue = std::optional<std::string>;

class Sql {
 public:
  Sql() : parts_(1) {}
  explicit Sql(std::string text) : parts_{std::move(text)} {}
  Sql& text(const std::string& t);
  Sql& value(SqlValue v);
  Sql& append(const Sql& other);
  bool empty() const { return values_.empty() && parts_.size() == 1 && parts_[0].empty(); }
  const std::vector<std::string>& parts() const { return parts_; }
  const std::vector<SqlValue>& values() const { return values_; }
  // Renders the statement with $1…$n placeholders (for binding).
  std::string with_placeholders() const;
  // Renders the statement with every value replaced by render(value).
  template <typename F>
  std::string render(F&& render_value) const {
    std::string out = parts_[0];
    for (size_t i = 0; i < values_.size(); ++i) {
      out += render_value(values_[i]);
      out += parts_[i + 1];
    }
    return out;
  }
  // For --dry-run and debug logs: literals quoted naively (never sent to a server).
  std::string display() const;

 private:
  std::vector<std::string> parts_;
  std::vector<SqlValue> values_;
};

// A PostgreSQL array literal of text elements ('{"a","b"}'), each element quoted.
std::string array_literal(const std::vector<std::string>& items);

// Comma-separated quoted identifiers, optionally each prefixed with `alias.`.
std::string ident_list(const std::vector<std::string>& names, const std::string& alias = "");

}  // namespace tidemark
