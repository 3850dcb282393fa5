// Runs pipelines: lock -> state -> plan -> extract -> stage -> apply + state -> run record.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

struct RunOptions {
  RunRequest request;
  bool dry_run = false;
  std::vector<std::string> pipelines;  // empty: all, in config order
  std::string chunk;                   // backfills: overrides the pipeline's `chunk`
  bool restart = false;                // backfills: forget the chunks done so far
  int jobs = 1;                        // chunked backfills: worker processes per backfill
  // Runs without a range: pipelines run at once, each on a worker thread with its own
  // sessions (run --jobs, else the config's `jobs`). Chunked backfills run one at a time.
  int pipeline_jobs = 1;
  int64_t lease_seconds = 60;          // backfills: a chunk's claim lasts this long without a heartbeat
  bool advance_watermark = false;      // backfills: move the incremental watermark to the range's end
};

// What a run has committed so far (a batched run commits batch by batch, a backfill chunk by
// chunk): a failed run reports these, not what its rolled-back transaction had done.
struct Committed {
  int64_t transactions = 0;  // target transactions committed: batches, or a backfill's chunks
  int64_t rows_read = 0, rows_written = 0, rows_deleted = 0;  // by them
  std::optional<Watermark> watermark;  // the stored watermark after them (nullopt: never moved)
  // The data of the last commit is in the target but its state (watermark, run record) is
  // not: the state database or the state file failed after the data commit.
  bool state_behind = false;
};

// A run's progress, kept up to date while it runs, so that its failure can be reported (and
// recorded) as what it is.
struct RunProgress {
  enum class Kind { kRun, kBackfill } kind = Kind::kRun;
  bool state_ready = false;  // the lock is held and the state store ready (tables made, state file writable)
  std::optional<Watermark> before;  // the stored watermark the run began from, once loaded
  bool recorded = false;     // the run's record exists (a tidemark.runs row, or the state file's run)
  int64_t run_id = 0;        // its id in tidemark.runs (0 with a state file)
  bool batched = false;      // one transaction per batch
  bool in_transaction = false;  // a target transaction (or its state save) is under way
  Committed committed;
  std::string state_where;   // where the state is kept, for messages ("state file …")
};

struct PipelineResult {
  std::string pipeline;
  enum class Outcome { kOk, kFailed, kLocked, kConfig } outcome = Outcome::kOk;
  int64_t run_id = 0;
  int64_t rows_read = 0, rows_written = 0, rows_deleted = 0;
  Watermark before, after;
  std::string window;
  std::string error;
  double seconds = 0;
  // Round trips to the servers this pipeline made on the run's sessions (retries included),
  // and the sessions it had to open (0 when it reused those of an earlier pipeline).
  int64_t round_trips = 0;
  int64_t sessions_opened = 0;
  // Found unchanged with others in one check (run/quiet.hpp): how many; round_trips is then
  // this pipeline's share of the check's, rounded up, and the first of them counts the
  // sessions the check opened. 0: ran alone.
  int64_t checked_together = 0;
};

// What a failed run left behind, for its error line: what was committed (nothing; or which
// batches, rows and watermark; or data without its state), then `error`.
std::string failure_text(const RunProgress& progress, const std::string& error);

class RunContext;
// Runs each selected pipeline, one after another or (pipeline_jobs > 1) up to that many at
// once; one failing does not stop the others. The results are in config order. `ctx`: the
// sessions to run on one after another (the command's, already holding those its selector
// expansion opened); pipelines side by side close it and run on the workers' own.
std::vector<PipelineResult> run_pipelines(const Config& cfg, const RunOptions& opts, RunContext* ctx = nullptr);

// 0 all ok, 2 a config/usage problem, 1 a run failed, 75 only lock conflicts.
int exit_code(const std::vector<PipelineResult>& results);

// The pipelines `names` selects (all when empty); throws ConfigError for an unknown name.
std::vector<const PipelineConfig*> select_pipelines(const Config& cfg, const std::vector<std::string>& names);

}  // namespace tidemark
