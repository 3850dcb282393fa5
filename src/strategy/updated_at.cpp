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
    static const StrategyCaps made = [] {
      StrategyCaps c;
      c.cursor = c.range = c.chunked_backfill = c.reconcile = c.soft_delete = c.partition_windows = true;
      c.bounds = StrategyCaps::Bounds::kTimestamp;
      return c;
    }();
    return made;
  }
  FieldProblems check(const PipelineConfig& p) const override { return check_cursor(p, CursorKind::kTimestamp); }
  ExtractPlan plan(const PlanInput& in) const override { return plan_cursor(in, CursorKind::kTimestamp); }

  std::vector<Advice> fit_advice(const PipelineConfig& p, const InspectedTable& t) const override {
    return advise_cursor(p, t, [&](const InspectedColumn& c, std::vector<Advice>& out) {
      using K = Advice::Kind;
      if (!server_time(c.default_expr) && !p.detect.lookback)
        out.push_back({K::kRisk, c.name + " has no DEFAULT now(), so the application writes it and clocks may "
                                          "disagree: set detect.lookback (e.g. 5m), or a trigger that sets it"});
      const std::string& type = c.type;
      const bool plain_time = type.rfind("timestamp", 0) == 0 && type.find("without time zone") != std::string::npos;
      const bool time = plain_time || type == "date" || type.rfind("timestamp", 0) == 0;
      if (!time)
        out.push_back({K::kRisk, c.name + " has type " + type + ": strategy updated_at follows a timestamp or date "
                                          "column (runs refuse this cursor)"});
      if (plain_time || type == "date") {
        const bool set = p.detect.time_zone.has_value();
        const std::string zone = set ? *p.detect.time_zone : t.session_time_zone.empty() ? "UTC" : t.session_time_zone;
        out.push_back({K::kAdvice, c.name + " is a " + type + ": its values are read as wall-clock time in " + zone +
                                       (set ? " (detect.time_zone)"
                                            : " (the TimeZone a fresh session of the source connection gets)") +
                                       "; if the writers' sessions use another zone, set detect.time_zone to theirs"});
      }
    });
  }

 private:
  // A DEFAULT the server evaluates, so that one clock stamps every row.
  static bool server_time(const std::string& expr) {
    return expr.find("now()") != std::string::npos || expr.find("CURRENT_TIMESTAMP") != std::string::npos ||
           expr.find("clock_timestamp()") != std::string::npos;
  }
};

const Strategy& updated_at_strategy() {
  static const UpdatedAtStrategy s;
  return s;
}

}  // namespace tidemark::strategy
