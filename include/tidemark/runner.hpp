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
  int jobs = 1;                        // backfills: worker processes
  int64_t lease_seconds = 60;          // backfills: a chunk's claim lasts this long without a heartbeat
  bool advance_watermark = false;      // backfills: move the incremental watermark to the range's end
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
};

// Runs each selected pipeline one after another; one failing does not stop the others.
std::vector<PipelineResult> run_pipelines(const Config& cfg, const RunOptions& opts);

// 0 all ok, 2 a config/usage problem, 1 a run failed, 75 only lock conflicts.
int exit_code(const std::vector<PipelineResult>& results);

// The pipelines `names` selects (all when empty); throws ConfigError for an unknown name.
std::vector<const PipelineConfig*> select_pipelines(const Config& cfg, const std::vector<std::string>& names);

}  // namespace tidemark
