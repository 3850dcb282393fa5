// The decisions of `tidemark reconcile` (docs/deletes.md#reconcile), apart from its I/O: which
// ranges to compare next and which to read keys for, from the per-range (count, hash) of both
// sides; which keys to delete; and the guard rails that refuse a delete. src/run/reconcile.cpp
// runs the queries. No database.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tidemark/compare.hpp"

namespace tidemark::reconcile {

using compare::RangeStats;
using compare::ValueRange;

bool same(const RangeStats& a, const RangeStats& b);

// From the two roots, which differ: ranges of the partition value are split 64-way while they
// differ and hold more than kLeafKeys keys, then their keys are read.
class Descent {
 public:
  static constexpr int kFanoutBits = 6;            // a differing range splits into 64
  static constexpr int64_t kLeafKeys = 500;        // a differing range this small has its keys read
  static constexpr size_t kLeavesPerQuery = 256;   // leaf ranges read by one statement

  Descent(const RangeStats& source_root, const RangeStats& target_root);

  // The next level to compare: buckets of width 2^shift from lo, of the rows within the
  // ranges still to split; nullopt when none is left.
  struct Level {
    int64_t lo = 0;
    int shift = 0;
    std::vector<ValueRange> within;
  };
  std::optional<Level> next_level();
  // Both sides' buckets of the level just returned (by bucket number; a bucket one side lacks
  // has no rows there). Equal buckets are done; differing ones are split again or read.
  // Returns how many buckets were compared.
  size_t compared(const std::vector<std::pair<uint64_t, RangeStats>>& source,
                  const std::vector<std::pair<uint64_t, RangeStats>>& target);

  // The differing ranges whose keys to read, grouped by statement.
  std::vector<std::vector<ValueRange>> fetches() const;

  int64_t levels() const { return levels_; }
  size_t to_split() const { return split_.size(); }
  size_t to_read() const { return leaves_.size(); }

 private:
  void place(const ValueRange& r, int64_t keys);
  int64_t lo_, hi_;
  int shift_ = 0;  // 2^shift > hi - lo at the start: the root is bucket 0 at that width
  int64_t levels_ = 0;
  std::vector<ValueRange> split_, leaves_;
};

// Keys in a reader's order: integers by value ("9" before "10"), anything else as text.
bool key_order(const Tuple& a, const Tuple& b);
// The target keys the filtered source lacks: candidates, to look up in the whole source.
std::vector<Tuple> candidates(const std::vector<Tuple>& target_keys, const std::set<Tuple>& source_keys);
// The candidates the whole source does not hold either (`still`), in key_order: to delete.
std::vector<Tuple> doomed(const std::vector<Tuple>& candidates, const std::set<Tuple>& still);

// Guard rails: why a delete is refused (the message after "pipeline <name>: "), or nullopt.
// Checked when the roots differ. An empty source beside a non-empty target is more often a
// broken source than a deleted table.
std::optional<std::string> empty_source_refusal(const RangeStats& source, const RangeStats& target,
                                                const std::string& safe);
// Before reading keys: the target has at least target - source keys the source lacks. Only
// for an immutable cursor: a row whose cursor moved since the last run is missing below the
// safe mark but found again by the lookup of the candidates.
std::optional<std::string> lower_bound_refusal(const RangeStats& source, const RangeStats& target,
                                               bool immutable_cursor, double max_delete_ratio);
// After the lookup: `to_delete` of `target_keys` target rows.
std::optional<std::string> delete_ratio_refusal(int64_t to_delete, int64_t target_keys, double max_delete_ratio);

}  // namespace tidemark::reconcile
