// Syntax only: turns a YAML or JSON document into a YAML::Node tree that keeps line numbers.
// JSON is checked by nlohmann/json first (strict JSON, precise syntax errors), then read by
// yaml-cpp, whose tree carries the line marks the validator puts in its messages.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

namespace tidemark::config {

YAML::Node read_document(const std::string& text, const std::string& name);

}  // namespace tidemark::config
