// Runs the selected pipelines of a config, one after another on the connections of one run
// context (or, with --jobs, side by side on workers: scheduler.cpp), each by the executor its
// strategy names; and what a failed run tells.
#include "tidemark/runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "pg/pg.hpp"
#include "run/backfill.hpp"
#include "run/expand.hpp"
#include "run/executor.hpp"
#include "run/fault.hpp"
#include "run/quiet.hpp"
#include "run/scheduler.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/reconcile.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

std::string current_error() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

void record_failed_run(pg::StateStore& store, const PipelineResult& res, const std::optional<Watermark>& after) {
  const std::string why = current_error();
  try {
    store.finish_run(pg::RunRecord{res.run_id, "failed", res.rows_read, res.rows_written, res.rows_deleted,
                                   after, redact_text(why)});
  } catch (const std::exception& e) {
    spdlog::warn("could not record the failed run: {}", e.what());
  }
}

const Executor& executor_for(const Strategy& s) {
  switch (s.caps().executor) {
    case ExecutorKind::kQuery: return query_executor();
    case ExecutorKind::kFiles: return files_executor();
    case ExecutorKind::kCdc: return cdc_executor();
  }
  return query_executor();
}

std::string failure_text(const RunProgress& pr, const std::string& error) {
  const Committed& c = pr.committed;
  const std::string rows = "read " + std::to_string(c.rows_read) + " rows, wrote " + std::to_string(c.rows_written) +
                           ", deleted " + std::to_string(c.rows_deleted);
  if (pr.kind == RunProgress::Kind::kBackfill) {
    if (c.transactions == 0)
      return "backfill failed; no chunk was committed by this command (the chunk in progress was rolled back) and the "
             "incremental watermark is untouched; rerun the same command to resume: " + error;
    return "backfill failed after committing " + std::to_string(c.transactions) + " chunk(s) (" + rows +
           "), which stay done; the chunk in progress was rolled back and the incremental watermark is untouched; "
           "rerun the same command to resume: " + error;
  }
  if (c.transactions == 0)
    return "run failed; nothing was committed (its open transaction was rolled back) and the watermark is where it "
           "was: " + error;
  const std::string mark = c.watermark ? "the watermark is now high " + tuple_text(c.watermark->high) + " safe " +
                                             tuple_text(c.watermark->safe)
                                       : std::string("the watermark is where it was");
  if (c.state_behind) {
    const std::string what = pr.batched ? "committing " + std::to_string(c.transactions) + " batch(es) (" + rows +
                                              "; " + mark + "), the last of which has its data but not its state"
                                        : "its data was committed (" + rows + ")";
    return "run failed after " + what + ": saving the state in " + pr.state_where +
           " failed, so the watermark there does not cover that data yet and the next run re-reads it, which every "
           "write mode absorbs (idempotent): " + error;
  }
  if (!pr.batched)
    return "run failed after its data and state were committed (" + rows + "; " + mark + "): " + error;
  return "run failed after committing " + std::to_string(c.transactions) + " batch(es) (" + rows + "; " + mark + ")" +
         (pr.in_transaction ? "; the batch in progress was rolled back" : "") + ": " + error;
}

bool is_chunked(const PipelineConfig& p, const RunOptions& opts) {
  return opts.request.mode == RunMode::kRange && (!opts.chunk.empty() || !p.chunk.empty() || opts.advance_watermark);
}

