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
#include <map>
#include <set>

#include "pg/reconcile.hpp"
#include "run/run_one.hpp"
#include "run/run_state.hpp"
#include "strategy/cursor.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

namespace {

constexpr int kFanoutBits = 6;          // a differing range splits into 64
constexpr int64_t kLeafKeys = 500;      // a differing range this small has its keys read
constexpr size_t kLeavesPerQuery = 256;  // leaf ranges read by one statement
constexpr size_t kSampleKeys = 20;

// `(ROW(cursor, key…) <= ROW(safe…)) [OR cursor IS NULL]` over the first safe.size() columns.
Sql settled(const Watermark& wm, const std::vector<std::string>& types, bool include_null) {
  const Tuple& safe = *wm.safe;
  const size_t n = std::min(safe.size(), wm.columns.size());
  Sql s("(");
  if (n == 1) {
    s.text(quote_ident(wm.columns[0]) + " <= ").append(strategy::cast_value(safe[0], types[0]));
  } else {
    s.text("ROW(");
    for (size_t i = 0; i < n; ++i) s.text((i ? ", " : "") + quote_ident(wm.columns[i]));
    s.text(") <= ROW(");
    for (size_t i = 0; i < n; ++i) s.text(i ? ", " : "").append(strategy::cast_value(safe[i], types[i]));
    s.text(")");
  }
  if (include_null) s.text(" OR " + quote_ident(wm.columns[0]) + " IS NULL");
  return s.text(")");
}

// Keys in a reader's order: integers by value ("9" before "10"), anything else as text.
bool key_order(const Tuple& a, const Tuple& b) {
  const auto integer = [](const std::string& v) {
    return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  };
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    if (integer(a[i]) && integer(b[i]) && a[i].size() != b[i].size()) return a[i].size() < b[i].size();
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

bool same(const pg::RangeStats& a, const pg::RangeStats& b) { return a.count == b.count && a.hash_sum == b.hash_sum; }

// [lo + id * 2^shift, … + 2^shift - 1], clipped to hi; computed unsigned so no step overflows.
pg::ValueRange child(int64_t lo, int64_t hi, uint64_t id, int shift) {
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  const uint64_t from = id << shift;
  const uint64_t width_1 = (uint64_t{1} << shift) - 1;
  const uint64_t to = span - from < width_1 ? span : from + width_1;
  return {static_cast<int64_t>(static_cast<uint64_t>(lo) + from), static_cast<int64_t>(static_cast<uint64_t>(lo) + to)};
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v * 100);
  return buf;
}

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
  if (!strategy.has_cursor() || p.detect.strategy == "files" || p.target.key.empty())
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
  const Sql filter = settled(st.watermark, plan.tuple_types, include_null);

