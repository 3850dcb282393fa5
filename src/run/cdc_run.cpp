// A run of a strategy-cdc pipeline (docs/cdc.md): preflight, the initial snapshot when there
// is no position yet, then the slot's changes in bounded batches, each applied in one target
// transaction that also stores the new position; the slot is advanced only after that commit.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "run/fault.hpp"
#include "run/run_state.hpp"
#include "run/executor.hpp"
#include "run/scheduler.hpp"
#include "tidemark/cdc.hpp"
#include "tidemark/cdc_batch.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/run_plan.hpp"

namespace tidemark {
namespace {

constexpr const char* kStage = kCdcStageTable;

// The state version the next compare-and-set expects, after a commit stored `w`.
void committed(StoredState& seen, const Watermark& w) {
  seen.exists = true;
  ++seen.version;
  seen.watermark = w;
}

class Applier {
 public:
  Applier(const PipelineConfig& p, pg::Target& tgt, StateBackend& store, std::vector<std::string> columns,
          PipelineResult& res, StoredState& seen)
      : p_(p), tgt_(tgt), store_(store), columns_(std::move(columns)), res_(res), seen_(seen) {}

  // One target transaction: stage and apply `b`, store `pos` with it.
  void commit(const cdc::Batch& b, const cdc::Position& pos) {
    tgt_.begin();
    if (!b.lines.empty()) {
      std::vector<std::string> cols = columns_;
      tgt_.create_stage(kStage, p_.target.table, columns_);
      tgt_.exec(cdc::add_stage_columns(kStage));
      cols.insert(cols.end(), {cdc::kSeq, cdc::kOp, cdc::kMissing});
      {
        pg::Target::CopyIn copy(tgt_, kStage, cols, "target '" + p_.target.connection + "'");
        for (const auto& l : b.lines) copy.write(l);
        copy.complete();
      }
      for (const auto& s : cdc::apply_statements(p_.target.table, kStage, columns_, p_.target.key)) {
        const int64_t n = tgt_.exec(s.statement());
        if (s.effect == cdc::ApplyStatement::Effect::kWritten) res_.rows_written += n;
        if (s.effect == cdc::ApplyStatement::Effect::kDeleted) res_.rows_deleted += n;
      }
      res_.rows_read += b.changes;
    }
    fault_point("after_apply");
    res_.after = cdc::to_watermark(pos);
    store_.save_with_data(tgt_, seen_, res_.after, pg::RunRecord{res_.run_id, "running", res_.rows_read,
                                                                 res_.rows_written, res_.rows_deleted, res_.after, ""}, {});
    fault_point("before_commit");
    tgt_.commit();
    committed(seen_, res_.after);
    fault_point("after_commit");
  }

