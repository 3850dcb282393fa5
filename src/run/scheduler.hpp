// Parallel pipelines (run --jobs N, `jobs:`): the selected pipelines run side by side on up
// to N worker threads, each worker with a run context of its own (scheduler.cpp).
#pragma once
#include <ostream>
#include <vector>

#include "run/context.hpp"
#include "tidemark/runner.hpp"

namespace tidemark {

// One pipeline's run as the run loop makes it (runner.cpp): its executor or a chunked
// backfill, retries on new sessions, the outcome logged and returned (never thrown). A
// failure resets `ctx`, so the next pipeline on it starts on new sessions.
PipelineResult run_pipeline(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts);

// A range run that is a chunked backfill (--chunk, the pipeline's `chunk`, --advance-watermark).
bool is_chunked(const PipelineConfig& p, const RunOptions& opts);

// Runs `selected` on min(opts.pipeline_jobs, selected.size()) worker threads. Workers take
// the next pipeline in config order when they are free; each has its own RunContext (its own
// sessions, reused by the pipelines it runs; a failure resets only its own). Results come back
// in the order of `selected`. A --dry-run's plans are printed whole, in that order. `first`:
// the first worker's context (the caller's sessions, which it does not touch meanwhile).
std::vector<PipelineResult> run_side_by_side(const Config& cfg, const std::vector<const PipelineConfig*>& selected,
                                             const RunOptions& opts, RunContext* first = nullptr);

// Where an executor prints a --dry-run's plan: stdout, or while the pipeline runs on a worker,
// that pipeline's buffer (printed in config order once the pipelines before it are printed).
std::ostream& plan_output();

}  // namespace tidemark
