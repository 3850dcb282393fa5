// The pieces of a chunked backfill (docs/backfill.md): the driver (backfill.cpp), the chunk
// workers (chunk_worker.cpp) and the watermark advance at the end (advance.cpp).
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <sys/types.h>

#include "pg/pg.hpp"
#include "run/context.hpp"
#include "tidemark/runner.hpp"

namespace tidemark {

// One backfill as every worker of this process sees it.
struct Backfill {
  const Config& cfg;
  const PipelineConfig& p;
  const RunOptions& opts;
  ChunkRef range;
  int64_t chunks = 0;                          // all chunks of the range
  int64_t done_at_start = 0, rows_at_start = 0;  // progress before this command, for its rate
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
};

struct WorkerTotals {
  int64_t chunks = 0, rows_read = 0, rows_written = 0, rows_deleted = 0, last_run_id = 0;
};

// The id a worker process records in the chunks it claims: "host:pid".
std::string worker_id(pid_t pid);

// Claims and loads chunks until none is left (waiting for chunks that live workers elsewhere
// hold, and taking over those of dead ones). `draw` shows the progress line as it goes.
WorkerTotals work_chunks(const Backfill& b, RunContext& ctx, bool draw);

// The backfill's progress across all workers, as the terminal line or a log line.
pg::BackfillProgress progress_of(const Backfill& b, pg::ChunkStore& chunks);
std::string progress_text(const Backfill& b, const pg::BackfillProgress& now);

// --advance-watermark: after every chunk is done, moves the incremental watermark to the
// end of the range when that cannot skip a row (docs/backfill.md); logs why not otherwise.
void advance_watermark(const Backfill& b);
// Why the watermark could not safely move to the end of `range` if the backfill's chunks
// were read from now on (nullopt: it could): the source's horizon must have reached the
// range's end, and no transaction open now may still write a row below it.
std::optional<std::string> advance_blocker_now(pg::Source& src, const ExtractPlan& plan, const ChunkRef& range);

// A range backfill split into resumable chunks, each a run_one of its own (backfill.cpp).
// `progress` gets the chunks this command committed, for the message of its failure.
PipelineResult run_backfill(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts,
                            RunProgress* progress = nullptr);

// "-7d", "-36h", "-15m" as a range bound: that long before now, on the source's clock, in the
// timestamp cursor's type. Anything else is returned as given.
std::string resolve_bound(pg::Source& src, const std::string& v, const std::string& type, const std::string& zone);
// --from/--to of a range run resolved (relative forms, on the source's clock in the cursor's
// zone) and checked against the cursor's type and each other (from < to): a bad range is a
// ConfigError (exit 2) before anything runs.
void resolve_range(pg::Source& src, const PipelineConfig& p, const std::string& type, const std::string& zone,
                   std::optional<std::string>& from, std::optional<std::string>& to);

}  // namespace tidemark
