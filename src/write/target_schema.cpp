// Schema changes between source and target: target.create and target.on_schema_change.
#include "tidemark/target_schema.hpp"

#include <algorithm>

#include "tidemark/strategy.hpp"

namespace tidemark {
namespace {

const TargetColumn* find(const std::vector<TargetColumn>& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name == name) return &c;
  return nullptr;
}

std::string type_of(const ColumnInfo& c) { return c.full_type.empty() ? c.type : c.full_type; }

}  // namespace

SchemaPlan plan_target_schema(const PipelineConfig& p, const std::vector<ColumnInfo>& source,
                              const std::optional<std::vector<TargetColumn>>& target,
                              const TargetNamespace& where) {
  SchemaPlan out;
  const std::string t = p.target.table.quoted();
  if (!target) {
    if (!p.target.create) {
      out.error = "target table " + p.target.table.display() +
                  " does not exist; create it with the source's columns and key first, or set target.create: true";
      return out;
    }
    const std::string& schema = p.target.table.schema;  // empty: the first schema of search_path
    if (!schema.empty() && !where.schema_exists) {
      if (!where.may_create_schema) {
        out.error = "target table " + p.target.table.display() + " cannot be created: schema " +
                    QualifiedName{"", schema}.display() + " does not exist and role " + QualifiedName{"", where.role}.display() +
                    " may not create schemas in database " + QualifiedName{"", where.database}.display() +
                    "; nothing was created. Create the schema first (CREATE SCHEMA " + quote_ident(schema) +
                    "), grant the role CREATE on the database (GRANT CREATE ON DATABASE " + quote_ident(where.database) + " TO " +
                    quote_ident(where.role) + "), or set target.table to a table in an existing schema";
        return out;
      }
      // IF NOT EXISTS: another pipeline's first run may create it at the same moment.
      out.ddl.push_back("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema));
      out.notes.push_back("created schema " + QualifiedName{"", schema}.display());
    }
    std::string cols;
    for (const auto& c : source)
      cols += (cols.empty() ? "" : ", ") + quote_ident(c.name) + " " + type_of(c) + (c.not_null ? " NOT NULL" : "");
    if (!p.target.key.empty()) cols += ", PRIMARY KEY (" + ident_list(p.target.key) + ")";
    out.ddl.push_back("CREATE TABLE " + t + " (" + cols + ")");
    out.notes.push_back("created target table " + p.target.table.display() + " with the source's " +
                        std::to_string(source.size()) + " column(s)");
    return out;
  }
  const SchemaChange mode = p.target.on_schema_change;
  std::vector<std::string> added;
  for (const auto& c : source) {
    const TargetColumn* have = find(*target, c.name);
    if (!have) {
      added.push_back(c.name);
      continue;
    }
    // Only a table source knows its exact types; a query source's lack their modifiers.
    if (mode == SchemaChange::kSyncAllColumns && !c.full_type.empty() && have->type != c.full_type) {
      out.ddl.push_back("ALTER TABLE " + t + " ALTER COLUMN " + quote_ident(c.name) + " TYPE " + c.full_type +
                        " USING " + quote_ident(c.name) + "::" + c.full_type);
      out.notes.push_back("changed target column " + c.name + " from " + have->type + " to " + c.full_type);
    }
  }
  if (!added.empty()) {
    std::string list;
    for (const auto& a : added) list += (list.empty() ? "" : ", ") + a;
    switch (mode) {
      case SchemaChange::kFail:
        out.error = "target table " + p.target.table.display() + " lacks source column(s): " + list +
                    "; add them, or set target.on_schema_change: append_new_columns (or ignore)";
        return out;
      case SchemaChange::kIgnore:
        for (const auto& a : added) {
          if (a == p.detect.cursor || std::find(p.target.key.begin(), p.target.key.end(), a) != p.target.key.end()) {
            out.error = "target table " + p.target.table.display() + " lacks column " + a +
                        ", which the pipeline's cursor or key needs; on_schema_change: ignore cannot leave it out";
            return out;
          }
          out.ignored.push_back(a);
        }
        out.notes.push_back("not moving source column(s) the target lacks: " + list + " (on_schema_change: ignore)");
        break;
      case SchemaChange::kAppendNewColumns:
      case SchemaChange::kSyncAllColumns:
        for (const auto& c : source)
          if (std::find(added.begin(), added.end(), c.name) != added.end()) {
            out.ddl.push_back("ALTER TABLE " + t + " ADD COLUMN " + quote_ident(c.name) + " " + type_of(c));
            out.notes.push_back("added target column " + c.name + " " + type_of(c));
          }
        break;
    }
  }
  if (mode == SchemaChange::kSyncAllColumns) {
    const Strategy* strategy = find_strategy(p.detect.strategy);
    const std::vector<std::string> own = strategy ? strategy->own_columns(p) : std::vector<std::string>{};
    for (const auto& c : *target) {
      const bool in_source = std::any_of(source.begin(), source.end(), [&](const ColumnInfo& s) { return s.name == c.name; });
      const bool ours = std::find(own.begin(), own.end(), c.name) != own.end();
      if (!in_source && !ours) {
        out.ddl.push_back("ALTER TABLE " + t + " DROP COLUMN " + quote_ident(c.name));
        out.notes.push_back("dropped target column " + c.name + ", which the source no longer has");
      }
    }
  }
  return out;
}

}  // namespace tidemark
