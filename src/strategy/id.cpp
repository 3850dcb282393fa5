// Strategy `id`: a monotonically increasing integer column (usually a sequence).
#include "strategy/cursor.hpp"
#include "strategy/registry.hpp"

namespace tidemark::strategy {

class IdStrategy final : public Strategy {
 public:
  std::string name() const override { return "id"; }
  std::string default_write() const override { return "upsert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps c = [] {
      StrategyCaps c;
      c.cursor = c.range = c.chunked_backfill = c.reconcile = c.soft_delete = c.partition_windows = true;
      c.bounds = StrategyCaps::Bounds::kInteger;
      c.immutable_cursor = true;  // a sequence value is written once
      return c;
    }();
    return c;
  }
  FieldProblems check(const PipelineConfig& p) const override { return check_cursor(p, CursorKind::kInteger); }
  ExtractPlan plan(const PlanInput& in) const override { return plan_cursor(in, CursorKind::kInteger); }
};

const Strategy& id_strategy() {
  static const IdStrategy s;
  return s;
}

}  // namespace tidemark::strategy
