// Where a run keeps its pipeline's state and its run record, behind one interface so the
// steps of a run never ask which: the state schema (tidemark.pipeline_state and tidemark.runs;
// in the data's transaction when it lives in the target database, right after it otherwise),
// or `state: {file: …}`, written after the data commit with the run's outcome in place of a
// runs row (docs/operations.md#state-file). Strategy files' manifest is its own concern
// (pg::FileStore), as are backfill chunks (pg::ChunkStore).
#pragma once
#include <functional>
#include <memory>
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

// One pipeline's state and run record for one run.
class StateBackend {
 public:
  virtual ~StateBackend() = default;
  virtual std::string where() const = 0;  // "state file PATH" or "state database 'C' (schema S)", for messages
  // The state schema is at the latest version, or the state file's directory is writable
  // (nothing for a dry run).
  virtual void prepare(bool dry_run) = 0;
  virtual StoredState load() = 0;
  // check_state_identity for this store; every later save records the identity.
  virtual void check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                              bool dry_run) = 0;
  // The run's record: a tidemark.runs row (its id), or for a file the mode and start time (0).
  virtual int64_t start_run(const std::string& mode, const Watermark& before) = 0;
  // Whether the state is saved inside the data's transaction (save_with_data) or once the
  // data committed (save_after_data).
  virtual bool with_data() const = 0;
  using Chunk = std::optional<std::pair<ChunkRef, std::string>>;  // a backfill chunk to mark done
  // with_data(): saves `next` (when set), the chunk and the record inside the target transaction.
  virtual void save_with_data(pg::Target& tgt, const StoredState& seen, const std::optional<Watermark>& next,
                              const pg::RunRecord& rec, const Chunk& chunk) = 0;
  // Otherwise, once the data committed.
  virtual void save_after_data(const StoredState& seen, const std::optional<Watermark>& next,
                               const pg::RunRecord& rec, const Chunk& chunk) = 0;
  // The run record alone, on its own (a run's outcome that moves no watermark).
  void finish_run(const pg::RunRecord& rec) { save_after_data(StoredState{}, std::nullopt, rec, std::nullopt); }
  // Inside a catch block: the run failed, having committed res's counts and `after` (a
  // failure to record that is logged, not thrown).
  virtual void failed(const PipelineResult& res, const std::optional<Watermark>& after) = 0;
  // A run that failed before start_run: a failed record of its own (`seconds` long, nothing
  // read or written). A file keeps a last run only for a pipeline it has state for.
  virtual void record_failure(const std::string& mode, const std::optional<Watermark>& before,
                              const std::string& error, double seconds) = 0;
};

// Inside a catch block: records run res.run_id as failed with the exception's message and
// res's counts, and `after` as its watermark_after (what its committed batches stored; a
// failure to record it is logged, not thrown).
void record_failed_run(pg::StateStore& store, const PipelineResult& res,
                       const std::optional<Watermark>& after = std::nullopt);

// Inside a catch block: a run that failed after taking its lock but before its run record
// existed (the source or target described, the plan) gets a failed record of its own, with
// the exception's message, on a connection of its own. A failure to record it is logged,
// never thrown: the run's own error stands.
void record_failure_before_run(const Config& cfg, const PipelineConfig& p, const std::string& mode,
                               const std::optional<Watermark>& before, double seconds);

// The state schema on `state`, the state connection (schema_state.cpp).
std::unique_ptr<StateBackend> schema_state(const Config& cfg, const PipelineConfig& p, pg::Connection& state);
// The state file (file_state.cpp): written after the data commit, the run's outcome in place of
// a runs row. `step` is the file's crash-test hook (StateFile).
std::unique_ptr<StateBackend> file_state(const Config& cfg, const PipelineConfig& p,
                                         std::function<void(const char*)> step = {});

// The state of pipeline `p` as `cfg` keeps it: the state file, or the state schema on `state`
// (the state connection).
std::unique_ptr<StateBackend> open_state(const Config& cfg, const PipelineConfig& p, pg::Connection& state);

}  // namespace tidemark
