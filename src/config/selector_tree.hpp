// What a selector pipeline keeps of its YAML for expansion: each table's pipeline is made as
// a YAML node (the selector's, with the table's override merged over it and the table's
// names filled in) and validated by the same code as a hand-written pipeline.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

#include "tidemark/config.hpp"

namespace tidemark {

struct SelectorTree {
  YAML::Node node;                   // the selector pipeline with `defaults:` merged in
  std::map<std::string, YAML::Node> overrides;  // by the quoted table name
  std::string path;                  // "pipelines[3]", for messages
  std::string file;
  EnvLookup env;                     // empty: the process environment
};

namespace config {

// `over` merged over `base`: maps key by key (recursively), anything else taken from `over`.
// Neither is modified; merged maps are new nodes sharing the leaves (and their line numbers).
YAML::Node deep_merge(const YAML::Node& over, const YAML::Node& base);

// Validates `n` as a hand-written pipeline at `path` of `cfg`'s file (nodes without a line,
// made by expansion, are reported at `fallback_line`). Throws ConfigError with every problem.
PipelineConfig validate_pipeline_node(const YAML::Node& n, const std::string& path, int fallback_line, const Config& cfg,
                                      const EnvLookup& env);

// The selector's pipeline node for `table`: the table's override (if any) merged over the
// selector's node, without the selector's own keys.
YAML::Node table_base(const SelectorTree& tree, const QualifiedName& table);
// `base` made the pipeline of one table: its name, source.table, target.table from the
// template ({pipeline} is `owner`), detect.strategy/cursor, and target.key when `base` has
// none. `chosen`: the strategy was chosen (auto, or a fallback) instead of the configured one,
// so what only the configured one reads goes (lookback; batch_size, chunk, settle and
// null_cursor for a strategy without a cursor).
YAML::Node table_node(const YAML::Node& base, const QualifiedName& table, const std::string& name,
                      const std::string& owner, const std::string& strategy, const std::string& cursor,
                      const std::vector<std::string>& key, bool chosen);

}  // namespace config
}  // namespace tidemark
