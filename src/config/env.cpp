// ${VAR} / ${VAR:-default} expansion of config values from the environment.
#include <cstdlib>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"

namespace tidemark {

std::string expand_env(const std::string& text, const std::string& where) {
  return expand_env(text, where, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

std::string expand_env(const std::string& text, const std::string& where, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$') {
      out += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {  // $$ is a literal $
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      out += c;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos)
      throw ConfigError(where + ": unterminated ${…} in value");
    std::string inner = text.substr(i + 2, close - i - 2);
    std::string name = inner, fallback;
    bool has_default = false;
    if (auto p = inner.find(":-"); p != std::string::npos) {
      name = inner.substr(0, p);
      fallback = inner.substr(p + 2);
      has_default = true;
    }
    if (name.empty()) throw ConfigError(where + ": empty variable name in ${}");
    for (char n : name) {
      if (!(std::isalnum(static_cast<unsigned char>(n)) || n == '_'))
        throw ConfigError(where + ": invalid variable name '" + name + "' in ${}");
    }
    const std::optional<std::string> v = env(name);
    if (v && !v->empty()) {
      out += *v;
    } else if (has_default) {
      out += fallback;
    } else {
      throw ConfigError(where + ": environment variable " + name +
                        " is not set (use ${" + name + ":-default} for a default)");
    }
    i = close;
  }
  return out;
}

}  // namespace tidemark
