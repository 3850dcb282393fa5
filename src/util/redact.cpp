// Keeps passwords out of every log line and error message.
#include <regex>

#include "tidemark/util.hpp"

namespace tidemark {

std::string redact_dsn(const std::string& dsn) { return redact_text(dsn); }

std::string redact_text(const std::string& text) {
  // URI form: scheme://user:secret@host  ->  scheme://user:***@host
  static const std::regex uri(R"(((?:postgres|postgresql)://[^:/@\s]*:)[^@\s]*@)", std::regex::icase);
  // One pass, so a match never runs into another: a URI query parameter (?password=secret&…,
  // up to the next &), or a key=value pair (password=secret, password='se cret', and libpq's
  // backslash escapes in unquoted values: password=se\ cret).
  static const std::regex pw(R"(([?&]password=)[^&\s#]*|(password\s*=\s*)('(?:[^'\\]|\\.)*'|(?:\\.|[^\s\\])*))",
                             std::regex::icase);
  std::string out = std::regex_replace(text, uri, "$1***@");
  return std::regex_replace(out, pw, "$1$2***");
}

}  // namespace tidemark
