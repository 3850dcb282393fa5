// `tidemark reconcile` and `reconcile: {every: N}` (docs/deletes.md#reconcile): lock ->
// state -> compare key sets range by range -> verify the candidates -> guard rails -> delete
// and record the run, in one target transaction.
//
// Only rows at or below the pipeline's safe mark are compared: rows above it may not be
// loaded yet (they are not "missing"), and target rows above it are never deleted. A target
// key missing from the filtered source is only a candidate: the source row may have moved
// above the safe mark since (an update not loaded yet), so every candidate is looked up in
// the whole source before anything is deleted.
#include "tidemark/reconcile.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "pg/reconcile.hpp"
#include "run/executor.hpp"
#include "run/run_state.hpp"
#include "run/run_state.hpp"
#include "tidemark/compare.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/reconcile_descent.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

namespace {

constexpr size_t kSampleKeys = 20;

}  // namespace

ReconcileResult reconcile_pipeline(const Config& cfg, const PipelineConfig& p, const ReconcileOptions& opts) {
  log::PipelineScope scope(p.name);
  const auto t0 = std::chrono::steady_clock::now();
  ReconcileResult res;
  res.pipeline = p.name;
  res.dry_run = opts.dry_run;
  res.max_delete_ratio = opts.max_delete_ratio ? *opts.max_delete_ratio
                         : p.reconcile         ? p.reconcile->max_delete_ratio
                                               : 0.1;
  const Strategy& strategy = *find_strategy(p.detect.strategy);
  if (!strategy.caps().reconcile || p.target.key.empty())
    throw ConfigError("pipeline " + p.name + ": reconcile compares the keys of watermark pipelines (strategies id and "
                      "updated_at with target.key); strategy " + p.detect.strategy + " does not apply");
  if (!cfg.state.file.empty())
    throw ConfigError("pipeline " + p.name + ": reconcile records its runs in the state schema, which state.file "
                      "replaces; it is not available with state.file");

  const bool shared = cfg.state_with_target(p);
  pg::Connection target(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
  std::unique_ptr<pg::Connection> state_own;
  if (!shared) {
    const std::string& name = cfg.state_connection(p);
    state_own = std::make_unique<pg::Connection>(name, cfg.connections.at(name), "tidemark");
  }
  pg::Connection& state_conn = shared ? target : *state_own;
  pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
  pg::StateStore store(state_conn, cfg.state.schema);
  if (!opts.dry_run) store.ensure_schema();
  // Never beside a run: a run's rows not committed yet would look missing or extra.
  pg::PipelineLock lock(state_conn, cfg.state.schema, p.name, !opts.dry_run, false, "reconcile skipped");

  const StoredState st = store.load(p.name);
  check_state_identity(cfg, p, st, source, target, RunMode::kIncremental, opts.dry_run, &store, nullptr);
  if (!st.exists || !st.watermark.safe)
    throw RunError("pipeline " + p.name + ": no safe watermark yet, so no row is known to be loaded; run it first");
  if (st.strategy != p.detect.strategy)
    throw RunError("pipeline " + p.name + ": its stored watermark belongs to strategy " + st.strategy +
                   ", the config says " + p.detect.strategy + "; run once with --full-refresh first");
  pg::Source src(source);
  const SourceShape shape = src.describe(p);
  const ExtractPlan plan = strategy.plan({p, shape, st, RunRequest{}});
  if (st.watermark.columns != plan.tuple_columns)
    throw RunError("pipeline " + p.name + ": the stored watermark is over (" + ident_list(st.watermark.columns) +
                   ") but the cursor and key are now (" + ident_list(plan.tuple_columns) +
                   "); run once with --full-refresh first");
  res.safe = tuple_text(st.watermark.safe);
  const bool include_null = p.detect.null_cursor == NullCursor::kInclude;
  const Sql filter = compare::settled(st.watermark, plan.tuple_types, include_null);

  // With soft deletes (mode delete) a source row marked deleted counts as gone: that also
  // catches deletions an id pipeline never re-reads.
  std::optional<Sql> alive;
  if (const auto& sd = p.detect.soft_delete; sd && sd->mode == SoftDeleteConfig::Mode::kDelete) {
    const ColumnInfo* c = shape.find(sd->column);
    if (!c) throw RunError("pipeline " + p.name + ": the source has no soft_delete column '" + sd->column + "'");
    alive = compare::alive(sd->column, c->type);
  }
  const ColumnInfo* key0 = shape.find(p.target.key[0]);
  const bool integer_key =
      compare::integer_partition(p.target.key, key0 ? std::optional<std::string>(key0->type) : std::nullopt);
  pg::KeySet sset{compare::source_relation(p.source), p.target.key, alive ? compare::both(filter, *alive) : filter,
                  !shape.key_unique, integer_key};
  pg::KeySet tset{p.target.table.quoted(), p.target.key, filter, false, integer_key};

  int64_t run_id = 0;
  if (!opts.dry_run) run_id = store.start_run(p.name, "reconcile", st.watermark);
  res.run_id = run_id;
  log::PipelineScope::set_run_id(run_id);
  PipelineResult rec_state;  // for record_failed_run
  rec_state.run_id = run_id;
  try {
    pg::KeySide s(source, sset, true), t(target, tset, false);
    auto count_queries = [&] { res.queries = s.queries() + t.queries(); };
    const pg::RangeStats rs = s.root(), rt = t.root();
    res.source_keys = rs.count;
    res.target_keys = rt.count;
    res.ranges_compared = 1;
    std::vector<Tuple> doomed;
    if (!reconcile::same(rs, rt)) {
      const auto refuse = [&](const std::optional<std::string>& why) {
        if (why) throw RunError("pipeline " + p.name + ": " + *why);
      };
      refuse(reconcile::empty_source_refusal(rs, rt, res.safe));
      refuse(reconcile::lower_bound_refusal(rs, rt, strategy.caps().immutable_cursor, res.max_delete_ratio));
      reconcile::Descent descent(rs, rt);
      while (auto level = descent.next_level()) {
        auto source_buckets = s.buckets(level->lo, level->shift, level->within);
        const size_t n = descent.compared(source_buckets, t.buckets(level->lo, level->shift, level->within));
        res.levels = descent.levels();
        res.ranges_compared += static_cast<int64_t>(n);
        spdlog::debug("reconcile level {}: {} range(s) compared, {} to split, {} to read", res.levels, n,
                      descent.to_split(), descent.to_read());
      }
      res.ranges_fetched = static_cast<int64_t>(descent.to_read());
      std::set<Tuple> in_source;
      std::vector<Tuple> in_target;
      for (const auto& within : descent.fetches()) {
        for (auto& k : s.keys(within)) in_source.insert(std::move(k));
        for (auto& k : t.keys(within)) in_target.push_back(std::move(k));
      }
      res.keys_fetched = static_cast<int64_t>(in_source.size() + in_target.size());
      const std::vector<Tuple> candidates = reconcile::candidates(in_target, in_source);
      // A candidate whose source row now lies above the safe mark (updated, not loaded yet)
      // still exists: look every candidate up in the whole source.
      std::set<Tuple> still;
      for (auto& k : s.existing(candidates, alive)) still.insert(std::move(k));
      doomed = reconcile::doomed(candidates, still);
      res.to_delete = static_cast<int64_t>(doomed.size());
      for (size_t i = 0; i < std::min(doomed.size(), kSampleKeys); ++i) res.sample.push_back(doomed[i]);
      count_queries();
      refuse(reconcile::delete_ratio_refusal(res.to_delete, rt.count, res.max_delete_ratio));
    }
    s.commit();  // read only: ends the snapshot
    if (!opts.dry_run && !doomed.empty()) res.deleted = t.remove(doomed, filter);
    count_queries();
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opts.dry_run) {
      t.abort();
      return res;
    }
    pg::RunRecord rec{run_id, "succeeded", res.source_keys, 0, res.deleted, std::nullopt, ""};
    if (shared) {
      store.finish_run(t, rec);
      t.commit();
    } else {
      t.commit();
      store.finish_run(rec);
    }
  } catch (...) {
    if (!opts.dry_run) record_failed_run(store, rec_state);
    throw;
  }
  return res;
}

