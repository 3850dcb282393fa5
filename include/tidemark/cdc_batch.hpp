// The CDC batcher (docs/cdc.md): the slot's change records in, target commits out. It decides
// which changes a commit holds, which position is stored with it, and where a TRUNCATE falls;
// src/run/cdc_run.cpp only reads the slot and runs what it yields. No database.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "tidemark/cdc.hpp"

namespace tidemark::cdc {

// The changes of one target commit, as COPY lines of the staging table.
struct Batch {
  std::vector<std::string> lines;
  int64_t changes = 0;
};

// What the run does next, in this order.
struct Action {
  enum class Kind {
    kCommit,   // stage and apply `batch`, storing `at` in the same target transaction
    kTruncate  // empty the target table (its own transaction: replayed after a crash, harmlessly)
  } kind = Kind::kCommit;
  Batch batch;
  Position at;
};

class Batcher {
 public:
  // `columns`: the table's columns; `from`: the stored position; at most `batch_size` changes
  // per commit.
  Batcher(std::vector<std::string> columns, std::vector<std::string> key, int64_t batch_size, Position from);

  // One record of a peek, in stream order. Skips transactions applied by an earlier run and
  // the part of a split transaction the stored position already holds. Commits early when
  // the batch is full, and before a TRUNCATE or an update that leaves columns out meets an
  // earlier change of its key (the apply keeps the target's value for those columns, not the
  // batch's).
  std::vector<Action> feed(const Change& c);
  // The end of a peek: the commit of what is held (none when nothing needs one), and a fresh
  // start for the next peek, which reads again from the slot's position.
  std::optional<Action> end_peek();

  // Every transaction committing at or before this is applied or held: advance the slot here
  // after the commit of what is held.
  uint64_t done() const { return done_; }
  // Changes held for the next commit.
  bool holding() const { return batch_.changes > 0; }
  // The position of the last commit yielded (the stored one before any).
  const Position& position() const { return pos_; }

 private:
  std::optional<Action> flush();
  std::vector<std::string> columns_, key_;
  int64_t batch_size_;
  Position pos_;
  uint64_t done_;
  // The batch being gathered.
  Batch batch_;
  std::unordered_set<std::string> keys_;  // touched in this batch
  std::optional<int64_t> open_xid_;        // a transaction whose changes this batch holds only in part
  int64_t open_applied_ = 0;
  // Per peek: the transaction being read.
  int64_t seq_ = 0, skip_ = 0, index_ = 0;
  bool skipping_ = false;
  std::optional<int64_t> xid_;
};

}  // namespace tidemark::cdc
