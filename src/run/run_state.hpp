// Where run_one keeps a pipeline's state and its run record: the state schema
// (tidemark.pipeline_state and tidemark.runs; in the data's transaction when it lives in the
// target database, right after it otherwise), or `state: {file: …}`, written after the data
// commit with the run's outcome in place of a runs row (docs/operations.md#state-file).
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "pg/pg.hpp"
#include "tidemark/config.hpp"
#include "tidemark/runner.hpp"
#include "tidemark/state_file.hpp"

namespace tidemark {

// The identity of the pipeline's state as this config describes it (source and target as their
// servers resolve them), judged against the stored one before anything is written
// (docs/correctness.md#identity-of-state). Throws ConfigError when the source table is the
// target table, or when `st` is another pipeline's state (outside --full-refresh). State of an
// earlier tidemark, which recorded no identity, gets this one (`store` or `file`; logged once;
// not for a dry run). Every later save through `store` records it. Returns nullopt when the
// source table does not exist (the run fails next, describing the source).
// The identity as this config describes it now; nullopt when the source table does not exist.
std::optional<StateIdentity> current_identity(const PipelineConfig& p, pg::Connection& source, pg::Connection& target);
std::optional<StateIdentity> check_state_identity(const Config& cfg, const PipelineConfig& p, const StoredState& st,
                                                  pg::Connection& source, pg::Connection& target, RunMode mode,
                                                  bool dry_run, pg::StateStore* store, StateFile* file);

// Inside a catch block: records run res.run_id as failed with the exception's message and
// res's counts, and `after` as its watermark_after (what its committed batches stored; a
// failure to record it is logged, not thrown).
void record_failed_run(pg::StateStore& store, const PipelineResult& res,
                       const std::optional<Watermark>& after = std::nullopt);

// Inside a catch block: a run that failed after taking its lock but before its run record
// existed (the source or target described, the plan) gets a failed record of its own, with
// the exception's message, on a connection of its own (run_state.cpp). A failure to record
// it is logged, never thrown: the run's own error stands.
void record_failure_before_run(const Config& cfg, const PipelineConfig& p, const std::string& mode,
                               const std::optional<Watermark>& before, double seconds);

class RunState {
 public:
  // `store` is on the state connection (the target's with state.file: it holds the lock).
  RunState(const Config& cfg, const PipelineConfig& p, pg::StateStore& store);
  // The state tables exist, or the state file's directory is writable (nothing for a dry run).
  void prepare(bool dry_run);
  std::string where() const;  // "state file PATH" or "the state schema S", for messages
  StoredState load();
  // check_state_identity for this run's store (the state schema or the file).
  void check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                      bool dry_run);
  // The run's record: a tidemark.runs row (its id), or for a file the mode and start time.
  int64_t start_run(const std::string& mode, const Watermark& before);
  bool with_data() const { return with_data_; }
  using Chunk = std::optional<std::pair<ChunkRef, std::string>>;
  // with_data(): saves `next` (when set) and the record inside the data's transaction.
  void save_with_data(pg::Target& tgt, const StoredState& seen, const std::optional<Watermark>& next,
                      const pg::RunRecord& rec, const Chunk& chunk);
  // Otherwise, once the data committed.
  void save_after_data(const StoredState& seen, const std::optional<Watermark>& next, const pg::RunRecord& rec,
                       const Chunk& chunk);
  // Inside a catch block: the run failed, having committed res's counts and `after` (a
  // failure to record that is logged, not thrown).
  void failed(const PipelineResult& res, const std::optional<Watermark>& after);

 private:
  LastRun last_run(const pg::RunRecord& rec) const;
  const Config& cfg_;
  const PipelineConfig& p_;
  pg::StateStore& store_;
  std::optional<StateFile> file_;
  bool with_data_;
  std::string mode_, started_at_, where_;
  std::optional<StateIdentity> identity_;  // what a save records
};

}  // namespace tidemark