 private:
  const PipelineConfig& p_;
  pg::Target& tgt_;
  StateBackend& store_;
  std::vector<std::string> columns_;
  PipelineResult& res_;
  StoredState& seen_;
};

// The first run (or --full-refresh): the table copied in a snapshot taken after the slot was
// made, so every change after the slot's start is either in the copy or replayed on top of
// it (inserts and updates as upserts, deletes as deletes: replaying is harmless).
void snapshot(const PipelineConfig& p, pg::Source& src, pg::Target& tgt, StateBackend& store,
              const std::vector<std::string>& columns, uint64_t start, PipelineResult& res, StoredState& seen) {
  src.begin_snapshot();
  tgt.begin();
  res.rows_deleted += tgt.delete_all(p.target.table);
  {
    pg::Target::CopyIn copy(tgt, p.target.table.quoted(), columns, "target '" + p.target.connection + "'");
    res.rows_read += src.copy_table(*p.source.table, columns, [&copy](const std::string& line) { copy.write(line); });
    copy.complete();
  }
  src.finish();
  res.rows_written = res.rows_read;
  res.after = cdc::to_watermark(cdc::Position{start, std::nullopt, 0});
  store.save_with_data(tgt, seen, res.after, pg::RunRecord{res.run_id, "running", res.rows_read, res.rows_written,
                                                           res.rows_deleted, res.after, ""}, {});
  fault_point("before_commit");
  tgt.commit();
  committed(seen, res.after);
  spdlog::info("snapshot: {} rows copied; changes are read from slot position {}", res.rows_read, cdc::lsn_text(start));
}

}  // namespace

namespace {

// The cdc executor: preflight, the stored position and the slot read under the pipeline's
// lock, planned by plan_run (strategy cdc: a snapshot first, or the slot from the position),
// then the snapshot and the slot's changes in batches.
PipelineResult run_cdc(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts, RunProgress&) {
  log::PipelineScope scope(p.name);
  const Config& cfg = ctx.config();
  PipelineResult res;
  res.pipeline = p.name;
  const auto t0 = std::chrono::steady_clock::now();
  pg::Connection& source = ctx.source(p.source.connection);
  pg::Connection& target = ctx.writer(p.target.connection);
  const std::unique_ptr<StateBackend> state = open_state(cfg, p, target);  // the target's: validated
  StateBackend& store = *state;
  store.prepare(opts.dry_run);
  pg::PipelineLock lock(target, cfg.state.schema, p.name, !opts.dry_run);

  pg::ChangeSource changes(source, cdc::slot_name(p.name, p.detect.slot));
  const QualifiedName& table = *p.source.table;
  std::string problems;
  for (const auto& why : changes.preflight(table)) problems += "\n  - " + why;
  if (!problems.empty()) throw RunError("pipeline " + p.name + ": CDC cannot run on source '" + p.source.connection + "':" + problems);

  StoredState st = store.load();
  store.check_identity(st, source, target, opts.request.mode, opts.dry_run);
  res.before = st.watermark;
  const pg::ChangeSource::SlotInfo slot = changes.info();
  const SlotSeen slot_seen{changes.slot(), slot.exists, slot.plugin, slot.wal_status, slot.confirmed_flush,
                           slot.retained_bytes};
  const SourceShape unread;  // the columns are described once the run is recorded
  const RunPlan rp = plan_run(PlanInput{p, unread, st, opts.request, nullptr, &slot_seen});
  const ExtractPlan::Slot& from = *rp.extract.slot;
  const bool needs_snapshot = from.snapshot;
  const cdc::Position start = needs_snapshot ? cdc::Position{} : cdc::Position{from.lsn, from.xid, from.applied};
  const int64_t batch_size = from.batch_size;
  if (opts.dry_run) {
    plan_output() << plan_text(rp, st, std::nullopt);
    return res;
  }

  res.run_id = store.start_run(rp.record_mode, st.watermark);
  log::PipelineScope::set_run_id(res.run_id);
  pg::Target tgt(target);
  StoredState seen = st;
  try {
    pg::Source src(source);
    const SourceShape shape = src.describe(p);
    std::vector<std::string> columns;
    for (const auto& c : shape.columns) columns.push_back(c.name);
    cdc::Position pos = start;
    uint64_t advanced = from.confirmed_flush;  // the slot's position
    if (needs_snapshot) {
      if (from.recreate) changes.drop();
      pos = cdc::Position{changes.create(), std::nullopt, 0};
      advanced = pos.lsn;
      snapshot(p, src, tgt, store, columns, pos.lsn, res, seen);
    } else if (advanced < pos.lsn) {
      changes.advance(pos.lsn);  // the last run committed but stopped before advancing the slot
      advanced = pos.lsn;
    }

    Applier apply(p, tgt, store, columns, res, seen);
    const uint64_t until = changes.current_wal();  // changes after this wait for the next run
    cdc::Batcher batcher(columns, p.target.key, batch_size, pos);
    auto perform = [&](const cdc::Action& a) {
      if (a.kind == cdc::Action::Kind::kCommit) {
        apply.commit(a.batch, a.at);
        return;
      }
      tgt.begin();
      res.rows_deleted += tgt.delete_all(p.target.table);
      tgt.commit();  // re-applied on a crash before the next commit: harmless
    };
    for (;;) {
      const int64_t records = changes.peek(table, batch_size, [&](const std::string& text) {
        for (const auto& a : batcher.feed(cdc::parse_change(text))) perform(a);
      });
      const bool progressed = batcher.done() > advanced || batcher.holding() || records > 0;
      if (auto a = batcher.end_peek()) perform(*a);
      if (batcher.done() > advanced) {  // only after the commit that holds these changes
        changes.advance(batcher.done());
        advanced = batcher.done();
      }
      if (records == 0 || batcher.done() >= until || !progressed) break;
    }
    store.finish_run(pg::RunRecord{res.run_id, "succeeded", res.rows_read, res.rows_written, res.rows_deleted, res.after,
                                   ""});
  } catch (...) {
    tgt.abort();
    store.failed(res, std::nullopt);
    throw;
  }
  res.window = "slot " + changes.slot() + " at " + tuple_text(res.after.safe);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace

const Executor& cdc_executor() {
  static const FunctionExecutor<run_cdc> e;
  return e;
}

}  // namespace tidemark
