// Strategy `full`: read the whole source every run and replace the target atomically.
// For small tables this is simpler and no slower than tracking changes.
#include "strategy/cursor.hpp"
#include "strategy/registry.hpp"
#include "tidemark/errors.hpp"

namespace tidemark::strategy {

class FullStrategy final : public Strategy {
 public:
  std::string name() const override { return "full"; }
  std::string default_write() const override { return "full_refresh"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps made = [] {
      StrategyCaps c;
      c.replaces_target = true;
      return c;
    }();
    return made;
  }

  FieldProblems check(const PipelineConfig& p) const override {
    FieldProblems out;
    const char* unused = "not used by strategy full (it reads the whole source every run)";
    if (!p.detect.cursor.empty()) out.emplace_back("detect.cursor", unused);
    if (p.detect.lookback) out.emplace_back("detect.lookback", unused);
    if (p.detect.settle_seconds) out.emplace_back("detect.settle", unused);
    if (!p.chunk.empty()) out.emplace_back("chunk", "strategy full has no cursor range to split into chunks");
    if (p.batch_size > 0)
      out.emplace_back("batch_size", "strategy full replaces the target in one transaction; batch_size does not apply");
    if (p.target.write != "full_refresh")
      out.emplace_back("target.write", "strategy full replaces the target; use write: full_refresh (the default)");
    return out;
  }

  ExtractPlan plan(const PlanInput& in) const override {
    if (in.request.mode == RunMode::kRange)
      throw ConfigError("pipeline " + in.pipeline.name +
                        ": strategy full has no cursor, so --from/--to cannot select a range; run it without them");
    ExtractPlan plan;
    plan.pipeline = in.pipeline.name;
    plan.mode = in.request.mode;
    for (const auto& c : in.shape.columns) plan.columns.push_back(c.name);
    plan.select = select_columns(in.pipeline, in.shape);
    plan.window = "everything (strategy full)";
    if (const NullKeyRule nk = null_key_rule(in.pipeline, in.shape); nk.keyed) {
      plan.select.text(" WHERE ").append(*nk.keyed);
      plan.null_key_probe = null_key_probe(source_from(in.pipeline.source), std::nullopt, nk, "");
      plan.window += " (rows with a NULL key left out)";
    }
    plan.replace_target = true;
    return plan;
  }

  std::vector<Advice> fit_advice(const PipelineConfig&, const InspectedTable& t) const override {
    const std::string rows = rows_text(t);
    if (t.estimated_rows >= 0 && t.estimated_rows < kSmallTable)
      return {{Advice::Kind::kOk, rows + ": reloading it whole each run is cheap"}};
    return {{Advice::Kind::kAdvice, rows + ": a full reload reads them all every run; an incremental strategy "
                                           "(updated_at with an indexed last-modified column) would read only the "
                                           "changes"}};
  }
};

const Strategy& full_strategy() {
  static const FullStrategy s;
  return s;
}

}  // namespace tidemark::strategy
