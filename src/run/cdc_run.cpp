// A run of a strategy-cdc pipeline (docs/cdc.md): preflight, the initial snapshot when there
// is no position yet, then the slot's changes in bounded batches, each applied in one target
// transaction that also stores the new position; the slot is advanced only after that commit.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <unordered_set>

#include "run/fault.hpp"
#include "run/run_state.hpp"
#include "run/run_one.hpp"
#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"

namespace tidemark {
namespace {

constexpr int64_t kDefaultBatch = 10000;
constexpr const char* kStage = "_tm_cdc";

// The state version the next compare-and-set expects, after a commit stored `w`.
void committed(StoredState& seen, const Watermark& w) {
  seen.exists = true;
  ++seen.version;
  seen.strategy = "cdc";
  seen.watermark = w;
}

// Changes gathered for one target transaction.
struct Batch {
  std::vector<std::string> lines;
  std::unordered_set<std::string> keys;  // touched in this batch
  int64_t changes = 0;
  std::optional<int64_t> open_xid;  // a transaction whose changes this batch holds only in part
  int64_t open_applied = 0;
};

class Applier {
 public:
  Applier(const PipelineConfig& p, pg::Target& tgt, StateBackend& store, std::vector<std::string> columns,
          PipelineResult& res, StoredState& seen)
      : p_(p), tgt_(tgt), store_(store), columns_(std::move(columns)), res_(res), seen_(seen) {}

