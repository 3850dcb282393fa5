// The message of the ConfigError that parsing `text` as the config file `name` gives, or
// "<no ConfigError>": what most config-rule tests check.
#pragma once
#include <string>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"

namespace tmtest {

inline std::string config_error_in(const std::string& text, const std::string& name) {
  try {
    tidemark::parse_config(text, name);
  } catch (const tidemark::ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

}  // namespace tmtest
