// Chunked, resumable, parallel backfills (docs/backfill.md): the range is split into chunks
// by the source, each chunk is a range run committed with its bookkeeping row, and workers in
// any number of processes claim chunks through advisory locks in the state database.
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <regex>

#include "run/run_one.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

std::string resolve_bound(pg::Source& src, const std::string& v, const std::string& type) {
  static const std::regex relative(R"(\s*-\s*([0-9]+\s*[a-z]+)\s*)");
  std::smatch m;
  if (type.rfind("timestamp", 0) != 0 && type != "date") return v;
  if (!std::regex_match(v, m, relative)) return v;
  const auto us = parse_duration_us(m[1].str());
  if (!us) return v;  // the type check reports it
  return src.query_rows(Sql("SELECT CAST(statement_timestamp() - CAST('" + format_interval_us(*us) +
                            "' AS interval) AS " + type + ")::text"))
      .at(0)
      .at(0);
}

// A chunked backfill: the range split into chunks by the source (in the cursor's type), each
// chunk a range run of its own, committed with its bookkeeping row, so a killed backfill
// resumes with the chunks not done yet when the same command runs again.
PipelineResult run_backfill(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, bool& warned_hidden) {
  log::PipelineScope scope(p.name);
  const RunRequest& req = opts.request;
  const std::string chunk_spec = opts.chunk.empty() ? p.chunk : opts.chunk;
  if (!req.from || !req.to)
    throw ConfigError("pipeline " + p.name + ": a chunked backfill needs both --from and --to");
  ChunkRef range{*req.from, *req.to};
  std::vector<pg::Chunk> chunks;
  {
    pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
    pg::Source src(source);
    SourceShape shape = src.describe(p);
    const ColumnInfo* cursor = shape.find(p.detect.cursor);
    if (!cursor) throw RunError("pipeline " + p.name + ": the source has no column '" + p.detect.cursor + "'");
    // A relative range is fixed once, here; the log shows the absolute bounds to resume with.
    range = {resolve_bound(src, range.range_from, cursor->type), resolve_bound(src, range.range_to, cursor->type)};
    for (const auto& [flag, v] : {std::pair{"--from", range.range_from}, std::pair{"--to", range.range_to}})
      if (auto why = src.input_error(v, cursor->type))
        throw ConfigError(std::string(flag) + " '" + v + "' is not a valid " + cursor->type + " for cursor " +
                          p.detect.cursor + " of pipeline " + p.name + ": " + *why);
    for (const auto& row : src.query_rows(chunk_query(cursor->type, range.range_from, range.range_to, chunk_spec)))
      chunks.push_back({row[0], row[1]});
  }
  if (opts.dry_run) {
    std::cout << "backfill of pipeline " << p.name << ": [" << range.range_from << ", " << range.range_to << ") in "
              << chunks.size() << " chunk(s) of " << chunk_spec << ", one transaction each\n";
    for (const auto& c : chunks) std::cout << "  chunk [" << c.from << ", " << c.to << ")\n";
    if (chunks.empty()) {
      PipelineResult none;
      none.pipeline = p.name;
      return none;
    }
    RunOptions first = opts;
    first.request.from = chunks[0].from;
    first.request.to = chunks[0].to;
    return run_one(cfg, p, first, warned_hidden);
  }
  std::vector<pg::Chunk> pending;
  {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    pg::StateStore store(state, cfg.state.schema);
    store.ensure_schema();
    pending = store.register_chunks(p.name, range, chunks, opts.restart);
  }
  PipelineResult total;
  total.pipeline = p.name;
  total.window = "range [" + range.range_from + ", " + range.range_to + ") in " + std::to_string(chunks.size()) +
                 " chunk(s)";
  spdlog::info("backfill [{}, {}): {} chunk(s) of {}, {} to do, {} job(s)", range.range_from, range.range_to,
               chunks.size(), chunk_spec, pending.size(), opts.jobs);
  const auto t0 = std::chrono::steady_clock::now();

  // A worker claims chunks until none is left. Workers in other processes, on other hosts
  // too, that run the same command share the chunks through the state database.
  auto work = [&]() {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection claims(state_name, cfg.connections.at(state_name), "tidemark");
    pg::StateStore store(claims, cfg.state.schema);
    int mine = 0;
    while (auto c = store.claim_chunk(p.name, range)) {
      RunOptions one = opts;
      one.request = RunRequest{RunMode::kRange, c->from, c->to, range};
      PipelineResult r;
      try {
        r = run_one(cfg, p, one, warned_hidden);
      } catch (...) {
        store.release_chunk(p.name, range, *c);
        throw;
      }
      store.release_chunk(p.name, range, *c);
      total.rows_read += r.rows_read;
      total.rows_written += r.rows_written;
      total.rows_deleted += r.rows_deleted;
      total.run_id = r.run_id;
      ++mine;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double rate = secs > 0 ? static_cast<double>(total.rows_read) / secs : 0.0;
      int64_t done = 0, all = static_cast<int64_t>(chunks.size());
      for (const auto& b : store.backfills({p.name}))  // every worker's progress
        if (b.range_from == range.range_from && b.range_to == range.range_to) done = b.done;
      const double eta = static_cast<double>(all - done) * (secs / mine) / std::max(1, opts.jobs);
      spdlog::info("chunk {}/{} done [{}, {}): read {}, wrote {}, deleted {}; {:.0f} rows/s; about {:.0f}s left", done,
                   all, c->from, c->to, r.rows_read, r.rows_written, r.rows_deleted, rate, eta);
    }
  };
  if (opts.jobs <= 1) {
    work();
  } else {
    // --jobs N: N worker processes, each with its own connections.
    std::fflush(nullptr);
    std::vector<pid_t> children;
    for (int i = 0; i < opts.jobs; ++i) {
      pid_t pid = fork();
      if (pid == 0) {
        int code = 0;
        try {
          work();
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
    }
    int worst = 0;
    for (pid_t c : children) {
      int status = 0;
      waitpid(c, &status, 0);
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : kExitRunFailed;
      if (code == kExitRunFailed || (code != 0 && worst == 0)) worst = code;
    }
    if (worst == kExitRunFailed) throw RunError("a backfill worker failed; rerun the same command to resume");
    if (worst == kExitUsage) throw ConfigError("a backfill worker met a usage error");
  }
  // What is left was claimed by workers elsewhere, or failed.
  {
    const std::string& state_name = cfg.state_connection(p);
    pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
    pg::StateStore store(state, cfg.state.schema);
    for (const auto& b : store.backfills({p.name}))
      if (b.range_from == range.range_from && b.range_to == range.range_to) {
        spdlog::info("backfill [{}, {}): {}/{} chunks done", b.range_from, b.range_to, b.done, b.total);
        if (opts.jobs > 1) total.rows_written = b.rows_written;  // the workers' sum
      }
  }
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return total;
}

}  // namespace tidemark
