// What the `id` and `updated_at` strategies share: a compound cursor (cursor, key…) read
// from the stored safe mark, an optional lookback, settle and range windows.
#pragma once
#include "tidemark/strategy.hpp"

namespace tidemark::strategy {

enum class CursorKind { kInteger, kTimestamp };

FieldProblems check_cursor(const PipelineConfig& p, CursorKind kind);
ExtractPlan plan_cursor(const PlanInput& in, CursorKind kind);

// `CAST(<value> AS <type>)` with the value kept apart from the text.
Sql cast_value(const std::string& value, const std::string& type);

// `FROM …` text for the pipeline's source (a table or a parenthesised query).
std::string source_from(const SourceConfig& s);
// `SELECT <columns> FROM <source>`.
Sql select_columns(const PipelineConfig& p, const SourceShape& shape);

// Rows whose key has a NULL cannot be matched by key (docs/writes.md#null-keys). For the key
// columns that may be NULL (not declared NOT NULL at the source; the cursor counts only when
// NULL cursors are loaded): `keyed` keeps the rows whose key is complete, `nulls` the others.
// Both empty when the key cannot be NULL.
struct NullKeyRule {
  std::optional<Sql> keyed, nulls;
};
NullKeyRule null_key_rule(const PipelineConfig& p, const SourceShape& shape);
// SELECT count(*), min(<cursor>)::text of the rows of `from` matching `where` with a NULL
// key; `cursor` "" gives a NULL second column.
Sql null_key_probe(const std::string& from, const std::optional<Sql>& where, const NullKeyRule& rule,
                   const std::string& cursor);

}  // namespace tidemark::strategy
