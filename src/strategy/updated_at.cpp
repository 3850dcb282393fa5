// Strategy `updated_at`: a timestamp column set on insert and update, read with a compound
// cursor (updated_at, key…) so rows sharing a timestamp with the watermark are never lost.
#include "strategy/cursor.hpp"
#include "strategy/registry.hpp"

namespace tidemark::strategy {

class UpdatedAtStrategy final : public Strategy {
 public:
  std::string name() const override { return "updated_at"; }
  std::string default_write() const override { return "upsert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps c = [] {
      StrategyCaps c;
      c.cursor = c.range = c.chunked_backfill = c.reconcile = c.soft_delete = c.partition_windows = true;
      c.bounds = StrategyCaps::Bounds::kTimestamp;
      return c;
    }();
    return c;
  }
  FieldProblems check(const PipelineConfig& p) const override { return check_cursor(p, CursorKind::kTimestamp); }
  ExtractPlan plan(const PlanInput& in) const override { return plan_cursor(in, CursorKind::kTimestamp); }
};

const Strategy& updated_at_strategy() {
  static const UpdatedAtStrategy s;
  return s;
}

}  // namespace tidemark::strategy
