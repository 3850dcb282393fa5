// Whether a pipeline's run may be decided with the others of its connections, and what
// decides it (tidemark/quiet.hpp). Every test here is one the run would make alone: the same
// plan (plan_run), the same target fit (plan_target_schema), the same identity verdict and
// the same watermark rule; where any of them would do something, the pipeline runs alone.
#include "tidemark/quiet.hpp"

#include <algorithm>

#include "tidemark/run_plan.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark {

namespace {

// 1 when `query` finds a row, else 0 (plus `base`).
Sql found(const Sql& query, int base) {
  return Sql("CASE WHEN EXISTS (")
      .append(query)
      .text(") THEN " + std::to_string(base + QuietPlan::kBeyond) + " ELSE " + std::to_string(base) + " END");
}

}  // namespace

std::variant<QuietPlan, std::string> plan_quiet(const QuietInput& in) {
  const PipelineConfig& p = in.pipeline;
  const StoredState& st = in.state;
  if (!st.exists) return std::string("no state yet (a first run)");
  if (st.strategy != p.detect.strategy) return "its state is of strategy " + st.strategy;
  if (!st.identity) return std::string("its state has no identity recorded yet");
  const Watermark& wm = st.watermark;
  if (wm.pending || !(wm.safe == wm.high))
    return std::string("transactions were in flight at its last run (a band is re-read)");
  if (!in.target) return std::string("its target table does not exist");
  const SchemaPlan fit = plan_target_schema(p, in.shape.columns, in.target, TargetNamespace{});
  if (fit.error || !fit.ddl.empty() || !fit.notes.empty()) return std::string("its target does not fit the source as it is");
  SourceShape shape = in.shape;
  auto& cols = shape.columns;
  cols.erase(std::remove_if(cols.begin(), cols.end(),
                            [&](const ColumnInfo& c) {
                              return std::find(fit.ignored.begin(), fit.ignored.end(), c.name) != fit.ignored.end();
                            }),
             cols.end());
  try {
    if (same_table_problem(p, in.identity)) return std::string("its source is its target");
    if (judge_identity(p, st.identity, in.identity, false, !in.config.state_with_target(p), in.config.path) !=
        IdentityVerdict::kSame)
      return std::string("its state's identity needs a look");
    const RunRequest request;
    const RunPlan rp = plan_run({p, shape, st, request});
    const ExtractPlan& plan = rp.extract;
    if (!rp.tracks_watermark || !empty_window_skips_load(rp)) return std::string("an empty window still loads");
    if (plan.null_key_probe || plan.null_count) return std::string("its run counts NULL keys or cursors");
    Observation nothing;  // the high-mark query found no row: no high, no candidate
    nothing.columns = plan.tuple_columns;
    Watermark next = next_watermark(wm, nothing, false);
    if (!(next == wm)) return std::string("its watermark would change");
    QuietPlan q;
    q.check = found(plan.high_query, 0);
    q.next = std::move(next);
    q.window = plan.window;
    q.mode = rp.record_mode;
    if (plan.tie_probe) {
      // As the run would: when the probe holds, the plan that starts after the tie group.
      const StoredState tie = tie_group_read(st);
      const RunPlan tie_rp = plan_run({p, shape, tie, request});
      q.check = Sql("CASE WHEN (")
                    .append(*plan.tie_probe)
                    .text(") THEN ")
                    .append(found(tie_rp.extract.high_query, QuietPlan::kTieHeld))
                    .text(" ELSE ")
                    .append(q.check)
                    .text(" END");
      q.tie_window = tie_rp.extract.window;
    }
    return q;
  } catch (const std::exception& e) {  // the run on its own says it properly
    return std::string(e.what());
  }
}

}  // namespace tidemark