std::vector<const PipelineConfig*> select_pipelines(const Config& cfg, const std::vector<std::string>& names) {
  std::vector<const PipelineConfig*> out;
  if (names.empty()) {
    for (const auto& p : cfg.pipelines) out.push_back(&p);
    return out;
  }
  std::vector<std::string> all;
  for (const auto& p : cfg.pipelines) all.push_back(p.name);
  for (const auto& s : cfg.selectors) all.push_back(s.name);
  for (const auto& n : names) {
    // A name, a selector pipeline's name (all its tables) or a glob over names (selector.hpp).
    const auto matched = selected_by(cfg, n);
    if (matched.empty() && !selector_named(cfg, n))
      throw ConfigError(cfg.path + ": no pipeline named '" + n + "'" + did_you_mean(n, all));
    for (const PipelineConfig* p : matched)
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

// The line of a run that succeeded, and the reconcile that may be due after it.
void report_success(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, PipelineResult& r) {
  log::PipelineScope scope(p.name);
  log::PipelineScope::set_run_id(r.run_id);
  const std::string where = find_strategy(p.detect.strategy)->caps().per_unit_commits
                                ? r.window  // "2 file(s) loaded, 1 skipped", "slot … at …"
                                : "high " + tuple_text(r.after.high) + " safe " + tuple_text(r.after.safe);
  spdlog::info("{} run: read {} rows, wrote {}, deleted {}; {}; {:.3f}s", mode_name(opts.request.mode), r.rows_read,
               r.rows_written, r.rows_deleted, where, r.seconds);
  if (opts.request.mode == RunMode::kIncremental) reconcile_if_due(cfg, p, r);  // reconcile: {every: N}
}

PipelineResult run_pipeline(RunContext& ctx, const PipelineConfig& pc, const RunOptions& opts) {
  const Config& cfg = ctx.config();
  if (!pc.config_error.empty()) return expansion_failure(pc);  // a selector's table (expand.cpp)
  const PipelineConfig* p = &pc;
  PipelineResult r;
  r.pipeline = p->name;
  const Strategy& strategy = *find_strategy(p->detect.strategy);
  const StrategyCaps& caps = strategy.caps();
  RunProgress progress;  // of the latest attempt
  // --advance-watermark needs a backfill's bookkeeping: without a chunk size, the range is
  // one chunk.
  const bool chunked = is_chunked(*p, opts);
  auto once = [&]() -> PipelineResult {
    if (chunked && !cfg.state.file.empty())
      throw ConfigError("pipeline " + p->name + ": chunked backfills (--chunk, --jobs, --advance-watermark) record "
                        "their chunks in the state schema, which state.file replaces; run the range without them "
                        "(one transaction)");
    if (chunked && !caps.chunked_backfill)
      throw ConfigError("pipeline " + p->name + ": strategy " + strategy.name() + " " +
                        (caps.manifest ? "loads one file per transaction" : "has no cursor range to split") +
                        "; --chunk, --jobs and --advance-watermark do not apply");
    if (chunked) return run_backfill(ctx, *p, opts, &progress);
    return executor_for(strategy).run(ctx, *p, opts, progress);
  };
  const int64_t trips_before = ctx.round_trips(), opened_before = ctx.sessions_opened();
  try {
    // A lost connection or a serialization failure changed nothing: with `retries`, try again.
    for (int attempt = 0;; ++attempt) {
      try {
        ctx.begin_pipeline();
        r = once();
        break;
      } catch (const TransientError& e) {
        ctx.reset();  // the next attempt starts on new sessions
        if (attempt >= cfg.retries.attempts) throw;
        const int64_t wait_ms = std::min<int64_t>(cfg.retries.backoff_ms << std::min(attempt, 16), 300000);
        log::PipelineScope scope(p->name);
        spdlog::warn("{}; retrying in {:.1f}s (retry {} of {})", redact_text(e.what()), wait_ms / 1000.0,
                     attempt + 1, cfg.retries.attempts);
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      }
    }
    if (!opts.dry_run) report_success(cfg, *p, opts, r);
  } catch (const LockBusy& e) {
    r.outcome = PipelineResult::Outcome::kLocked;
    r.error = e.what();
    log::PipelineScope scope(p->name);
    spdlog::warn("{}", e.what());
  } catch (const ConfigError& e) {
    r.outcome = PipelineResult::Outcome::kConfig;
    r.error = e.what();
    log::PipelineScope scope(p->name);
    spdlog::error("{}", e.what());
  } catch (const ConnectFailure& e) {  // no transaction was begun with this connection
    ctx.reset();
    r.outcome = PipelineResult::Outcome::kFailed;
    r.error = redact_text(e.message());
    log::PipelineScope scope(p->name);
    spdlog::error("{}; {}", r.error, chunked ? "chunks committed before it stay committed; rerun the same command to resume"
                                             : "nothing was read or written");
  } catch (const std::exception& e) {
    ctx.reset();
    r.outcome = PipelineResult::Outcome::kFailed;
    r.error = redact_text(e.what());
    log::PipelineScope scope(p->name);
    if (caps.per_unit_commits) {
      // One transaction per file or per batch: those committed before the failure stand.
      spdlog::error("run failed; its open transaction was rolled back (those committed before it stand: see "
                    "`tidemark history`): {}", r.error);
    } else {
      // The counts and the watermark are what was committed, not what was rolled back.
      r.run_id = progress.run_id;
      r.rows_read = progress.committed.rows_read;
      r.rows_written = progress.committed.rows_written;
      r.rows_deleted = progress.committed.rows_deleted;
      if (progress.before) r.before = *progress.before;
      r.after = progress.committed.watermark ? *progress.committed.watermark : r.before;
      spdlog::error("{}", failure_text(progress, r.error));
    }
  }
  r.round_trips = ctx.round_trips() - trips_before;
  r.sessions_opened = ctx.sessions_opened() - opened_before;
  {
    log::PipelineScope scope(p->name);
    spdlog::debug("{} round trip(s) to the servers, {} session(s) opened", r.round_trips, r.sessions_opened);
  }
  return r;
}

std::vector<PipelineResult> run_pipelines(const Config& cfg, const RunOptions& opts, RunContext* given) {
  const std::vector<const PipelineConfig*> selected = select_pipelines(cfg, opts.pipelines);
  // A chunked backfill forks its chunk workers (--jobs): its pipelines run one after another
  // (docs/backfill.md), never beside other pipelines' threads.
  bool backfill = false;
  for (const PipelineConfig* p : selected) backfill = backfill || is_chunked(*p, opts);
  std::unique_ptr<RunContext> own = given ? nullptr : std::make_unique<RunContext>(cfg);
  RunContext& ctx = given ? *given : *own;
  // The unchanged ones first, together (quiet.cpp): committed already, so said now, in config
  // order. The rest one by one, or side by side.
  std::map<const PipelineConfig*, PipelineResult> quiet = run_quiet(ctx, selected, opts);
  std::vector<const PipelineConfig*> rest;
  for (const PipelineConfig* p : selected) {
    auto it = quiet.find(p);
    if (it != quiet.end()) report_success(cfg, *p, opts, it->second);
    else rest.push_back(p);
  }
  std::vector<PipelineResult> ran;
  if (opts.pipeline_jobs > 1 && rest.size() > 1 && !backfill) {
    // The first worker goes on with these sessions: connections stay bounded by N per database.
    ran = run_side_by_side(cfg, rest, opts, &ctx);
  } else {
    for (const PipelineConfig* p : rest) {
      ran.push_back(run_pipeline(ctx, *p, opts));
      fault_point("pipeline_done");
    }
  }
  std::vector<PipelineResult> results;
  size_t next = 0;
  for (const PipelineConfig* p : selected) results.push_back(quiet.count(p) ? quiet.at(p) : std::move(ran.at(next++)));
  return results;
}

int exit_code(const std::vector<PipelineResult>& results) {
  bool config = false, failed = false, locked = false;
  for (const auto& r : results) {
    config = config || r.outcome == PipelineResult::Outcome::kConfig;
    failed = failed || r.outcome == PipelineResult::Outcome::kFailed;
    locked = locked || r.outcome == PipelineResult::Outcome::kLocked;
  }
  if (config) return kExitUsage;
  if (failed) return kExitRunFailed;
  if (locked) return kExitLocked;
  return kExitOk;
}

}  // namespace tidemark
