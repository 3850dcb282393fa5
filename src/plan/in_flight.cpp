// In-flight classification (include/tidemark/in_flight.hpp); the argument is in
// docs/correctness.md.
#include "tidemark/in_flight.hpp"

#include <stdexcept>

namespace tidemark {

InFlightScope in_flight_scope(const BeforeSnapshot& before, bool has_candidate, ExtractPlan::HorizonKind kind) {
  const bool narrow = before.hidden_sessions == 0 && before.horizon && has_candidate &&
                      kind != ExtractPlan::HorizonKind::kNone;
  if (!narrow) return InFlightScope::kEveryTransaction;
  return kind == ExtractPlan::HorizonKind::kClock ? InFlightScope::kStartedByCandidate
                                                  : InFlightScope::kWriterLockHolders;
}

InFlight classify_in_flight(InFlightScope scope, const BeforeSnapshot& before, const SnapshotXids& snap,
                            std::optional<int64_t> candidate_us) {
  InFlight out;
  if (scope == InFlightScope::kEveryTransaction) {
    // A hidden session's transaction may belong to this database: count the whole cluster's.
    out.xids = before.hidden_sessions > 0 ? snap.xip : snap.db_xip;
    for (const auto& s : before.sessions) out.sessions.push_back(s.ref);
    return out;
  }
  if (scope == InFlightScope::kStartedByCandidate && !candidate_us)
    throw std::logic_error("classify_in_flight: a clock scope needs the candidate's instant");
  out.xids = snap.prepared_xip;
  for (const auto& s : before.sessions) {
    const bool matters = scope == InFlightScope::kStartedByCandidate ? std::stoll(s.ref.xact_start) <= *candidate_us
                                                                      : s.holds_writer_lock;
    if (matters) out.sessions.push_back(s.ref);
  }
  return out;
}

void make_naive(Observation& obs) {
  obs.in_flight = {};
  obs.lag = false;
  obs.candidate = obs.high;
}

}  // namespace tidemark
