// `tidemark schema`: the JSON Schema knows every key the shipped example configs use, and
// refuses unknown ones (additionalProperties: false), as the validator does.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tidemark/config.hpp"

using nlohmann::json;

namespace {

// Every map key of `n` must be allowed by `schema` at that place; returns the offending paths.
void walk(const YAML::Node& n, const json& schema, const std::string& path, std::vector<std::string>& bad) {
  if (schema.contains("oneOf")) {  // pick the alternative of the node's kind
    for (const auto& alt : schema["oneOf"])
      if ((n.IsMap() && alt.value("type", "") == "object") || (n.IsSequence() && alt.value("type", "") == "array") ||
          (n.IsScalar() && alt.value("type", "") != "object" && alt.value("type", "") != "array"))
        return walk(n, alt, path, bad);
    bad.push_back(path + " (no alternative fits)");
    return;
  }
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string k = kv.first.IsNull() ? "null" : kv.first.Scalar();
      if (schema.contains("properties") && schema["properties"].contains(k)) {
        walk(kv.second, schema["properties"][k], path + "." + k, bad);
      } else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
        walk(kv.second, schema["additionalProperties"], path + "." + k, bad);
      } else {
        bad.push_back(path + "." + k);
      }
    }
  } else if (n.IsSequence() && schema.contains("items")) {
    for (size_t i = 0; i < n.size(); ++i) walk(n[i], schema["items"], path + "[" + std::to_string(i) + "]", bad);
  }
}

}  // namespace

TEST_CASE("schema: every key of the shipped example configs is in the JSON Schema", "[unit][config]") {
  const json schema = json::parse(tidemark::config_json_schema());
  CHECK(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(schema["additionalProperties"] == false);
  for (const char* file : {"configs/example.yaml", "configs/example.json", "configs/demo.yaml"}) {
    INFO(file);
    std::vector<std::string> bad;
    walk(YAML::LoadFile(std::string(TIDEMARK_SOURCE_DIR) + "/" + file), schema, "", bad);
    CHECK(bad.empty());
    for (const auto& b : bad) WARN("not in the schema: " << b);
  }
  // And it refuses what the validator refuses.
  std::vector<std::string> bad;
  walk(YAML::Load("pipelines: [{name: p, detect: {strategy: id, cursr: id}}]\nextra: 1"), schema, "", bad);
  CHECK(bad == std::vector<std::string>{".pipelines[0].detect.cursr", ".extra"});
}
