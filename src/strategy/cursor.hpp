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

}  // namespace tidemark::strategy
