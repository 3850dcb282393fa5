// Schema changes between source and target (docs/writes.md#schema-changes), pure: which DDL
// makes the target fit the source, by target.create and target.on_schema_change.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

struct TargetColumn {
  std::string name;
  std::string type;  // format_type with its modifier
};

struct SchemaPlan {
  std::vector<std::string> ddl;      // to run, in order, before the data
  std::vector<std::string> notes;    // one line per change, for the log
  std::vector<std::string> ignored;  // source columns not moved (on_schema_change: ignore)
  std::optional<std::string> error;  // the run must stop: why, and what to set
};

// `target`: the target table's columns, or nullopt when it does not exist.
SchemaPlan plan_target_schema(const PipelineConfig& p, const std::vector<ColumnInfo>& source,
                              const std::optional<std::vector<TargetColumn>>& target);

}  // namespace tidemark
