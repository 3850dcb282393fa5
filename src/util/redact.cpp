// Keeps passwords out of every log line and error message.
#include <regex>

#include "tidemark/util.hpp"

namespace tidemark {

std::string redact_dsn(const std::string& dsn) { return redact_text(dsn); }

std::string redact_text(const std::string& text) {
  // URI form: scheme://user:secret@host  ->  scheme://user:***@host
  static const std::regex uri(R"(((?:postgres|postgresql)://[^:/@\s]*:)[^@\s]*@)", std::regex::icase);
  // key=value form: password=secret or password='se cret'
  static const std::regex kv(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*))", std::regex::icase);
  // URI query parameter: ?password=secret&…
  static const std::regex qp(R"(([?&]password=)[^&\s]*)", std::regex::icase);
  std::string out = std::regex_replace(text, uri, "$1***@");
  out = std::regex_replace(out, qp, "$1***");
  out = std::regex_replace(out, kv, "$1***");
  return out;
}

}  // namespace tidemark
