// One run of one pipeline, step by step (docs/architecture.md has the picture). The data
// and the new watermark commit in one target transaction; when the state lives elsewhere,
// the state commits after the data (every write mode is idempotent, so a crash between
// the two commits only re-reads the delta).
#include "tidemark/runner.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>
#include <cstdlib>
#include <iostream>


#include "pg/pg.hpp"
#include "run/fault.hpp"
#include "run/observe.hpp"
#include "run/run_one.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/reconcile.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {

const char* mode_name(RunMode m) {
  switch (m) {
    case RunMode::kIncremental: return "incremental";
    case RunMode::kRange: return "range";
    case RunMode::kFullRefresh: return "full_refresh";
  }
  return "?";
}

namespace {

const char* kStage = "_tm_stage";
constexpr int64_t kAnalyzeStageRows = 100000;

struct Connections {
  std::unique_ptr<pg::Connection> source, target, state_own;
  pg::Connection* state = nullptr;
};

Connections connect(const Config& cfg, const PipelineConfig& p) {
  Connections c;
  // With state.file the state connection is the target's: it only holds the lock.
  const bool shared = cfg.state_with_target(p) || !cfg.state.file.empty();
  c.target = std::make_unique<pg::Connection>(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
  if (shared) {
    c.state = c.target.get();
  } else {
    const std::string& name = cfg.state_connection(p);
    c.state_own = std::make_unique<pg::Connection>(name, cfg.connections.at(name), "tidemark");
    c.state = c.state_own.get();
  }
  c.source = std::make_unique<pg::Connection>(p.source.connection, cfg.connections.at(p.source.connection),
                                              "tidemark-source");
  return c;
}

// The target made to fit the source before anything is read (target.create,
// target.on_schema_change), in a transaction of its own; a dry run only says what it would do.
void fit_target_schema(const PipelineConfig& p, SourceShape& shape, pg::Connection& conn, bool dry_run) {
  pg::Target t(conn);
  t.begin();
  const auto existing = t.describe(p.target.table);
  const TargetNamespace where = !existing && p.target.create ? t.target_namespace(p.target.table) : TargetNamespace{};
  const SchemaPlan plan = plan_target_schema(p, shape.columns, existing, where);
  if (plan.error) {
    t.abort();
    throw RunError(*plan.error);
  }
  if (dry_run) {
    t.abort();
    for (const auto& note : plan.notes) spdlog::info("would have {}", note);
  } else {
    // The notes say what happened, so they are logged only once the DDL has committed.
    for (const auto& ddl : plan.ddl) {
      try {
        t.exec(Sql(ddl));
      } catch (const TransientError& e) {
        t.abort();
        throw TransientError(std::string(e.what()) + "; nothing was created or changed (the schema change was rolled back)");
      } catch (const RunError& e) {
        t.abort();
        throw RunError(std::string(e.what()) + "; nothing was created or changed (the schema change was rolled back)");
      }
    }
    t.commit();
    for (const auto& note : plan.notes) spdlog::info("{}", note);
  }
  auto& cols = shape.columns;
  cols.erase(std::remove_if(cols.begin(), cols.end(),
                            [&](const ColumnInfo& c) {
                              return std::find(plan.ignored.begin(), plan.ignored.end(), c.name) != plan.ignored.end();
                            }),
             cols.end());
}

void print_plan(const PipelineConfig& p, const StoredState& st, const ExtractPlan& plan, const WriteInput& wi,
                const Writer& writer, std::optional<int64_t> estimate) {
  std::cout << "pipeline " << p.name << " (strategy " << p.detect.strategy << ", write " << writer.name() << ", "
            << mode_name(plan.mode) << ")\n";
  std::cout << "  watermark: high " << tuple_text(st.watermark.high) << ", safe " << tuple_text(st.watermark.safe)
            << (st.exists ? ", version " + std::to_string(st.version) : ", no state yet") << "\n";
  std::cout << "  window:    " << plan.window << "\n";
  if (!plan.cursor_zone.empty())
    std::cout << "  time zone: " << plan.cursor_zone << " (from " << plan.cursor_zone_from << "): the " << plan.tuple_types[0]
              << " cursor is read as wall-clock time there\n";
  std::cout << "  extract:   COPY (" << plan.select.display() << ") TO STDOUT\n";
  std::cout << "  estimate:  " << (estimate ? "about " + std::to_string(*estimate) + " row(s) (the planner's EXPLAIN estimate)"
                                            : std::string("unknown")) << "\n";
  if (!plan.high_query.empty()) std::cout << "  high mark: " << plan.high_query.display() << "\n";
  if (plan.batching)
    std::cout << "  batches:   " << plan.batching->size << " rows each, one transaction per batch; bound: "
              << batch_bound_query(plan, std::nullopt).display() << "\n";
  if (wi.partitions)
    std::cout << "  windows:   " << window_query(wi.partitions->by, wi.partitions->type, plan.select).display()
              << "\n             then COPY of the complete rows of those windows; partitions that are exactly one "
                 "window are emptied with TRUNCATE\n  lock:      " << partition_lock(p.target.table).display() << "\n";
  for (const auto& s : writer.statements(wi)) std::cout << "  apply:     " << s.sql.display() << "\n";
  std::cout << "  (dry run: nothing was written)\n";
}

// The mode a run record names: a cursorless strategy reloads everything on every run, so
// record that as what it is.
const char* record_mode(const Strategy& strategy, RunMode mode) {
  return strategy.has_cursor() || mode != RunMode::kIncremental ? mode_name(mode) : "full";
}

// Rows whose key has a NULL are never loaded (a key that cannot be matched would be inserted
// again on every change); their presence in the window fails the run, or, with
// target.null_key: skip, is a warning. Read in the run's snapshot, before anything is written.
void check_null_keys(pg::Source& src, const PipelineConfig& p, const ExtractPlan& plan) {
  if (!plan.null_key_probe) return;
  const auto rows = src.snapshot_rows(*plan.null_key_probe);
  const int64_t n = rows.empty() || !rows[0][0] ? 0 : std::stoll(*rows[0][0]);
  if (n == 0) return;
  std::string what = std::to_string(n) + " source row(s) in this run's window have a NULL in key (" +
                     ident_list(p.target.key) + ")";
  if (rows[0][1]) what += "; the first has " + p.detect.cursor + " = " + *rows[0][1];
  if (p.target.null_key == NullKey::kSkip) {
    spdlog::warn("{}; they are not loaded (target.null_key: skip)", what);
    return;
  }
  throw RunError("pipeline " + p.name + ": " + what +
                 ". A row without a complete key can never be matched, so each change would load it again; "
                 "nothing was loaded by this run. Give those rows a key, or set target.null_key: skip to leave "
                 "them out with a warning");
}

}  // namespace

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

namespace {

// The steps of run_one; `pr` follows them (what is committed, whether the run record exists).
PipelineResult run_steps(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, bool& warned_hidden,
                         RunProgress& pr) {
  log::PipelineScope scope(p.name);
  PipelineResult res;
  res.pipeline = p.name;
  const auto t0 = std::chrono::steady_clock::now();
  const Strategy& strategy = *find_strategy(p.detect.strategy);
  const RunRequest& req = opts.request;

  Connections conns = connect(cfg, p);
  const std::unique_ptr<StateBackend> backend = open_state(cfg, p, *conns.state);
  StateBackend& state = *backend;
  pr.state_where = state.where();
  state.prepare(opts.dry_run);
  const bool shared = req.chunk.has_value();  // backfill chunks run side by side
  pg::PipelineLock lock(*conns.state, cfg.state.schema, p.name, !opts.dry_run, shared);
  pr.state_ready = !opts.dry_run;

  StoredState st = state.load();
  pr.before = st.watermark;
  if (st.exists && st.strategy != p.detect.strategy && req.mode == RunMode::kIncremental)
    throw RunError("pipeline " + p.name + ": its stored watermark belongs to strategy " + st.strategy +
                   ", the config now says " + p.detect.strategy + "; run once with --full-refresh to start over");
  state.check_identity(st, *conns.source, *conns.target, req.mode, opts.dry_run);  // before anything is written
  res.before = st.watermark;

  pg::Source src(*conns.source);
  SourceShape shape = src.describe(p);
  fit_target_schema(p, shape, *conns.target, opts.dry_run);
  // Range bounds are resolved (relative forms) and checked against the cursor's type before
  // anything runs.
  RunRequest effective = req;
  if (req.mode == RunMode::kRange && strategy.has_cursor())
    if (const ColumnInfo* cursor = shape.find(p.detect.cursor))
      resolve_range(src, p, cursor->type, shape.time_zone, effective.from, effective.to);
  ExtractPlan plan = strategy.plan({p, shape, st, effective});
  res.window = plan.window;
  // A range run replaces the range: rows deleted at the source inside it disappear from the
  // target too (delete_insert semantics, whatever the incremental write mode).
  const bool by_window = p.target.write == "partition_overwrite" && !plan.replace_target;
  const Writer& writer = plan.replace_target ? *find_writer("full_refresh")
                         : !by_window && plan.mode == RunMode::kRange && !p.target.key.empty()
                             ? *find_writer("delete_insert")
                             : *find_writer(p.target.write);
  WriteInput wi{p.target.table, kStage, plan.columns, p.target.key, plan.order_column, plan.target_range,
                !p.target.key.empty() && !shape.key_unique};
  if (const auto& sd = p.detect.soft_delete; sd && sd->mode == SoftDeleteConfig::Mode::kDelete) {
    const ColumnInfo* c = shape.find(sd->column);  // docs/deletes.md
    if (!c) throw RunError("pipeline " + p.name + ": the source has no soft_delete column '" + sd->column + "'");
    wi.soft_delete_column = sd->column;
    wi.soft_delete_boolean = c->type == "boolean";
  }
  if (plan.mode == RunMode::kFullRefresh || (plan.mode == RunMode::kIncremental && !st.watermark.high)) {
    wi.reread = WriteInput::Reread::kNone;  // nothing was loaded before: every row is new
  } else if (plan.mode == RunMode::kIncremental && !plan.tuple_types.empty()) {
    wi.reread = WriteInput::Reread::kUpToBound;
    wi.reread_bound = Sql("CAST(").value((*st.watermark.high)[0]).text(" AS " + plan.tuple_types[0] + ")");
  }
  if (by_window) wi.partitions = partition_setup(p, shape);
  if (opts.dry_run) {
    if (by_window) partition_dry_run(p, wi);
    print_plan(p, st, plan, wi, writer, src.estimate_rows(plan.select));
    return res;
  }

  const char* mode = record_mode(strategy, req.mode);
  res.run_id = pr.run_id = state.start_run(mode, st.watermark);
  pr.recorded = true;
  log::PipelineScope::set_run_id(res.run_id);
  spdlog::debug("window: {}", plan.window);
  if (st.watermark.safe != st.watermark.high && req.mode == RunMode::kIncremental)
    spdlog::debug("re-reading the band after safe {} up to high {} (transactions were in flight there)",
                  tuple_text(st.watermark.safe), tuple_text(st.watermark.high));
  pg::Target tgt(*conns.target);
  StoredState seen = st;  // the state version the next compare-and-set expects
  bool target_checked = false;

  // One target transaction: stage `select`, apply, and commit `next` with it.
  Committed& done = pr.committed;
  pr.batched = plan.batching.has_value() && plan.moves_watermark && strategy.has_cursor();
  auto load = [&](const Sql& delta, const std::optional<Watermark>& next, bool last) {
    pr.in_transaction = true;
    tgt.begin();
    // partition_overwrite reads the complete rows of every window the delta touches, and
    // locks the target before anything else touches it (a run with nothing to replace does not).
    const Sql select = by_window ? partition_windows(src, p, delta, wi) : delta;
    if (by_window && (!wi.partitions->windows.empty() || wi.target_range)) tgt.exec(partition_lock(p.target.table));
    if (!target_checked) {
      std::string missing;
      const auto tcols = tgt.columns(p.target.table);
      for (const auto& c : plan.columns) {
        auto it = std::find_if(tcols.begin(), tcols.end(), [&c](const pg::Target::Column& t) { return t.name == c; });
        if (it == tcols.end()) missing += (missing.empty() ? "" : ", ") + c;
        else if (!it->has_equality) wi.text_compare.push_back(c);
      }
      if (!missing.empty())
        throw RunError("target table " + p.target.table.display() + " lacks source column(s): " + missing);
      if (writer.name() == "upsert" && !tgt.key_is_unique(p.target.table, p.target.key))
        throw RunError("target table " + p.target.table.display() + " has no primary key or unique constraint on (" +
                       ident_list(p.target.key) + "), which write mode upsert needs for ON CONFLICT");
      target_checked = true;
    }
    // Direct load: when the source cannot repeat a key and the target is empty (or is being
    // replaced), every write mode reduces to inserting the rows, so COPY goes straight into
    // the target and the staging copy and merge are skipped.
    // partition_overwrite without duplicate keys empties its windows first, then copies their
    // rows straight in (partition_load.cpp).
    const bool clear_windows = by_window && !wi.dedupe;
    bool direct = !wi.dedupe && (clear_windows || plan.replace_target || tgt.claim_if_empty(p.target.table));
    if (direct && plan.replace_target) res.rows_deleted += tgt.exec(Sql("DELETE FROM " + p.target.table.quoted()));
    if (clear_windows) res.rows_deleted += partition_clear(src, tgt, p, delta, writer, wi);
    const std::string into = direct ? p.target.table.quoted() : kStage;
    if (!direct) tgt.create_stage(kStage, p.target.table, plan.columns);
    spdlog::trace("extract: {}", select.display());
    spdlog::debug("loading {}", direct ? "directly into the target" : "through the staging table");
    int64_t read = 0;
    {
      pg::Target::CopyIn copy(tgt.tx(), into, plan.columns, "target '" + p.target.connection + "'");
      // A direct load skips the writer's statements, so soft-deleted rows are left out here.
      read = src.copy_out(direct ? without_soft_deleted(select, wi) : select,
                          [&copy](const std::string& line) { copy.write(line); });
      copy.complete();
    }
    res.rows_read += read;
    if (direct) res.rows_written += read;
    fault_point("after_stage");
    if (!direct && wi.partitions) partition_fast_path(tgt, p, wi);
    // A range run with nothing left at the source still replaces its range.
    if (!direct && (read > 0 || plan.replace_target || wi.target_range)) {
      // Temp tables are never auto-analyzed. For a small stage the planner's size estimate
      // (from the file) already picks the index-driven merge, and ANALYZE would cost about
      // a fifth of the run (measured: 28 ms of 130 ms for 20 000 rows); for a large one the
      // statistics pay for themselves.
      if (read >= kAnalyzeStageRows) tgt.exec(Sql(std::string("ANALYZE ") + kStage));
      for (const auto& s : writer.statements(wi)) {
        spdlog::trace("apply: {}", s.sql.display());
        int64_t n = tgt.exec(s.sql);
        if (s.effect == WriteStatement::Effect::kWritten) res.rows_written += n;
        if (s.effect == WriteStatement::Effect::kDeleted) res.rows_deleted += n;
      }
    }
    fault_point("after_apply");
    if (next) res.after = *next;
    pg::RunRecord rec{res.run_id,       last ? "succeeded" : "running", res.rows_read, res.rows_written,
                      res.rows_deleted, res.after,                      ""};
    StateBackend::Chunk chunk;
    if (req.chunk) chunk = std::make_pair(*req.chunk, *req.from);
    if (state.with_data()) state.save_with_data(tgt, seen, next, rec, chunk);
    fault_point("before_commit");
    tgt.commit();
    pr.in_transaction = false;
    ++done.transactions;
    done.rows_read = res.rows_read;
    done.rows_written = res.rows_written;
    done.rows_deleted = res.rows_deleted;
    done.state_behind = !state.with_data();
    if (next && state.with_data()) done.watermark = *next;
    fault_point("after_commit");
    // Otherwise data first, then state: a crash between them re-reads this delta next run,
    // which idempotent writes absorb (docs/correctness.md).
    if (!state.with_data()) {
      state.save_after_data(seen, next, rec, chunk);
      done.state_behind = false;
      if (next) done.watermark = *next;
    }
    if (next) {
      seen.exists = true;
      ++seen.version;
    }
  };

  try {
    res.after = st.watermark;
    const bool tracks = plan.moves_watermark && strategy.has_cursor();
    const bool reset = req.mode == RunMode::kFullRefresh;
    if (tracks) {
      Observed o = observe(src, plan, st, !warned_hidden);
      warned_hidden = true;
      check_null_keys(src, p, plan);
      if (plan.batching) {
        // Each batch ends at the batch_size-th tuple and commits with the watermark of a run
        // that read up to there; all batches share the one source snapshot.
        std::optional<Tuple> after;
        int batches = 0;
        for (;;) {
          std::optional<Tuple> upto = src.query_tuple(batch_bound_query(plan, after));
          Observation obs = o.obs;
          if (upto) {
            observe_high(src, plan, st, o, upto, obs);
            // A batch that ends below the stored high has not yet re-read the whole band
            // the pending mark waits for, so it must not promote that mark.
            if (!obs.high) obs.pending_ended = false;
          }
          load(batch_select(plan, after, upto), next_watermark(st.watermark, obs, reset), !upto);
          ++batches;
          spdlog::debug("batch {} committed: {} rows so far, up to {}", batches, res.rows_read, tuple_text(upto));
          if (!upto) break;
          after = upto;
        }
      } else {
        load(plan.select, next_watermark(st.watermark, o.obs, reset), true);
      }
    } else {
      src.begin_snapshot();
      check_null_keys(src, p, plan);
      load(plan.select, plan.moves_watermark ? std::optional<Watermark>(Watermark{}) : std::nullopt, true);
    }
    src.finish();
  } catch (...) {
    tgt.abort();
    // The record keeps what was committed, not what the rolled-back transaction had done.
    PipelineResult kept = res;
    kept.rows_read = done.rows_read;
    kept.rows_written = done.rows_written;
    kept.rows_deleted = done.rows_deleted;
    state.failed(kept, done.watermark);
    throw;
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace

PipelineResult run_one(const Config& cfg, const PipelineConfig& p, const RunOptions& opts, bool& warned_hidden,
                       RunProgress* progress) {
  RunProgress own;
  RunProgress& pr = progress ? *progress : own;
  pr = RunProgress{};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    return run_steps(cfg, p, opts, warned_hidden, pr);
  } catch (const ConfigError&) {
    throw;  // a usage error of this command (a --from the cursor cannot read): the pipeline did not fail
  } catch (...) {
    // A run that failed before its run record existed (describing the source or the target,
    // planning) is recorded too, so `status` and `history` show every failure cron sees.
    if (pr.state_ready && !pr.recorded) {
      const char* mode = record_mode(*find_strategy(p.detect.strategy), opts.request.mode);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      record_failure_before_run(cfg, p, mode, pr.before, seconds);
    }
    throw;
  }
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

std::vector<const PipelineConfig*> select_pipelines(const Config& cfg, const std::vector<std::string>& names) {
  std::vector<const PipelineConfig*> out;
  if (names.empty()) {
    for (const auto& p : cfg.pipelines) out.push_back(&p);
    return out;
  }
  std::vector<std::string> all;
  for (const auto& p : cfg.pipelines) all.push_back(p.name);
  for (const auto& n : names) {
    const PipelineConfig* p = cfg.find(n);
    if (!p) throw ConfigError(cfg.path + ": no pipeline named '" + n + "'" + did_you_mean(n, all));
    out.push_back(p);
  }
  return out;
}

std::vector<PipelineResult> run_pipelines(const Config& cfg, const RunOptions& opts) {
  std::vector<PipelineResult> results;
  bool warned_hidden = false;
  for (const PipelineConfig* p : select_pipelines(cfg, opts.pipelines)) {
    PipelineResult r;
    r.pipeline = p->name;
    RunProgress progress;  // of the latest attempt
    // --advance-watermark needs a backfill's bookkeeping: without a chunk size, the range is
    // one chunk.
    const bool chunked = opts.request.mode == RunMode::kRange &&
                         (!opts.chunk.empty() || !p->chunk.empty() || opts.advance_watermark);
    auto once = [&]() -> PipelineResult {
      if (chunked && !cfg.state.file.empty())
        throw ConfigError("pipeline " + p->name + ": chunked backfills (--chunk, --jobs, --advance-watermark) record "
                          "their chunks in the state schema, which state.file replaces; run the range without them "
                          "(one transaction)");
      if (p->detect.strategy == "files") {
        if (chunked)
          throw ConfigError("pipeline " + p->name + ": strategy files loads one file per transaction; --chunk, "
                            "--jobs and --advance-watermark do not apply");
        return run_files(cfg, *p, opts);
      }
      if (p->detect.strategy == "cdc") return run_cdc(cfg, *p, opts);
      return chunked ? run_backfill(cfg, *p, opts, warned_hidden, &progress)
                     : run_one(cfg, *p, opts, warned_hidden, &progress);
    };
    try {
      // A lost connection or a serialization failure changed nothing: with `retries`, try again.
      for (int attempt = 0;; ++attempt) {
        try {
          r = once();
          break;
        } catch (const TransientError& e) {
          if (attempt >= cfg.retries.attempts) throw;
          const int64_t wait_ms = std::min<int64_t>(cfg.retries.backoff_ms << std::min(attempt, 16), 300000);
          log::PipelineScope scope(p->name);
          spdlog::warn("{}; retrying in {:.1f}s (retry {} of {})", redact_text(e.what()), wait_ms / 1000.0,
                       attempt + 1, cfg.retries.attempts);
          std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        }
      }
      if (!opts.dry_run) {
        log::PipelineScope scope(p->name);
        log::PipelineScope::set_run_id(r.run_id);
        const std::string where = p->detect.strategy == "files" || p->detect.strategy == "cdc"
                                      ? r.window  // "2 file(s) loaded, 1 skipped", "slot … at …"
                                      : "high " + tuple_text(r.after.high) + " safe " + tuple_text(r.after.safe);
        spdlog::info("{} run: read {} rows, wrote {}, deleted {}; {}; {:.3f}s", mode_name(opts.request.mode), r.rows_read,
                     r.rows_written, r.rows_deleted, where, r.seconds);
        if (opts.request.mode == RunMode::kIncremental) reconcile_if_due(cfg, *p, r);  // reconcile: {every: N}
      }
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
      r.outcome = PipelineResult::Outcome::kFailed;
      r.error = redact_text(e.message());
      log::PipelineScope scope(p->name);
      spdlog::error("{}; {}", r.error, chunked ? "chunks committed before it stay committed; rerun the same command to resume"
                                               : "nothing was read or written");
    } catch (const std::exception& e) {
      r.outcome = PipelineResult::Outcome::kFailed;
      r.error = redact_text(e.what());
      log::PipelineScope scope(p->name);
      if (p->detect.strategy == "files" || p->detect.strategy == "cdc") {
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
    results.push_back(std::move(r));
  }
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
