// The CDC batcher (include/tidemark/cdc_batch.hpp).
#include "tidemark/cdc_batch.hpp"

#include <algorithm>

namespace tidemark::cdc {

Batcher::Batcher(std::vector<std::string> columns, std::vector<std::string> key, int64_t batch_size, Position from)
    : columns_(std::move(columns)), key_(std::move(key)), batch_size_(batch_size), pos_(from), done_(from.lsn) {}

std::optional<Action> Batcher::flush() {
  Position at{done_, open_xid_, open_applied_};
  // Transactions with nothing for this table only move the slot: no target commit, unless
  // the stored position still names a split transaction that has now ended.
  if (batch_.lines.empty() && !(pos_.xid && !at.xid)) return std::nullopt;
  Action a{Action::Kind::kCommit, std::move(batch_), at};
  pos_ = at;
  batch_ = Batch{};
  keys_.clear();
  open_xid_.reset();
  open_applied_ = 0;
  return a;
}

std::vector<Action> Batcher::feed(const Change& c) {
  std::vector<Action> out;
  if (c.action == 'B') {
    xid_ = c.xid;
    index_ = 0;
    skipping_ = c.next_lsn <= done_;  // applied by an earlier run
    skip_ = pos_.xid && *pos_.xid == c.xid ? pos_.applied : 0;
    return out;
  }
  if (c.action == 'C') {
    if (!skipping_) done_ = std::max(done_, c.next_lsn);
    open_xid_.reset();
    return out;
  }
  if (skipping_ || (c.action != 'I' && c.action != 'U' && c.action != 'D' && c.action != 'T')) return out;
  if (++index_ <= skip_) return out;  // the part of a split transaction an earlier commit holds
  if (c.action == 'T') {  // everything before it, then an empty table
    if (auto a = flush()) out.push_back(std::move(*a));
    batch_.lines.clear();
    out.push_back(Action{Action::Kind::kTruncate, {}, pos_});
    return out;
  }
  const auto keys = touched_keys(c, key_);
  bool again = false;
  for (const auto& k : keys) again = again || keys_.count(k) > 0;
  const bool partial = c.action == 'U' && c.columns.size() < columns_.size();
  if (again && partial)
    if (auto a = flush()) out.push_back(std::move(*a));
  for (auto& l : stage_lines(c, columns_, key_, seq_)) batch_.lines.push_back(std::move(l));
  keys_.insert(keys.begin(), keys.end());
  ++batch_.changes;
  open_xid_ = xid_;
  open_applied_ = index_;
  if (batch_.changes >= batch_size_)
    if (auto a = flush()) out.push_back(std::move(*a));
  return out;
}

std::optional<Action> Batcher::end_peek() {
  std::optional<Action> a = flush();
  batch_ = Batch{};
  keys_.clear();
  open_xid_.reset();
  open_applied_ = 0;
  seq_ = skip_ = index_ = 0;
  skipping_ = false;
  xid_.reset();
  return a;
}

}  // namespace tidemark::cdc
