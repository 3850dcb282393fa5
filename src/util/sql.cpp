// Identifier quoting and the Sql value/text container (see sql.hpp).
#include "tidemark/sql.hpp"
#include "tidemark/util.hpp"

#include <cctype>

namespace tidemark {

std::string quote_ident(const std::string& name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QualifiedName::quoted() const {
  return schema.empty() ? quote_ident(name) : quote_ident(schema) + "." + quote_ident(name);
}

// Parts that would not read back as one plain part (a dot, a quote, white space) are quoted.
static std::string display_part(const std::string& part) {
  for (char c : part)
    if (c == '.' || c == '"' || std::isspace(static_cast<unsigned char>(c))) return quote_ident(part);
  return part;
}

std::string QualifiedName::display() const {
  return schema.empty() ? display_part(name) : display_part(schema) + "." + display_part(name);
}

SplitName split_name(const std::string& text) {
  SplitName out;
  out.parts.emplace_back();
  bool in_quotes = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    NamePart& part = out.parts.back();
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        part.text += '"';
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      } else {
        part.text += c;
      }
    } else if (c == '"') {
      // A closing quote is never followed by another (that would be ""), so only text before it counts.
      if (!part.text.empty()) {
        out.error = SplitName::Error::quote_inside_part;
        return out;
      }
      in_quotes = part.quoted = true;
    } else if (c == '.') {
      out.parts.emplace_back();
    } else if (part.quoted) {
      out.error = SplitName::Error::text_after_quote;
      return out;
    } else {
      part.text += c;
    }
  }
  if (in_quotes) out.error = SplitName::Error::unterminated;
  return out;
}

const char* split_name_error(SplitName::Error e) {
  switch (e) {
    case SplitName::Error::quote_inside_part: return "unexpected '\"' inside a name";
    case SplitName::Error::text_after_quote: return "text after a closing quote";
    case SplitName::Error::unterminated: return "unterminated quoted name";
    case SplitName::Error::none: break;
  }
  return "";
}

// Unquoted parts are taken as written (case is kept), because config names are catalog names.
std::optional<QualifiedName> QualifiedName::parse(const std::string& text, std::string* error) {
  auto fail = [error](const char* why) -> std::optional<QualifiedName> {
    if (error) *error = why;
    return std::nullopt;
  };
  const SplitName split = split_name(text);
  const std::vector<NamePart>& parts = split.parts;
  // An empty part before a dot comes first: it stands before any syntax error in the text.
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i].text.empty()) return fail("empty name part");
  if (split.error != SplitName::Error::none) return fail(split_name_error(split.error));
  if (parts.back().text.empty()) return fail("empty name");
  if (parts.size() > 2) return fail("expected `table` or `schema.table`");
  QualifiedName q;
  if (parts.size() == 2) q.schema = parts[0].text;
  q.name = parts.back().text;
  return q;
}

Sql& Sql::text(const std::string& t) {
  parts_.back() += t;
  return *this;
}

Sql& Sql::value(SqlValue v) {
  values_.push_back(std::move(v));
  parts_.emplace_back();
  return *this;
}

Sql& Sql::append(const Sql& other) {
  parts_.back() += other.parts_[0];
  for (size_t i = 0; i < other.values_.size(); ++i) {
    values_.push_back(other.values_[i]);
    parts_.push_back(other.parts_[i + 1]);
  }
  return *this;
}

std::string Sql::with_placeholders() const {
  size_t n = 0;
  return render([&n](const SqlValue&) { return "$" + std::to_string(++n); });
}

std::string Sql::display() const {
  return render([](const SqlValue& v) {
    if (!v) return std::string("NULL");
    std::string out = "'";
    for (char c : *v) {
      if (c == '\'') out += '\'';
      out += c;
    }
    return out + "'";
  });
}

std::string ident_list(const std::vector<std::string>& names, const std::string& alias) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    if (!alias.empty()) out += alias + ".";
    out += quote_ident(names[i]);
  }
  return out;
}

std::string copy_text(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

std::string array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace tidemark
