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

// Where a missing target table would be created: does its schema exist, and may the
// connecting role create one (CREATE on the database)? Read only when the table is missing.
struct TargetNamespace {
  bool schema_exists = true;
  bool may_create_schema = true;
  std::string role, database;  // for the message when it may not
};

// `target`: the target table's columns, or nullopt when it does not exist. The DDL runs in
// one transaction; the notes are true only once it has committed.
SchemaPlan plan_target_schema(const PipelineConfig& p, const std::vector<ColumnInfo>& source,
                              const std::optional<std::vector<TargetColumn>>& target,
                              const TargetNamespace& where = {});

}  // namespace tidemark