  // One target transaction: stage and apply `b`, store `pos` with it.
  void commit(const Batch& b, const cdc::Position& pos) {
    tgt_.begin();
    if (!b.lines.empty()) {
      std::vector<std::string> cols = columns_;
      tgt_.create_stage(kStage, p_.target.table, columns_);
      tgt_.exec(Sql(std::string("ALTER TABLE ") + kStage + " ADD " + cdc::kSeq + " bigint, ADD " + cdc::kOp +
                    " \"char\", ADD " + cdc::kMissing + " text[]"));
      cols.insert(cols.end(), {cdc::kSeq, cdc::kOp, cdc::kMissing});
      {
        pg::Target::CopyIn copy(tgt_.tx(), kStage, cols, "target '" + p_.target.connection + "'");
        for (const auto& l : b.lines) copy.write(l);
        copy.complete();
      }
      for (const auto& s : cdc::apply_statements(p_.target.table, kStage, columns_, p_.target.key)) {
        const int64_t n = tgt_.exec(Sql(s.sql));
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
  res.rows_deleted += tgt.exec(Sql("DELETE FROM " + p.target.table.quoted()));
  {
    pg::Target::CopyIn copy(tgt.tx(), p.target.table.quoted(), columns, "target '" + p.target.connection + "'");
    res.rows_read += src.copy_out(Sql("SELECT " + ident_list(columns) + " FROM " + p.source.table->quoted()),
                                  [&copy](const std::string& line) { copy.write(line); });
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

PipelineResult run_cdc(const Config& cfg, const PipelineConfig& p, const RunOptions& opts) {
  log::PipelineScope scope(p.name);
  PipelineResult res;
  res.pipeline = p.name;
  const auto t0 = std::chrono::steady_clock::now();
  pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
  pg::Connection target(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
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
  const bool full = opts.request.mode == RunMode::kFullRefresh;
  const bool needs_snapshot = full || !st.exists || st.strategy != "cdc";
  const pg::ChangeSource::SlotInfo slot = changes.info();
  if (slot.exists && slot.plugin != "wal2json")
    throw RunError("pipeline " + p.name + ": slot " + changes.slot() + " exists with output plugin " + slot.plugin +
                   "; drop it (tidemark drop-slot) or set detect.slot to another name");
  if (!needs_snapshot && (!slot.exists || slot.wal_status == "lost"))
    throw RunError("pipeline " + p.name + ": replication slot " + changes.slot() +
                   (slot.exists ? " was invalidated (its WAL was removed, wal_status lost)" : " is gone") +
                   ", so the changes after position " + tuple_text(st.watermark.safe) +
                   " cannot be read any more; take a new snapshot with `tidemark run --full-refresh " + p.name + "`");
  const cdc::Position start = needs_snapshot ? cdc::Position{} : cdc::from_watermark(st.watermark);
  const int64_t batch_size = p.batch_size > 0 ? p.batch_size : kDefaultBatch;
  if (opts.dry_run) {
    std::cout << "pipeline " << p.name << " (strategy cdc, slot " << changes.slot() << ", table " << table.display()
              << ")\n  preflight: ok\n  slot:      "
              << (slot.exists ? "exists, " + std::to_string(slot.retained_bytes) + " bytes of WAL retained"
                              : std::string("not created yet"))
              << "\n  position:  " << tuple_text(st.watermark.safe) << "\n  next:      "
              << (needs_snapshot ? (slot.exists && full ? "drop and recreate the slot, " : std::string("create the slot, ")) +
                                       "copy the table in one snapshot, then apply the changes since the slot's start"
                                 : "apply the slot's changes in batches of " + std::to_string(batch_size) + " changes")
              << "\n";
    for (const auto& s : cdc::apply_statements(p.target.table, kStage, {"<columns>"}, p.target.key))
      std::cout << "  apply:     " << s.sql << "\n";
    std::cout << "  (dry run: nothing was written)\n";
    return res;
  }

  res.run_id = store.start_run(needs_snapshot ? "snapshot" : mode_name(opts.request.mode), st.watermark);
  log::PipelineScope::set_run_id(res.run_id);
  pg::Target tgt(target);
  StoredState seen = st;
  try {
    pg::Source src(source);
    const SourceShape shape = src.describe(p);
    std::vector<std::string> columns;
    for (const auto& c : shape.columns) columns.push_back(c.name);
    cdc::Position pos = start;
    uint64_t advanced = slot.confirmed_flush;  // the slot's position
    if (needs_snapshot) {
      if (slot.exists) changes.drop();
      pos = cdc::Position{changes.create(), std::nullopt, 0};
      advanced = pos.lsn;
      snapshot(p, src, tgt, store, columns, pos.lsn, res, seen);
    } else if (advanced < pos.lsn) {
      changes.advance(pos.lsn);  // the last run committed but stopped before advancing the slot
      advanced = pos.lsn;
    }

    Applier apply(p, tgt, store, columns, res, seen);
    const uint64_t until = changes.current_wal();  // changes after this wait for the next run
    uint64_t done = pos.lsn;                        // every transaction ending here is applied
    for (;;) {
      Batch batch;
      int64_t seq = 0, skip = 0, index = 0;
      bool skipping = false;
      std::optional<int64_t> xid;
      auto flush = [&] {
        cdc::Position at{done, batch.open_xid, batch.open_applied};
        // Transactions with nothing for this table only move the slot: no target commit,
        // unless the stored position still names a split transaction that has now ended.
        if (batch.lines.empty() && !(pos.xid && !at.xid)) return;
        apply.commit(batch, at);
        pos = at;
        batch = Batch{};
      };
      const int64_t records = changes.peek(table, batch_size, [&](const std::string& text) {
        const cdc::Change c = cdc::parse_change(text);
        if (c.action == 'B') {
          xid = c.xid;
          index = 0;
          skipping = c.next_lsn <= done;  // applied by an earlier run
          skip = pos.xid && *pos.xid == c.xid ? pos.applied : 0;
          return;
        }
        if (c.action == 'C') {
          if (!skipping) done = std::max(done, c.next_lsn);
          batch.open_xid.reset();
          return;
        }
        if (skipping || (c.action != 'I' && c.action != 'U' && c.action != 'D' && c.action != 'T')) return;
        if (++index <= skip) return;  // the part of a split transaction an earlier commit holds
        if (c.action == 'T') {  // TRUNCATE: everything before it, then an empty table
          flush();
          batch.lines.clear();
          tgt.begin();
          res.rows_deleted += tgt.exec(Sql("DELETE FROM " + p.target.table.quoted()));
          tgt.commit();  // re-applied on a crash before the next commit: harmless
          return;
        }
        const auto keys = cdc::touched_keys(c, p.target.key);
        bool again = false;
        for (const auto& k : keys) again = again || batch.keys.count(k) > 0;
        // An update that leaves TOASTed columns out must not meet an earlier change of its key
        // in the same batch: the apply keeps the target's value for them, not the batch's.
        bool partial = c.action == 'U' && c.columns.size() < columns.size();
        if (again && partial) flush();
        for (auto& l : cdc::stage_lines(c, columns, p.target.key, seq)) batch.lines.push_back(std::move(l));
        batch.keys.insert(keys.begin(), keys.end());
        ++batch.changes;
        batch.open_xid = xid;
        batch.open_applied = index;
        if (batch.changes >= batch_size) flush();
      });
      const bool progressed = done > advanced || batch.changes > 0 || records > 0;
      flush();
      if (done > advanced) {  // only after the commit that holds these changes
        changes.advance(done);
        advanced = done;
      }
      if (records == 0 || done >= until || !progressed) break;
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

}  // namespace tidemark
