// The SQL of comparing a source and a target row set (docs/deletes.md#reconcile, `tidemark
// verify`). A set is summarised by count(*) and the sum of hashtextextended(<text>, 0):
// order-independent, and unlike bit_xor a row that appears twice does not cancel itself out.
// verify hashes whole rows, reconcile keys; both use the same summary. No database.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/sql.hpp"

namespace tidemark::compare {

// `count(*), coalesce(sum(hashtextextended(<text_expr>, 0)), 0)::text`: the two columns of a
// summary, the hash sum as numeric text ("0" for no rows).
std::string count_and_hash(const std::string& text_expr);

// The pipeline's source as a FROM item: its table, or its query as `(query) AS _tm_src`.
std::string source_relation(const SourceConfig& s);

// verify: the rows both sides are read from, each compared by its text.
struct RowSet {
  std::string from;                  // a quoted relation, or "(query) AS _tm_src"
  std::vector<std::string> columns;  // the same on both sides
  std::optional<Sql> where;          // the same predicate on both sides
};
Sql rows(const RowSet& r);  // SELECT <columns> FROM <from> [WHERE <where>]
// One row: the row count and the hash sum of the rows.
Sql summary(const RowSet& r);
// Per row: its `key` columns (as the server prints them, NULL as NULL), then md5 of the row
// text; ordered by the key.
Sql keyed_hashes(const RowSet& r, const std::vector<std::string>& key);

// reconcile: the rows of one side that take part in the comparison, identified by `key`.
struct KeySet {
  std::string from;              // a quoted relation, or "(query) AS _tm_src"
  std::vector<std::string> key;  // key column names
  Sql filter;                    // predicate on `from`'s columns; empty: every row
  bool distinct = false;         // the key may repeat (no unique index on it)
  bool integer_key = false;      // one integer key: ranges of the key itself, else of its hash
};

// An inclusive range of the partition value (the integer key, or the key's 64-bit hash).
struct ValueRange {
  int64_t lo = 0, hi = 0;
  bool operator==(const ValueRange& o) const { return lo == o.lo && hi == o.hi; }
};

struct RangeStats {
  int64_t count = 0;
  std::string hash_sum = "0";       // sum of hashtextextended(key text, 0), numeric as text
  std::optional<int64_t> min, max;  // of the partition value (root only)
};

// One row: count, hash sum, min and max of the partition value (int8, NULL for no rows).
Sql key_root(const KeySet& s);
// Per bucket div(value - lo, 2^shift) of the rows whose value lies in one of `within`:
// bucket (numeric text), count, hash sum.
Sql key_buckets(const KeySet& s, int64_t lo, int shift, const std::vector<ValueRange>& within);
// The key columns as text of the rows whose value lies in one of `within`.
Sql key_values(const KeySet& s, const std::vector<ValueRange>& within);

// Whether one key column of `type` is the partition value itself (else the key's hash is).
bool integer_partition(const std::vector<std::string>& key, const std::optional<std::string>& first_key_type);
// `(ROW(cursor, key…) <= ROW(safe…)) [OR cursor IS NULL]` over the first safe.size() columns:
// the rows at or below the safe mark, in the columns' `types`.
Sql settled(const Watermark& wm, const std::vector<std::string>& types, bool include_null);
// A row not marked deleted by a soft-delete column of `type` (boolean: not true; else NULL).
Sql alive(const std::string& column, const std::string& type);
// `(a AND b)`.
Sql both(const Sql& a, const Sql& b);

}  // namespace tidemark::compare
