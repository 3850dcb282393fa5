// Strategy `id`: a monotonically increasing integer column (usually a sequence).
#include "strategy/cursor.hpp"
#include "strategy/registry.hpp"

namespace tidemark::strategy {

class IdStrategy final : public Strategy {
 public:
  std::string name() const override { return "id"; }
  std::string default_write() const override { return "upsert"; }
  bool has_cursor() const override { return true; }
  FieldProblems check(const PipelineConfig& p) const override { return check_cursor(p, CursorKind::kInteger); }
  ExtractPlan plan(const PlanInput& in) const override { return plan_cursor(in, CursorKind::kInteger); }
};

const Strategy& id_strategy() {
  static const IdStrategy s;
  return s;
}

}  // namespace tidemark::strategy
