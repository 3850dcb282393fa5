// The run plan: everything one run of one pipeline will do, decided before it does anything,
// from (pipeline, source shape, stored state, request, and for files/cdc the listing or the
// slot). Pure: plan_run does no I/O; an executor (src/run/) carries it out; --dry-run and
// `tidemark plan` print it with plan_text, whatever the strategy.
#pragma once
#include <optional>
#include <string>

#include "tidemark/plan.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {

// How the rows reach the target table.
enum class LoadPath {
  kStaged,         // COPY into the staging table, then the writer's set-based statements
  kDirect,         // COPY straight into the target: it is replaced, or its windows are emptied first
  kDirectIfEmpty,  // direct when the target turns out empty at run time (claimed under lock), else staged
};

// It points into the Config and the registries: it must not outlive the pipeline it plans.
struct RunPlan {
  const PipelineConfig* pipeline = nullptr;
  const Strategy* strategy = nullptr;
  const Writer* writer = nullptr;  // the mode that applies: the configured one, or what the request needs
  RunMode mode = RunMode::kIncremental;
  std::string record_mode;  // what the run record names: incremental, range, full_refresh, full, snapshot
  ExtractPlan extract;      // what is read: a query, the files of a listing, or a slot
  WriteInput write;         // the writer's input (query strategies; files: per file, placeholders here)
  LoadPath load = LoadPath::kStaged;
  bool by_window = false;         // partition_overwrite replaces the windows the delta touches
  bool tracks_watermark = false;  // in-flight transactions observed, the watermark moved by the rule
  bool batched = false;           // one target transaction per batch of plan.extract.batching
};

// The staging tables a run fills (temporary, dropped at commit).
inline constexpr const char* kStageTable = "_tm_stage";
inline constexpr const char* kCdcStageTable = "_tm_cdc";
inline constexpr const char* kMovedKeysTable = "_tm_moved_keys";  // partition_overwrite, direct form

// The mode a run record names: a strategy that reloads everything on every run records
// "full", a cdc run that copies the table first "snapshot", others their request's mode.
std::string record_mode(const Strategy& s, RunMode mode, bool snapshot = false);

// Pure. Throws ConfigError for a request the strategy cannot serve, RunError for a source that
// does not fit (a soft_delete or partition_by column it lacks, a slot that is gone).
RunPlan plan_run(const PlanInput& in);

// Whether an incremental run whose high-mark query finds no row may skip the load: its window
// is empty too (same snapshot, same predicate, NULL cursors aside), and nothing else in the
// load has an effect without rows (no target to replace, no range or windows to rewrite).
bool empty_window_skips_load(const RunPlan& rp);

// What --dry-run prints for `plan`: the pipeline, what is read (query, files or slot), the
// statements that apply it, and "(dry run: nothing was written)". `estimate` is the
// planner's row estimate of the extract query, when asked.
std::string plan_text(const RunPlan& plan, const StoredState& st, std::optional<int64_t> estimate);

}  // namespace tidemark
