// Strategy `cdc`: changes read from a logical replication slot (docs/cdc.md). Its plan is the
// slot and the position to read from; the run is src/run/cdc_run.cpp, its pure parts (the
// change records, the apply SQL) are in src/cdc/.
#include "strategy/registry.hpp"
#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"

namespace tidemark::strategy {

class CdcStrategy final : public Strategy {
 public:
  std::string name() const override { return "cdc"; }
  std::string default_write() const override { return "upsert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps made = [] {
      StrategyCaps c;
      c.executor = ExecutorKind::kCdc;
      c.state_with_data = c.slot = c.per_unit_commits = true;
      c.detect_keys = {"slot"};
      c.progress = "slot position";
      return c;
    }();
    return made;
  }

  FieldProblems check(const PipelineConfig& p) const override {
    FieldProblems out;
    if (!p.source.table) out.emplace_back("source.query", "strategy cdc follows one table: give source.table");
    if (!p.source.columns.empty())
      out.emplace_back("source.columns", "strategy cdc copies every column of the table; remove source.columns");
    const char* unused = "not used by strategy cdc (it follows the table's write-ahead log, not a cursor)";
    if (!p.detect.cursor.empty()) out.emplace_back("detect.cursor", unused);
    if (p.detect.lookback) out.emplace_back("detect.lookback", unused);
    if (p.detect.settle_seconds) out.emplace_back("detect.settle", unused);
    if (!p.chunk.empty()) out.emplace_back("chunk", "strategy cdc has no range to split into chunks");
    if (p.target.key.empty())
      out.emplace_back("target.key", "required by strategy cdc (the source table's primary key, which identifies "
                                     "updated and deleted rows)");
    if (p.target.write != "upsert")
      out.emplace_back("target.write", "strategy cdc applies inserts, updates and deletes; use write: upsert (the default)");
    return out;
  }

  // Where the slot's changes are read from: the stored position, or (first run, another
  // strategy's state, --full-refresh) a snapshot of the table taken after a new slot.
  ExtractPlan plan(const PlanInput& in) const override {
    const PipelineConfig& p = in.pipeline;
    const StoredState& st = in.state;
    if (!in.slot) throw RunError("pipeline " + p.name + ": strategy cdc is planned from its replication slot");
    const SlotSeen& seen = *in.slot;
    ExtractPlan out;
    out.pipeline = p.name;
    out.mode = in.request.mode;
    ExtractPlan::Slot s;
    s.name = seen.name;
    s.exists = seen.exists;
    s.retained_bytes = seen.retained_bytes;
    s.confirmed_flush = seen.confirmed_flush;
    const bool full = in.request.mode == RunMode::kFullRefresh;
    s.snapshot = full || !st.exists || st.strategy != name();
    if (seen.exists && seen.plugin != "wal2json")
      throw RunError("pipeline " + p.name + ": slot " + seen.name + " exists with output plugin " + seen.plugin +
                     "; drop it (tidemark drop-slot) or set detect.slot to another name");
    if (!s.snapshot && (!seen.exists || seen.wal_status == "lost"))
      throw RunError("pipeline " + p.name + ": replication slot " + seen.name +
                     (seen.exists ? " was invalidated (its WAL was removed, wal_status lost)" : " is gone") +
                     ", so the changes after position " + tuple_text(st.watermark.safe) +
                     " cannot be read any more; take a new snapshot with `tidemark run --full-refresh " + p.name + "`");
    s.recreate = s.snapshot && seen.exists;
    if (!s.snapshot) {
      const cdc::Position at = cdc::from_watermark(st.watermark);
      s.lsn = at.lsn;
      s.xid = at.xid;
      s.applied = at.applied;
    }
    s.batch_size = p.batch_size > 0 ? p.batch_size : kDefaultBatch;
    out.window = "slot " + s.name + (s.snapshot ? ", from a snapshot" : " from position " + tuple_text(st.watermark.safe));
    out.slot = s;
    return out;
  }

  std::vector<Advice> capture_advice(const PipelineConfig&, const InspectedTable& t) const override {
    using K = Advice::Kind;
    std::vector<Advice> out;
    if (t.wal_level != "logical")
      out.push_back({K::kRisk, "wal_level is " + t.wal_level + ": CDC needs wal_level = logical (and a restart)"});
    if (t.replica_identity == "n" || (t.replica_identity == "d" && t.primary_key.empty()))
      out.push_back({K::kRisk, "no replica identity: updates and deletes cannot be identified; add a primary key or "
                               "REPLICA IDENTITY FULL"});
    else
      out.push_back({K::kOk, "updates and deletes are identified by the " +
                                 std::string(t.replica_identity == "f" ? "full row (REPLICA IDENTITY FULL)" : "primary key")});
    return out;
  }

  std::optional<std::string> watermark_problem(const Watermark& w) const override {
    if (!w.safe && !w.high) return std::nullopt;  // an empty watermark holds no position to check
    try {
      (void)cdc::from_watermark(w);
    } catch (const RunError& e) {
      return std::string("its watermark is not a slot position: ") + e.what();
    }
    return std::nullopt;
  }

 private:
  static constexpr int64_t kDefaultBatch = 10000;  // changes per target transaction
};

const Strategy& cdc_strategy() {
  static const CdcStrategy s;
  return s;
}

}  // namespace tidemark::strategy
