#include "config/reader.hpp"

#include <nlohmann/json.hpp>

#include "tidemark/errors.hpp"

namespace tidemark::config {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

namespace {

// Whether the quoted scalar starting at `pos` (its opening quote) ends before the text does.
// Double quotes end at an unescaped ", single quotes at a ' that is not doubled ('').
bool closes(const std::string& text, size_t pos) {
  const char q = text[pos];
  for (size_t i = pos + 1; i < text.size(); ++i) {
    if (q == '"' && text[i] == '\\') {
      ++i;
    } else if (text[i] == q) {
      if (q == '\'' && i + 1 < text.size() && text[i + 1] == '\'') ++i;
      else return true;
    }
  }
  return false;
}

// yaml-cpp takes an unterminated quoted scalar to run to the end of the text, silently: the
// rest of the document becomes one string (and the error would be a misleading
// "pipelines: required"). Find such a scalar and report where its quote opened.
void check_quotes(const YAML::Node& n, const std::string& text, const std::string& name) {
  if (n.IsMap() || n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (n.IsMap()) {
        check_quotes(it->first, text, name);
        check_quotes(it->second, text, name);
      } else {
        check_quotes(*it, text, name);
      }
    }
    return;
  }
  const YAML::Mark m = n.Mark();
  if (!n.IsScalar() || m.pos < 0 || static_cast<size_t>(m.pos) >= text.size()) return;
  const size_t pos = static_cast<size_t>(m.pos);
  if ((text[pos] == '"' || text[pos] == '\'') && !closes(text, pos))
    throw ConfigError(name + ":" + std::to_string(m.line + 1) + ": invalid YAML: the quoted string that starts at column " +
                      std::to_string(m.column + 1) + " has no closing " + (text[pos] == '"' ? "\"" : "'"));
}

}  // namespace

YAML::Node read_document(const std::string& text, const std::string& name) {
  if (ends_with(name, ".json")) {
    try {
      const auto parsed = nlohmann::json::parse(text);
      (void)parsed;
    } catch (const nlohmann::json::exception& e) {
      // nlohmann says "[json.exception.parse_error.101] parse error at line 3, column 5: …"
      // (or out_of_range for a number too large for a double)
      std::string what = e.what();
      auto p = what.find("] ");
      throw ConfigError(name + ": invalid JSON: " + (p == std::string::npos ? what : what.substr(p + 2)));
    }
  }
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) throw ConfigError(name + ": the config is empty");
    check_quotes(root, text, name);
    return root;
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace tidemark::config
