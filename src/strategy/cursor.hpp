// What the `id` and `updated_at` strategies share: a compound cursor (cursor, key…) read
// from the stored safe mark, an optional lookback, settle and range windows.
#pragma once
#include <functional>

#include "tidemark/source_sql.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark::strategy {

enum class CursorKind { kInteger, kTimestamp };

FieldProblems check_cursor(const PipelineConfig& p, CursorKind kind);
ExtractPlan plan_cursor(const PlanInput& in, CursorKind kind);
// Strategy::fit_advice of a cursor strategy: the table's size, the cursor column (`column` adds
// the strategy's own lines about it, after the index and NULL lines), what watermarks miss.
using ColumnAdvice = std::function<void(const InspectedColumn& c, std::vector<Advice>& out)>;
std::vector<Advice> advise_cursor(const PipelineConfig& p, const InspectedTable& t, const ColumnAdvice& column);


// Values of `type` are wall-clock readings in some zone: `timestamp without time zone`, `date`.
bool zoned_type(const std::string& type);
// The earliest wall-clock reading in `zone` at or after the instant `at` (a timestamptz
// expression), looking 3 hours ahead: LEAST(local(at), local(at + 3h) - 3h). Equal to
// local(at) except in the 3 hours before a fall-back transition, where it is held back by
// the transition's delta, so it never lies inside a local hour that is still to repeat.
Sql local_floor(const Sql& at, const std::string& zone);
// A clock horizon for a cursor of `type` at the instant `now` (the plan uses
// statement_timestamp()): the largest value no row written at or after `now` can fall below.
Sql clock_horizon(const Sql& now, const std::string& type, const std::string& zone);

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