  // With soft deletes (mode delete) a source row marked deleted counts as gone: that also
  // catches deletions an id pipeline never re-reads.
  std::optional<Sql> alive;
  if (const auto& sd = p.detect.soft_delete; sd && sd->mode == SoftDeleteConfig::Mode::kDelete) {
    const ColumnInfo* c = shape.find(sd->column);
    if (!c) throw RunError("pipeline " + p.name + ": the source has no soft_delete column '" + sd->column + "'");
    alive = Sql(quote_ident(sd->column) + (c->type == "boolean" ? " IS NOT TRUE" : " IS NULL"));
  }
  const ColumnInfo* key0 = shape.find(p.target.key[0]);
  const bool integer_key = p.target.key.size() == 1 && key0 &&
                           (key0->type == "bigint" || key0->type == "integer" || key0->type == "smallint");
  pg::KeySet sset{strategy::source_from(p.source), p.target.key, filter, !shape.key_unique, integer_key};
  if (alive) sset.filter = Sql("(").append(filter).text(" AND ").append(*alive).text(")");
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
    if (!same(rs, rt)) {
      if (rs.count == 0 && rt.count > 0)
        throw RunError("pipeline " + p.name + ": refused: the source returned no keys at or below the safe mark " +
                       res.safe + " while the target has " + std::to_string(rt.count) +
                       "; an empty source is more often a broken source than a deleted table. Nothing was deleted");
      const auto over_ratio = [&](int64_t n) { return static_cast<double>(n) > res.max_delete_ratio * static_cast<double>(rt.count); };
      // The target has at least this many keys the source lacks: refuse before reading keys.
      // Only for id, whose cursor never moves: an updated_at row updated since the last run
      // is missing below the safe mark but found again by the lookup of the candidates.
      if (p.detect.strategy == "id" && over_ratio(rt.count - rs.count))
        throw RunError("pipeline " + p.name + ": refused: at least " + std::to_string(rt.count - rs.count) + " of " +
                       std::to_string(rt.count) + " target rows (" +
                       percent(static_cast<double>(rt.count - rs.count) / static_cast<double>(rt.count)) +
                       ") would be deleted, more than max_delete_ratio " + percent(res.max_delete_ratio) +
                       ". Nothing was deleted; check the source, or rerun with --max-delete-ratio");
      const int64_t lo = std::min(rs.min.value_or(INT64_MAX), rt.min.value_or(INT64_MAX));
      const int64_t hi = std::max(rs.max.value_or(INT64_MIN), rt.max.value_or(INT64_MIN));
      const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
      int shift = 0;  // 2^shift > span: the root is bucket 0 at this width
      while (shift < 64 && (span >> shift) != 0) ++shift;
      struct Node {
        pg::ValueRange r;
        int64_t keys;
      };
      std::vector<Node> split, leaves;
      (std::max(rs.count, rt.count) <= kLeafKeys || shift == 0 ? leaves : split).push_back({{lo, hi}, 0});
      while (!split.empty()) {
        shift = std::max(0, shift - kFanoutBits);
        ++res.levels;
        std::vector<pg::ValueRange> within;
        for (const auto& n : split) within.push_back(n.r);
        std::map<uint64_t, std::pair<pg::RangeStats, pg::RangeStats>> both;
        for (auto& [id, stats] : s.buckets(lo, shift, within)) both[id].first = stats;
        for (auto& [id, stats] : t.buckets(lo, shift, within)) both[id].second = stats;
        res.ranges_compared += static_cast<int64_t>(both.size());
        split.clear();
        for (const auto& [id, pair] : both) {
          if (same(pair.first, pair.second)) continue;
          const int64_t keys = std::max(pair.first.count, pair.second.count);
          (keys <= kLeafKeys || shift == 0 ? leaves : split).push_back({child(lo, hi, id, shift), keys});
        }
        spdlog::debug("reconcile level {}: {} range(s) compared, {} to split, {} to read", res.levels, both.size(),
                      split.size(), leaves.size());
      }
      res.ranges_fetched = static_cast<int64_t>(leaves.size());
      std::set<Tuple> in_source;
      std::vector<Tuple> in_target;
      for (size_t at = 0; at < leaves.size(); at += kLeavesPerQuery) {
        std::vector<pg::ValueRange> within;
        for (size_t i = at; i < std::min(leaves.size(), at + kLeavesPerQuery); ++i) within.push_back(leaves[i].r);
        for (auto& k : s.keys(within)) in_source.insert(std::move(k));
        for (auto& k : t.keys(within)) in_target.push_back(std::move(k));
      }
      res.keys_fetched = static_cast<int64_t>(in_source.size() + in_target.size());
      std::vector<Tuple> candidates;
      for (auto& k : in_target)
        if (!in_source.count(k)) candidates.push_back(k);
      // A candidate whose source row now lies above the safe mark (updated, not loaded yet)
      // still exists: look every candidate up in the whole source.
      std::set<Tuple> still;
      for (auto& k : s.existing(candidates, alive)) still.insert(std::move(k));
      for (auto& k : candidates)
        if (!still.count(k)) doomed.push_back(k);
      std::sort(doomed.begin(), doomed.end(), key_order);
      res.to_delete = static_cast<int64_t>(doomed.size());
      for (size_t i = 0; i < std::min(doomed.size(), kSampleKeys); ++i) res.sample.push_back(doomed[i]);
      count_queries();
      if (over_ratio(res.to_delete))
        throw RunError("pipeline " + p.name + ": refused: " + std::to_string(res.to_delete) + " of " +
                       std::to_string(rt.count) + " target rows (" +
                       percent(static_cast<double>(res.to_delete) / static_cast<double>(rt.count)) +
                       ") would be deleted, more than max_delete_ratio " + percent(res.max_delete_ratio) +
                       ". Nothing was deleted; check the source, or rerun with --max-delete-ratio");
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
