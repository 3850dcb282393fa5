// Chunked, resumable, parallel backfills (docs/backfill.md): the range is split into chunks
// by the source, each chunk is a range run committed with its bookkeeping row, and workers in
// any number of processes share the chunks through the state database (chunk_worker.cpp).
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <algorithm>
#include <optional>
#include <regex>
#include <thread>

#include "run/backfill.hpp"
#include "run/executor.hpp"
#include "run/run_state.hpp"
#include "run/scheduler.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

std::string resolve_bound(pg::Source& src, const std::string& v, const std::string& type, const std::string& zone) {
  const std::optional<Sql> q = relative_bound_query(v, type, zone);
  return q ? src.query_rows(*q).at(0).at(0) : v;
}

void resolve_range(pg::Source& src, const PipelineConfig& p, const std::string& type, const std::string& zone,
                   std::optional<std::string>& from, std::optional<std::string>& to) {
  if (from) from = resolve_bound(src, *from, type, zone);
  if (to) to = resolve_bound(src, *to, type, zone);
  for (const auto& [flag, v] : {std::pair{"--from", from}, std::pair{"--to", to}})
    if (v)
      if (auto why = src.input_error(*v, type))
        throw ConfigError(std::string(flag) + " '" + *v + "' is not a valid " + type + " for cursor " +
                          p.detect.cursor + " of pipeline " + p.name + ": " + *why);
  if (from && to && src.value_at_most(*to, *from, type))
    throw ConfigError("--from '" + *from + "' is not below --to '" + *to + "' for pipeline " + p.name +
                      ": the range [from, to) is empty; give a lower --from or a higher --to");
}

