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

// Splits on dots outside double quotes; "" inside quotes is a literal quote. Unquoted
// parts are taken as written (case is kept), because config names are catalog names.
std::optional<QualifiedName> QualifiedName::parse(const std::string& text, std::string* error) {
  std::vector<std::string> parts(1);
  bool in_quotes = false, quoted_part = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          parts.back() += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        parts.back() += c;
      }
    } else if (c == '"') {
      if (!parts.back().empty()) {
        if (error) *error = "unexpected '\"' inside a name";
        return std::nullopt;
      }
      in_quotes = quoted_part = true;
    } else if (c == '.') {
      if (parts.back().empty()) {
        if (error) *error = "empty name part";
        return std::nullopt;
      }
      parts.emplace_back();
      quoted_part = false;
    } else {
      if (quoted_part && !in_quotes) {
        if (error) *error = "text after a closing quote";
        return std::nullopt;
      }
      parts.back() += c;
    }
  }
  if (in_quotes) {
    if (error) *error = "unterminated quoted name";
    return std::nullopt;
  }
  if (parts.back().empty()) {
    if (error) *error = "empty name";
    return std::nullopt;
  }
  if (parts.size() > 2) {
    if (error) *error = "expected `table` or `schema.table`";
    return std::nullopt;
  }
  QualifiedName q;
  if (parts.size() == 2) {
    q.schema = parts[0];
    q.name = parts[1];
  } else {
    q.name = parts[0];
  }
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
