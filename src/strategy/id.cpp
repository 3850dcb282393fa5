// Strategy `id`: a monotonically increasing integer column (usually a sequence).
#include "strategy/cursor.hpp"
#include "strategy/registry.hpp"

namespace tidemark::strategy {

class IdStrategy final : public Strategy {
 public:
  std::string name() const override { return "id"; }
  std::string default_write() const override { return "upsert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps made = [] {
      StrategyCaps c;
      c.cursor = c.range = c.chunked_backfill = c.reconcile = c.soft_delete = c.partition_windows = true;
      c.bounds = StrategyCaps::Bounds::kInteger;
      c.immutable_cursor = true;  // a sequence value is written once
      return c;
    }();
    return made;
  }
  FieldProblems check(const PipelineConfig& p) const override { return check_cursor(p, CursorKind::kInteger); }
  ExtractPlan plan(const PlanInput& in) const override { return plan_cursor(in, CursorKind::kInteger); }

  std::vector<Advice> fit_advice(const PipelineConfig& p, const InspectedTable& t) const override {
    return advise_cursor(p, t, [](const InspectedColumn& c, std::vector<Advice>& out) {
      const std::string& type = c.type;
      const bool integer = type == "smallint" || type == "integer" || type == "bigint" || type.rfind("numeric", 0) == 0;
      if (!integer)
        out.push_back({Advice::Kind::kRisk, c.name + " has type " + type + ": strategy id follows an integer column (runs "
                                                     "refuse this cursor); use an integer key, or strategy updated_at "
                                                     "on a timestamp column"});
      if (c.default_expr.rfind("nextval(", 0) != 0)
        out.push_back({Advice::Kind::kRisk, c.name + " is not fed by a sequence: ids written out of order by the "
                                                     "application can be skipped; updated_at or cdc is safer"});
    });
  }
};

const Strategy& id_strategy() {
  static const IdStrategy s;
  return s;
}

}  // namespace tidemark::strategy