namespace {

// --jobs N: N worker processes, each with its own connections; this process draws the
// progress line meanwhile.
// `workers` gets the worker id of each process started.
void run_workers(const Backfill& b, bool draw, std::vector<std::string>& workers) {
  std::fflush(nullptr);
  std::vector<pid_t> children;
  for (int i = 0; i < b.opts.jobs; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        RunContext own(b.cfg);  // never the parent's sessions
        work_chunks(b, own, false);
      } catch (const LockBusy&) {
        code = kExitLocked;
      } catch (const ConfigError& e) {
        spdlog::error("{}", e.what());
        code = kExitUsage;
      } catch (const std::exception& e) {
        spdlog::error("backfill worker failed: {}", redact_text(e.what()));
        code = kExitRunFailed;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    if (pid < 0) throw RunError("could not start backfill worker: fork failed");
    children.push_back(pid);
    workers.push_back(worker_id(pid));
  }
  const std::string& state_name = b.cfg.state_connection(b.p);
  pg::Connection state(state_name, b.cfg.connections.at(state_name), "tidemark");
  pg::ChunkStore store(state, b.cfg.state.schema);
  int worst = 0;
  for (size_t left = children.size(); left > 0;) {
    int status = 0;
    const pid_t c = waitpid(-1, &status, draw ? WNOHANG : 0);
    if (c == 0) {
      log::progress(progress_text(b, progress_of(b, store)));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (c < 0) break;
    if (std::find(children.begin(), children.end(), c) == children.end()) continue;
    --left;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : kExitRunFailed;
    if (code == kExitRunFailed || (code != 0 && worst == 0)) worst = code;
    // A worker that was killed could not release its chunk: it is failed, not running.
    if (code != 0) {
      const std::string who = worker_id(c);
      if (WIFSIGNALED(status))
        spdlog::error("backfill worker {} was killed by signal {}", who, WTERMSIG(status));
      try {
        store.fail_worker_chunks(b.p.name, b.range, who);
      } catch (const std::exception& e) {
        spdlog::warn("could not mark the chunks of worker {} failed (their lease runs out): {}", who, e.what());
      }
    }
  }
  if (worst == kExitRunFailed) throw RunError("a backfill worker failed");
  if (worst == kExitUsage) throw ConfigError("a backfill worker met a usage error");
}

}  // namespace

// A chunked backfill: the range split into chunks by the source (in the cursor's type), each
// chunk a range run of its own, committed with its bookkeeping row, so a killed backfill
// resumes with the chunks not done yet when the same command runs again.
PipelineResult run_backfill(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress* progress) {
  const Config& cfg = ctx.config();
  log::PipelineScope scope(p.name);
  if (progress) progress->kind = RunProgress::Kind::kBackfill;
  const RunRequest& req = opts.request;
  const std::string chunk_spec = opts.chunk.empty() ? p.chunk : opts.chunk;
  if (!req.from || !req.to)
    throw ConfigError("pipeline " + p.name + ": a chunked backfill needs both --from and --to");
  ChunkRef range{*req.from, *req.to};
  std::vector<pg::Chunk> chunks;
  std::optional<std::string> blocker;
  {
    pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
    pg::Source src(source);
    SourceShape shape = src.describe(p);
    const ColumnInfo* cursor = shape.find(p.detect.cursor);
    if (!cursor) throw RunError("pipeline " + p.name + ": the source has no column '" + p.detect.cursor + "'");
    // A relative range is fixed once, here; the log shows the absolute bounds to resume with.
    std::optional<std::string> from = range.range_from, to = range.range_to;
    resolve_range(src, p, cursor->type, shape.time_zone, from, to);
    range = {*from, *to};
    if (chunk_spec.empty())
      chunks.push_back({range.range_from, range.range_to});
    else
      for (const auto& row : src.query_rows(chunk_query(cursor->type, range.range_from, range.range_to, chunk_spec)))
        chunks.push_back({row[0], row[1]});
    // Judged now, before any chunk is read; kept with the backfill for --advance-watermark.
    const ExtractPlan plan = find_strategy(p.detect.strategy)->plan({p, shape, StoredState{}, RunRequest{RunMode::kRange, range.range_from, range.range_to, {}}});
    blocker = advance_blocker_now(src, plan, range);
  }
  if (opts.dry_run) {
    plan_output() << "backfill of pipeline " << p.name << ": [" << range.range_from << ", " << range.range_to << ") in "
              << chunks.size() << " chunk(s) of " << chunk_spec << ", one transaction each\n";
    for (const auto& c : chunks) plan_output() << "  chunk [" << c.from << ", " << c.to << ")\n";
    if (chunks.empty()) {
      PipelineResult none;
      none.pipeline = p.name;
      return none;
    }
    RunOptions first = opts;
    first.request.from = chunks[0].from;
    first.request.to = chunks[0].to;
    return run_one(ctx, p, first);
  }
  std::vector<pg::Chunk> pending;
  {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    pg::StateStore store(state, cfg.state.schema);
    store.ensure_schema();
    {  // before the chunks are registered (docs/correctness.md#identity-of-state)
      pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
      pg::Connection target(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
      check_state_identity(cfg, p, store.load(p.name), source, target, RunMode::kRange, false, &store, nullptr);
    }
    pending = pg::ChunkStore(state, cfg.state.schema).register_chunks(p.name, range, chunks, opts.restart, blocker);
  }
  Backfill b{cfg, p, opts, range, static_cast<int64_t>(chunks.size())};
  int64_t runs_at_start = 0;  // chunks this command commits get higher run ids
  {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    pg::ChunkStore chunk_store(state, cfg.state.schema);
    const pg::BackfillProgress before = progress_of(b, chunk_store);
    b.done_at_start = before.done;
    b.rows_at_start = before.rows_read;
    runs_at_start = pg::StateStore(state, cfg.state.schema).last_run_id();
    if (before.total != b.chunks) b.chunks = before.total;  // a completed backfill with its own chunking
  }
  PipelineResult total;
  total.pipeline = p.name;
  total.window = "range [" + range.range_from + ", " + range.range_to + ") in " + std::to_string(chunks.size()) +
                 " chunk(s)";
  if (pending.empty())
    spdlog::info("backfill [{}, {}): all {} chunk(s) were already done; nothing to do (--restart loads the range again)",
                 range.range_from, range.range_to, b.chunks);
  else
    spdlog::info("backfill [{}, {}): {} chunk(s) of {}, {} to do, {} job(s)", range.range_from, range.range_to,
                 chunks.size(), chunk_spec, pending.size(), opts.jobs);
  // On a terminal one progress line replaces the per-chunk log lines (they stay at -v).
  const bool draw = log::progress_on_terminal();
  const auto level = spdlog::get_level();
  if (draw && level == spdlog::level::info) spdlog::set_level(spdlog::level::warn);
  struct Restore {
    spdlog::level::level_enum level;
    ~Restore() {
      log::progress_done();
      spdlog::set_level(level);
    }
  } restore{level};

  std::vector<std::string> workers;
  // What this command's workers committed, from the chunks' bookkeeping (it holds the chunks
  // of a worker that was killed too).
  auto committed = [&]() {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    return pg::ChunkStore(state, cfg.state.schema).chunk_totals(p.name, range, workers, runs_at_start);
  };
  try {
    if (opts.jobs <= 1) {
      workers.push_back(worker_id(getpid()));
      const WorkerTotals mine = work_chunks(b, ctx, draw);
      total.rows_read = mine.rows_read;
      total.rows_written = mine.rows_written;
      total.rows_deleted = mine.rows_deleted;
      total.run_id = mine.last_run_id;
    } else {
      run_workers(b, draw, workers);
      const pg::ChunkTotals t = committed();  // the workers' sums
      total.rows_read = t.rows_read;
      total.rows_written = t.rows_written;
      total.rows_deleted = t.rows_deleted;
    }
  } catch (...) {
    if (progress) {
      try {
        const pg::ChunkTotals t = committed();
        progress->committed = Committed{t.chunks, t.rows_read, t.rows_written, t.rows_deleted, std::nullopt, false};
      } catch (const std::exception& e) {
        spdlog::debug("could not count the chunks committed: {}", e.what());
      }
    }
    throw;
  }
  log::progress_done();
  spdlog::set_level(level);
  // What is left is with workers elsewhere, or failed.
  {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    pg::ChunkStore store(state, cfg.state.schema);
    const pg::BackfillProgress now = progress_of(b, store);
    spdlog::info("backfill [{}, {}): {}/{} chunks done, {} rows read, {} written", range.range_from, range.range_to,
                 now.done, now.total, now.rows_read, now.rows_written);
    if (opts.advance_watermark && now.done == now.total) advance_watermark(b);
  }
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - b.t0).count();
  return total;
}

}  // namespace tidemark
