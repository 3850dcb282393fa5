// plan_run: the strategy's extract plan, the writer that applies it and how the rows get there.
#include "tidemark/run_plan.hpp"

#include "tidemark/errors.hpp"
#include "tidemark/partition.hpp"
#include "write/registry.hpp"

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

// The column's windowing, checked against the source (partition_overwrite).
WriteInput::Partitions partition_setup(const PipelineConfig& p, const SourceShape& shape) {
  const PartitionBy& by = *p.target.partition_by;
  const ColumnInfo* c = shape.find(by.column);
  if (!c)
    throw RunError("pipeline " + p.name + ": the source has no column '" + by.column + "' (target.partition_by.column)");
  if (auto why = partition_type_problem(by, c->type)) throw ConfigError("pipeline " + p.name + ": " + *why);
  return WriteInput::Partitions{by, c->type, {}, {}};
}

}  // namespace

std::string record_mode(const Strategy& s, RunMode mode, bool snapshot) {
  if (snapshot) return "snapshot";
  return s.caps().replaces_target && mode == RunMode::kIncremental ? "full" : mode_name(mode);
}

RunPlan plan_run(const PlanInput& in) {
  const PipelineConfig& p = in.pipeline;
  const SourceShape& shape = in.shape;
  const StoredState& st = in.state;
  RunPlan rp;
  rp.pipeline = &p;
  rp.strategy = find_strategy(p.detect.strategy);
  if (!rp.strategy) throw ConfigError("pipeline " + p.name + ": unknown strategy " + p.detect.strategy);
  rp.extract = rp.strategy->plan(in);
  const ExtractPlan& plan = rp.extract;
  rp.mode = plan.mode;
  rp.record_mode = record_mode(*rp.strategy, plan.mode, plan.slot && plan.slot->snapshot);
  const Writer& configured = *find_writer(p.target.write);
  // A range run replaces the range: rows deleted at the source inside it disappear from the
  // target too (delete_insert semantics, whatever the incremental write mode).
  rp.by_window = configured.caps().by_window && !plan.replace_target;
  rp.writer = plan.replace_target ? &write::full_refresh_writer()
              : !rp.by_window && plan.mode == RunMode::kRange && !p.target.key.empty() ? &write::delete_insert_writer()
                                                                                         : &configured;
  rp.tracks_watermark = plan.moves_watermark && rp.strategy->has_cursor();
  rp.batched = plan.batching.has_value() && rp.tracks_watermark;

  WriteInput& wi = rp.write;
  wi = WriteInput{p.target.table, kStageTable, plan.columns, p.target.key, plan.order_column, plan.target_range,
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
  if (rp.by_window) wi.partitions = partition_setup(p, shape);
  // Direct load: when the source cannot repeat a key and the target is empty (or is being
  // replaced, or has its windows emptied first), every write mode reduces to inserting the
  // rows, so COPY goes straight into the target and the staging copy and merge are skipped.
  rp.load = wi.dedupe                               ? LoadPath::kStaged
            : rp.by_window || plan.replace_target ? LoadPath::kDirect
                                                    : LoadPath::kDirectIfEmpty;
  return rp;
}

// (run_plan.hpp)
bool empty_window_skips_load(const RunPlan& rp) {
  const PipelineConfig& p = *rp.pipeline;
  return rp.mode == RunMode::kIncremental && !rp.batched && !rp.by_window && !rp.write.partitions &&
         !rp.extract.replace_target && !rp.extract.target_range && p.detect.null_cursor != NullCursor::kInclude;
}

}  // namespace tidemark
