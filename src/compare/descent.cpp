// The reconcile descent and guard rails (include/tidemark/reconcile_descent.hpp).
#include "tidemark/reconcile_descent.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <map>

namespace tidemark::reconcile {

namespace {

// [lo + id * 2^shift, … + 2^shift - 1], clipped to hi; computed unsigned so no step overflows.
ValueRange child(int64_t lo, int64_t hi, uint64_t id, int shift) {
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  const uint64_t from = id << shift;
  const uint64_t width_1 = (uint64_t{1} << shift) - 1;
  const uint64_t to = span - from < width_1 ? span : from + width_1;
  return {static_cast<int64_t>(static_cast<uint64_t>(lo) + from), static_cast<int64_t>(static_cast<uint64_t>(lo) + to)};
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v * 100);
  return buf;
}

bool over_ratio(int64_t n, int64_t target_keys, double ratio) {
  return static_cast<double>(n) > ratio * static_cast<double>(target_keys);
}

std::string ratio_refusal(const std::string& how_many, int64_t n, int64_t target_keys, double ratio) {
  return "refused: " + how_many + std::to_string(n) + " of " + std::to_string(target_keys) + " target rows (" +
         percent(static_cast<double>(n) / static_cast<double>(target_keys)) +
         ") would be deleted, more than max_delete_ratio " + percent(ratio) +
         ". Nothing was deleted; check the source, or rerun with --max-delete-ratio";
}

}  // namespace

bool same(const RangeStats& a, const RangeStats& b) { return a.count == b.count && a.hash_sum == b.hash_sum; }

Descent::Descent(const RangeStats& source_root, const RangeStats& target_root)
    : lo_(std::min(source_root.min.value_or(INT64_MAX), target_root.min.value_or(INT64_MAX))),
      hi_(std::max(source_root.max.value_or(INT64_MIN), target_root.max.value_or(INT64_MIN))) {
  const uint64_t span = static_cast<uint64_t>(hi_) - static_cast<uint64_t>(lo_);
  while (shift_ < 64 && (span >> shift_) != 0) ++shift_;
  place({lo_, hi_}, std::max(source_root.count, target_root.count));
}

void Descent::place(const ValueRange& r, int64_t keys) {
  (keys <= kLeafKeys || shift_ == 0 ? leaves_ : split_).push_back(r);
}

std::optional<Descent::Level> Descent::next_level() {
  if (split_.empty()) return std::nullopt;
  shift_ = std::max(0, shift_ - kFanoutBits);
  ++levels_;
  Level l{lo_, shift_, std::move(split_)};
  split_.clear();
  return l;
}

size_t Descent::compared(const std::vector<std::pair<uint64_t, RangeStats>>& source,
                         const std::vector<std::pair<uint64_t, RangeStats>>& target) {
  std::map<uint64_t, std::pair<RangeStats, RangeStats>> both;
  for (const auto& [id, stats] : source) both[id].first = stats;
  for (const auto& [id, stats] : target) both[id].second = stats;
  for (const auto& [id, pair] : both)
    if (!same(pair.first, pair.second))
      place(child(lo_, hi_, id, shift_), std::max(pair.first.count, pair.second.count));
  return both.size();
}

std::vector<std::vector<ValueRange>> Descent::fetches() const {
  std::vector<std::vector<ValueRange>> out;
  for (size_t at = 0; at < leaves_.size(); at += kLeavesPerQuery)
    out.emplace_back(leaves_.begin() + static_cast<std::ptrdiff_t>(at),
                     leaves_.begin() + static_cast<std::ptrdiff_t>(std::min(leaves_.size(), at + kLeavesPerQuery)));
  return out;
}

bool key_order(const Tuple& a, const Tuple& b) {
  const auto integer = [](const std::string& v) {
    return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  };
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    if (integer(a[i]) && integer(b[i]) && a[i].size() != b[i].size()) return a[i].size() < b[i].size();
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

std::vector<Tuple> candidates(const std::vector<Tuple>& target_keys, const std::set<Tuple>& source_keys) {
  std::vector<Tuple> out;
  for (const auto& k : target_keys)
    if (!source_keys.count(k)) out.push_back(k);
  return out;
}

std::vector<Tuple> doomed(const std::vector<Tuple>& candidates, const std::set<Tuple>& still) {
  std::vector<Tuple> out;
  for (const auto& k : candidates)
    if (!still.count(k)) out.push_back(k);
  std::sort(out.begin(), out.end(), key_order);
  return out;
}

std::optional<std::string> empty_source_refusal(const RangeStats& source, const RangeStats& target,
                                                const std::string& safe) {
  if (source.count != 0 || target.count <= 0) return std::nullopt;
  return "refused: the source returned no keys at or below the safe mark " + safe + " while the target has " +
         std::to_string(target.count) +
         "; an empty source is more often a broken source than a deleted table. Nothing was deleted";
}

std::optional<std::string> lower_bound_refusal(const RangeStats& source, const RangeStats& target,
                                               bool immutable_cursor, double max_delete_ratio) {
  const int64_t missing = target.count - source.count;
  if (!immutable_cursor || !over_ratio(missing, target.count, max_delete_ratio)) return std::nullopt;
  return ratio_refusal("at least ", missing, target.count, max_delete_ratio);
}

std::optional<std::string> delete_ratio_refusal(int64_t to_delete, int64_t target_keys, double max_delete_ratio) {
  if (!over_ratio(to_delete, target_keys, max_delete_ratio)) return std::nullopt;
  return ratio_refusal("", to_delete, target_keys, max_delete_ratio);
}

}  // namespace tidemark::reconcile
