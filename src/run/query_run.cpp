// The query executor: one run of a query strategy (id, updated_at, full), step by step
// (docs/architecture.md has the picture). The data and the new watermark commit in one
// target transaction; when the state lives elsewhere, the state commits after the data
// (every write mode is idempotent, so a crash between the two commits only re-reads the
// delta).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>

#include "run/backfill.hpp"
#include "run/executor.hpp"
#include "run/fault.hpp"
#include "run/observe.hpp"
#include "run/partition_load.hpp"
#include "run/scheduler.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/run_plan.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

// Temp tables are never auto-analyzed. For a small stage the planner's size estimate (from
// the file) already picks the index-driven merge, and ANALYZE would cost about a fifth of the
// run (measured: 28 ms of 130 ms for 20 000 rows); for a large one the statistics pay.
constexpr int64_t kAnalyzeStageRows = 100000;

// The target made to fit the source before anything is read (target.create,
// target.on_schema_change), in a transaction of its own; a dry run only says what it would do.
// The target is described outside a transaction (one round trip); one is begun only for DDL.
void fit_target_schema(const PipelineConfig& p, SourceShape& shape, pg::Connection& conn, bool dry_run) {
  pg::Target t(conn);
  const auto existing = t.describe(p.target.table);
  const TargetNamespace where = !existing && p.target.create ? t.target_namespace(p.target.table) : TargetNamespace{};
  const SchemaPlan plan = plan_target_schema(p, shape.columns, existing, where);
  if (plan.error) throw RunError(*plan.error);
  if (dry_run) {
    for (const auto& note : plan.notes) spdlog::info("would have {}", note);
  } else if (!plan.ddl.empty()) {
    t.begin();
    // The notes say what happened, so they are logged only once the DDL has committed.
    for (const auto& ddl : plan.ddl) {
      try {
        t.run_ddl(ddl);
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
  } else {
    for (const auto& note : plan.notes) spdlog::info("{}", note);
  }
  auto& cols = shape.columns;
  cols.erase(std::remove_if(cols.begin(), cols.end(),
                            [&](const ColumnInfo& c) {
                              return std::find(plan.ignored.begin(), plan.ignored.end(), c.name) != plan.ignored.end();
                            }),
             cols.end());
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

// The target side of a run: each load() is one target transaction that stages a delta,
// applies it with the plan's writer, and commits the watermark `next` with it.
class Loader {
 public:
  Loader(RunPlan& plan, pg::Source& src, pg::Target& tgt, StateBackend& state, const RunRequest& req,
         PipelineResult& res, RunProgress& pr, const StoredState& st)
      : plan_(plan), p_(*plan.pipeline), src_(src), tgt_(tgt), state_(state), req_(req), res_(res), pr_(pr), seen_(st) {}

  // A run whose window turned out empty in its snapshot (Observed::nothing_beyond): nothing
  // to stage, check or apply, so no target transaction; the state (its version, and a pending
  // mark promoted) and the run record commit together in one statement, with the fault points
  // in the order a load passes them.
  void commit_nothing(const std::optional<Watermark>& next) {
    fault_point("after_stage");
    fault_point("after_apply");
    Committed& done = pr_.committed;
    if (next) res_.after = *next;
    const pg::RunRecord rec{res_.run_id, "succeeded", res_.rows_read, res_.rows_written, res_.rows_deleted, res_.after, ""};
    pr_.in_transaction = true;
    if (state_.with_data()) fault_point("before_commit");
    else {
      fault_point("before_commit");
      fault_point("after_commit");  // where a load's data commit would be, before its state
    }
    state_.save_after_data(seen_, next, rec, std::nullopt);
    pr_.in_transaction = false;
    ++done.transactions;
    done.state_behind = false;
    if (next) done.watermark = *next;
    if (state_.with_data()) fault_point("after_commit");
  }

  void load(const Sql& delta, const std::optional<Watermark>& next, bool last) {
    RunPlan& rp = plan_;
    WriteInput& wi = rp.write;
    pr_.in_transaction = true;
    tgt_.begin();
    // partition_overwrite reads the complete rows of every window the delta touches, and
    // locks the target before anything else touches it (a run with nothing to replace does not).
    const Sql select = rp.by_window ? partition_windows(src_, p_, delta, wi) : delta;
    if (rp.by_window && (!wi.partitions->windows.empty() || wi.target_range)) tgt_.exec(partition_lock(p_.target.table));
    if (!target_checked_) check_target();
    // partition_overwrite without duplicate keys empties its windows first, then copies their
    // rows straight in (partition_load.cpp).
    const bool direct = rp.load == LoadPath::kDirect ||
                        (rp.load == LoadPath::kDirectIfEmpty && tgt_.claim_if_empty(p_.target.table));
    if (direct && rp.extract.replace_target) res_.rows_deleted += tgt_.delete_all(p_.target.table);
    if (direct && rp.by_window) res_.rows_deleted += partition_clear(src_, tgt_, p_, delta, *rp.writer, wi);
    const std::string into = direct ? p_.target.table.quoted() : kStageTable;
    if (!direct) tgt_.create_stage(kStageTable, p_.target.table, rp.extract.columns);
    spdlog::trace("extract: {}", select.display());
    spdlog::debug("loading {}", direct ? "directly into the target" : "through the staging table");
    int64_t read = 0;
    {
      pg::Target::CopyIn copy(tgt_, into, rp.extract.columns, "target '" + p_.target.connection + "'");
      // A direct load skips the writer's statements, so soft-deleted rows are left out here.
      read = src_.copy_out(direct ? without_soft_deleted(select, wi) : select,
                           [&copy](const std::string& line) { copy.write(line); });
      copy.complete();
    }
    res_.rows_read += read;
    if (direct) res_.rows_written += read;
    fault_point("after_stage");
    if (!direct && wi.partitions) partition_fast_path(tgt_, p_, wi);
    // A range run with nothing left at the source still replaces its range.
    if (!direct && (read > 0 || rp.extract.replace_target || wi.target_range)) apply(read);
    fault_point("after_apply");
    commit(next, last);
  }

 private:
  // Once per run, in its first transaction: the target has the staged columns (and those
  // whose type has no equality are compared as text), and upsert's ON CONFLICT has its key.
  void check_target() {
    WriteInput& wi = plan_.write;
    std::string missing;
    const auto tcols = tgt_.columns(p_.target.table);
    for (const auto& c : plan_.extract.columns) {
      auto it = std::find_if(tcols.begin(), tcols.end(), [&c](const pg::Target::Column& t) { return t.name == c; });
      if (it == tcols.end()) missing += (missing.empty() ? "" : ", ") + c;
      else if (!it->has_equality) wi.text_compare.push_back(c);
    }
    if (!missing.empty())
      throw RunError("target table " + p_.target.table.display() + " lacks source column(s): " + missing);
    if (plan_.writer->caps().needs_unique_key && !tgt_.key_is_unique(p_.target.table, p_.target.key))
      throw RunError("target table " + p_.target.table.display() + " has no primary key or unique constraint on (" +
                     ident_list(p_.target.key) + "), which write mode " + plan_.writer->name() +
                     " needs for ON CONFLICT");
    target_checked_ = true;
  }

  void apply(int64_t staged) {
    if (staged >= kAnalyzeStageRows) tgt_.analyze(kStageTable);
    for (const auto& s : plan_.writer->statements(plan_.write)) {
      spdlog::trace("apply: {}", s.sql.display());
      const int64_t n = tgt_.exec(s.sql);
      if (s.effect == WriteStatement::Effect::kWritten) res_.rows_written += n;
      if (s.effect == WriteStatement::Effect::kDeleted) res_.rows_deleted += n;
    }
  }

  // The state and the run record with the data (state in the target database), or after it.
  void commit(const std::optional<Watermark>& next, bool last) {
    Committed& done = pr_.committed;
    if (next) res_.after = *next;
    pg::RunRecord rec{res_.run_id,       last ? "succeeded" : "running", res_.rows_read, res_.rows_written,
                      res_.rows_deleted, res_.after,                      ""};
    StateBackend::Chunk chunk;
    if (req_.chunk) chunk = std::make_pair(*req_.chunk, *req_.from);
    if (state_.with_data()) state_.save_with_data(tgt_, seen_, next, rec, chunk);
    fault_point("before_commit");
    tgt_.commit();
    pr_.in_transaction = false;
    ++done.transactions;
    done.rows_read = res_.rows_read;
    done.rows_written = res_.rows_written;
    done.rows_deleted = res_.rows_deleted;
    done.state_behind = !state_.with_data();
    if (next && state_.with_data()) done.watermark = *next;
    fault_point("after_commit");
    // Otherwise data first, then state: a crash between them re-reads this delta next run,
    // which idempotent writes absorb (docs/correctness.md).
    if (!state_.with_data()) {
      state_.save_after_data(seen_, next, rec, chunk);
      done.state_behind = false;
      if (next) done.watermark = *next;
    }
    if (next) {
      seen_.exists = true;
      ++seen_.version;
    }
  }

  RunPlan& plan_;
  const PipelineConfig& p_;
  pg::Source& src_;
  pg::Target& tgt_;
  StateBackend& state_;
  const RunRequest& req_;
  PipelineResult& res_;
  RunProgress& pr_;
  StoredState seen_;  // the state version the next compare-and-set expects
  bool target_checked_ = false;
};

// Carries out `rp`: observe and read in one source snapshot, then one load per batch (or
// one for the whole delta), each with the watermark the rule gives for what it read.
void execute(RunContext& ctx, RunPlan& rp, const StoredState& st, pg::Source& src, Loader& loader,
             PipelineResult& res, const Sql* tie_high, const std::function<void()>& replan) {
  const ExtractPlan& plan = rp.extract;
  const PipelineConfig& p = *rp.pipeline;
  const bool reset = rp.mode == RunMode::kFullRefresh;
  if (!rp.tracks_watermark) {
    src.begin_snapshot();
    check_null_keys(src, p, plan);
    loader.load(plan.select, plan.moves_watermark ? std::optional<Watermark>(Watermark{}) : std::nullopt, true);
    return;
  }
  // `plan` refers to rp.extract, so after a replan it is the remade plan.
  Observed o = observe(src, plan, st, !ctx.warned_hidden.exchange(true), [&]() -> const ExtractPlan& {
    replan();
    return plan;
  }, tie_high);
  check_null_keys(src, p, plan);
  if (o.nothing_beyond && empty_window_skips_load(rp)) {
    spdlog::debug("nothing beyond the watermark in this snapshot: no load");
    loader.commit_nothing(next_watermark(st.watermark, o.obs, reset));
    return;
  }
  if (!rp.batched) {
    loader.load(plan.select, next_watermark(st.watermark, o.obs, reset), true);
    return;
  }
  // Each batch ends at the batch_size-th tuple and commits with the watermark of a run that
  // read up to there; all batches share the one source snapshot.
  std::optional<Tuple> after;
  for (int batches = 1;; ++batches) {
    std::optional<Tuple> upto = src.query_tuple(batch_bound_query(plan, after));
    Observation obs = o.obs;
    if (upto) {
      observe_high(src, plan, st, o, upto, obs);
      // A batch that ends below the stored high has not yet re-read the whole band the
      // pending mark waits for, so it must not promote that mark.
      if (!obs.high) obs.pending_ended = false;
    }
    loader.load(batch_select(plan, after, upto), next_watermark(st.watermark, obs, reset), !upto);
    spdlog::debug("batch {} committed: {} rows so far, up to {}", batches, res.rows_read, tuple_text(upto));
    if (!upto) return;
    after = upto;
  }
}

// The steps of run_one; `pr` follows them (what is committed, whether the run record exists).
PipelineResult run_steps(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress& pr) {
  log::PipelineScope scope(p.name);
  const Config& cfg = ctx.config();
  PipelineResult res;
  res.pipeline = p.name;
  const auto t0 = std::chrono::steady_clock::now();
  const Strategy& strategy = *find_strategy(p.detect.strategy);
  const RunRequest& req = opts.request;

  // The lock and the stored state, on sessions opened side by side when they are new.
  ctx.open_for(p);
  pg::Connection& target = ctx.writer(p.target.connection);
  pg::Connection& state_conn = ctx.state(p);
  pg::Connection& source = ctx.source(p.source.connection);
  const std::unique_ptr<StateBackend> backend = open_state(cfg, p, state_conn);
  StateBackend& state = *backend;
  pr.state_where = state.where();
  state.prepare(opts.dry_run);
  const bool shared = req.chunk.has_value();  // backfill chunks run side by side
  pg::PipelineLock lock(state_conn, cfg.state.schema, p.name, !opts.dry_run, shared);
  pr.state_ready = !opts.dry_run;
  StoredState st = state.load();
  pr.before = st.watermark;
  if (st.exists && st.strategy != p.detect.strategy && req.mode == RunMode::kIncremental)
    throw RunError("pipeline " + p.name + ": its stored watermark belongs to strategy " + st.strategy +
                   ", the config now says " + p.detect.strategy + "; run once with --full-refresh to start over");
  state.check_identity(st, source, target, req.mode, opts.dry_run);  // before anything is written
  res.before = st.watermark;

  // What the plan is made from: the source's shape (the target fitted to it) and the range.
  pg::Source src(source);
  SourceShape shape = src.describe(p);
  fit_target_schema(p, shape, target, opts.dry_run);
  RunRequest effective = req;
  if (req.mode == RunMode::kRange && strategy.has_cursor())
    if (const ColumnInfo* cursor = shape.find(p.detect.cursor))
      resolve_range(src, p, cursor->type, shape.time_zone, effective.from, effective.to);
  RunPlan rp = plan_run({p, shape, st, effective});
  res.window = rp.extract.window;
  if (opts.dry_run) {
    plan_output() << plan_text(rp, st, src.estimate_rows(rp.extract.select));
    return res;
  }

  res.run_id = pr.run_id = state.start_run(rp.record_mode, st.watermark);
  pr.recorded = true;
  log::PipelineScope::set_run_id(res.run_id);
  spdlog::debug("window: {}", rp.extract.window);
  if (st.watermark.safe != st.watermark.high && req.mode == RunMode::kIncremental)
    spdlog::debug("re-reading the band after safe {} up to high {} (transactions were in flight there)",
                  tuple_text(st.watermark.safe), tuple_text(st.watermark.high));
  pg::Target tgt(target);
  pr.batched = rp.batched;
  Loader loader(rp, src, tgt, state, req, res, pr, st);
  try {
    res.after = st.watermark;
    // Planned again, from the safe mark cut to its cursor value, when the tie probe holds
    // in the snapshot (ExtractPlan::tie_probe); the watermark rule keeps the stored state.
    const StoredState tie_read = tie_group_read(st);
    // Made before the snapshot (it is pure), so that the snapshot's first statement can read
    // the high mark of whichever plan the probe picks.
    std::optional<RunPlan> tie_rp;
    if (rp.extract.tie_probe) tie_rp = plan_run({p, shape, tie_read, effective});
    execute(ctx, rp, st, src, loader, res, tie_rp ? &tie_rp->extract.high_query : nullptr, [&] {
      rp = tie_rp ? std::move(*tie_rp) : plan_run({p, shape, tie_read, effective});
      res.window = rp.extract.window;
    });
    src.finish();
  } catch (...) {
    tgt.abort();
    // The record keeps what was committed, not what the rolled-back transaction had done.
    const Committed& done = pr.committed;
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

PipelineResult run_query(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress& pr) {
  return run_one(ctx, p, opts, &pr);
}

}  // namespace

PipelineResult run_one(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress* progress) {
  RunProgress own;
  RunProgress& pr = progress ? *progress : own;
  pr = RunProgress{};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    return run_steps(ctx, p, opts, pr);
  } catch (const ConfigError&) {
    throw;  // a usage error of this command (a --from the cursor cannot read): the pipeline did not fail
  } catch (...) {
    // A run that failed before its run record existed (describing the source or the target,
    // planning) is recorded too, so `status` and `history` show every failure cron sees.
    if (pr.state_ready && !pr.recorded) {
      const std::string mode = record_mode(*find_strategy(p.detect.strategy), opts.request.mode);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      record_failure_before_run(ctx.config(), p, mode, pr.before, seconds);
    }
    throw;
  }
}

const Executor& query_executor() {
  static const FunctionExecutor<run_query> e;
  return e;
}

}  // namespace tidemark
