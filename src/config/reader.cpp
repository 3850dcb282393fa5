#include "config/reader.hpp"

#include <nlohmann/json.hpp>

#include "tidemark/errors.hpp"

namespace tidemark::config {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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
    return root;
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace tidemark::config