void reconcile_if_due(const Config& cfg, const PipelineConfig& p, PipelineResult& r) {
  if (!p.reconcile || p.reconcile->every < 1 || r.outcome != PipelineResult::Outcome::kOk) return;
  try {
    {
      const std::string& name = cfg.state_connection(p);
      pg::Connection c(name, cfg.connections.at(name), "tidemark");
      if (pg::runs_since_reconcile(c, cfg.state.schema, p.name) < p.reconcile->every) return;
    }
    ReconcileResult rr = reconcile_pipeline(cfg, p, ReconcileOptions{});
    log::PipelineScope scope(p.name);
    log::PipelineScope::set_run_id(rr.run_id);
    spdlog::info("reconcile: {} source and {} target keys at or below safe {}; {} range(s) compared, {} read; "
                 "deleted {}; {:.3f}s",
                 rr.source_keys, rr.target_keys, rr.safe, rr.ranges_compared, rr.ranges_fetched, rr.deleted, rr.seconds);
    r.rows_deleted += rr.deleted;
  } catch (const LockBusy& e) {
    log::PipelineScope scope(p.name);
    spdlog::warn("reconcile after the run skipped: {}", e.what());
  } catch (const std::exception& e) {
    // The run's own commit stands; the failure still reaches cron as exit 1.
    r.outcome = PipelineResult::Outcome::kFailed;
    r.error = "the run succeeded (run " + std::to_string(r.run_id) + "), the reconcile after it did not: " +
              redact_text(e.what());
    log::PipelineScope scope(p.name);
    spdlog::error("{}", r.error);
  }
}

}  // namespace tidemark
