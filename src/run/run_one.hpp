// One run of one pipeline (runner.cpp), and the chunked backfill built on it (backfill.cpp).
#pragma once
#include <string>

#include "pg/pg.hpp"
#include "tidemark/runner.hpp"

namespace tidemark {

// lock -> state -> plan -> extract -> stage -> apply + state -> run record. `warned_hidden`
// makes the "cannot see other sessions" warning appear once per command. `progress` (when
// given) follows the run: what it committed, for the message of its failure. A failure before
// the run record existed is recorded as a failed run of its own (record_failure_before_run).
PipelineResult run_one(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, bool& warned_hidden,
                       RunProgress* progress = nullptr);

// A run of a strategy-files pipeline (files_run.cpp).
PipelineResult run_files(const Config& cfg, const PipelineConfig& p, const RunOptions& opts);

// A run of a strategy-cdc pipeline (cdc_run.cpp).
PipelineResult run_cdc(const Config& cfg, const PipelineConfig& p, const RunOptions& opts);

const char* mode_name(RunMode m);

// Inside a catch block: the message of the exception in flight.
std::string current_error();

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

// A range backfill split into resumable chunks, each a run_one of its own.
// `progress` gets the chunks this command committed, for the message of its failure.
PipelineResult run_backfill(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, bool& warned_hidden,
                            RunProgress* progress = nullptr);

// "-7d", "-36h", "-15m" as a range bound: that long before now, on the source's clock, in the
// timestamp cursor's type. Anything else is returned as given.
std::string resolve_bound(pg::Source& src, const std::string& v, const std::string& type, const std::string& zone);
// --from/--to of a range run resolved (relative forms, on the source's clock in the cursor's
// zone) and checked against the cursor's type and each other (from < to): a bad range is a
// ConfigError (exit 2) before anything runs.
void resolve_range(pg::Source& src, const PipelineConfig& p, const std::string& type, const std::string& zone,
                   std::optional<std::string>& from, std::optional<std::string>& to);

// partition_overwrite (partition_load.cpp): the column's windowing, checked against the
// source; the windows `delta` touches (read in the source's open snapshot) and the select of
// their complete rows; and, once staged, moving windows that are exactly a partition of the
// target to TRUNCATE (logging which path replaced them).
WriteInput::Partitions partition_setup(const PipelineConfig& p, const SourceShape& shape);
// For --dry-run: placeholder windows, and the direct or staged form the run would take.
void partition_dry_run(const PipelineConfig& p, WriteInput& wi);
Sql partition_windows(pg::Source& src, const PipelineConfig& p, const Sql& delta, WriteInput& wi);
void partition_fast_path(pg::Target& tgt, const PipelineConfig& p, WriteInput& wi);
// The direct form (no duplicate keys): removes the windows' target rows (and the old copies
// of rows the delta moved between windows) before their rows are copied into the target;
// returns the rows deleted.
int64_t partition_clear(pg::Source& src, pg::Target& tgt, const PipelineConfig& p, const Sql& delta,
                        const Writer& writer, WriteInput& wi);

}  // namespace tidemark
