// What a run observes in its source snapshot for the watermark rule: transactions in
// flight, the horizon, and the high mark (docs/correctness.md).
#pragma once
#include <optional>
#include <string>

#include "pg/pg.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

struct Observed {
  Observation obs;
  std::optional<std::string> horizon;
};

// Observes before the snapshot, opens the snapshot, and reads the high mark in it.
Observed observe(pg::Source& src, const ExtractPlan& plan, const StoredState& st, bool warn_hidden);

// Sets obs.high and its candidate for a run (or batch) that read up to `high`.
void observe_high(pg::Source& src, const ExtractPlan& plan, const StoredState& st, const Observed& o,
                  std::optional<Tuple> high, Observation& obs);

}  // namespace tidemark
