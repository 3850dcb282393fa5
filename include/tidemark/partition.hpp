// Write mode partition_overwrite (docs/writes.md#partition-overwrite), the pure part: which
// windows a delta touches, the source query for those windows' complete rows, the target
// predicate they replace, and matching windows to a partitioned target's partitions.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/sql.hpp"

namespace tidemark {

// The windows of one load, as the server prints their bounds. A window is [lo, hi) for day
// and month, the single value lo for granularity value (hi empty); `null_window` is the
// window of rows whose column is NULL.
struct Windows {
  std::vector<std::string> lo, hi;
  bool null_window = false;
  bool empty() const { return lo.empty() && !null_window; }
  size_t size() const { return lo.size() + (null_window ? 1 : 0); }
};

// Why `type` (format_type of the column) cannot be windowed by `pb`; nullopt when it can.
std::optional<std::string> partition_type_problem(const PartitionBy& pb, const std::string& type);

// SELECT DISTINCT of the windows the rows of `delta` touch: (lo text, hi text), lo NULL for
// the NULL window; day and month windows in time order.
Sql window_query(const PartitionBy& pb, const std::string& type, const Sql& delta);
// Builds Windows from window_query's rows (a NULL lo arrives as nullopt).
Windows windows_from_rows(const std::vector<std::vector<std::optional<std::string>>>& rows);

// Rows of the relation aliased `alias` inside the windows (not the NULL window), as a boolean
// condition: an array of values, or literal ranges with adjacent windows merged, so the
// planner can estimate each and use an index on the column.
Sql in_windows(const PartitionBy& pb, const std::string& type, const Windows& w, const std::string& alias);
// The source's complete rows of the windows: `SELECT <cols> FROM <source> AS s WHERE …`,
// one UNION ALL branch for the NULL window (an OR would defeat the index). No windows:
// a select of no rows.
// The distinct keys of the rows of `delta` (a select): the rows that may have left a window.
Sql delta_keys_select(const std::vector<std::string>& key, const Sql& delta);
Sql window_rows_select(const PartitionBy& pb, const std::string& type, const Windows& w,
                       const std::vector<std::string>& columns, const SourceConfig& source);
// Human-readable list for logs: "2024-01-01, 2024-01-02 … (31 windows)".
std::string describe_windows(const Windows& w);

// A partition of the target as the catalog describes it: pg_get_expr(relpartbound).
struct PartitionInfo {
  std::string quoted_name;  // schema-qualified, quoted
  std::string bound;        // "FOR VALUES FROM ('2024-01-01') TO ('2024-01-02')", "DEFAULT", …
};
// Splits the windows into those that are exactly one partition (returned, with that
// partition's quoted name, in window order) and the rest (left in `w`). Range windows match
// a range partition FROM (lo) TO (hi); value windows a list partition IN (value) of that one
// value. Literals are compared as the server printed them (both sides in the target
// session's DateStyle/TimeZone).
std::vector<std::string> take_partition_windows(Windows& w, const std::vector<PartitionInfo>& partitions,
                                                PartitionBy::Granularity g);

// The literals of a partition bound: {"FROM", lo, hi} / {"IN", v1, v2, …} / {"DEFAULT"}; a
// NULL list value is "\N"; nullopt for a multi-column or otherwise unreadable bound.
std::optional<std::vector<std::string>> parse_partition_bound(const std::string& bound);

}  // namespace tidemark
