// What a run observes in its source snapshot for the watermark rule: transactions in
// flight, the horizon, and the high mark (docs/correctness.md).
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "pg/pg.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

struct Observed {
  Observation obs;
  std::optional<std::string> horizon;
  // The high mark query found no row: in this snapshot the window holds no row either (the
  // same predicate; NULL cursors aside, which null_cursor: include reads besides).
  bool nothing_beyond = false;
  bool tie_group_read = false;  // the plan's tie probe held: the plan was remade by `replan`
};

// Observes before the snapshot, opens the snapshot, and reads the high mark in it. When the
// plan's tie probe (ExtractPlan::tie_probe) holds in the snapshot, `replan` gives the plan
// that starts strictly after the tie group, and the high mark is read with that one:
// `tie_high`, that plan's high-mark query, lets the snapshot's first statement read it (one
// round trip for snapshot, probe and high mark), as it does whenever there is no probe.
Observed observe(pg::Source& src, const ExtractPlan& plan, const StoredState& st, bool warn_hidden,
                 const std::function<const ExtractPlan&()>& replan = {}, const Sql* tie_high = nullptr);

// Sets obs.high and its candidate for a run (or batch) that read up to `high`.
void observe_high(pg::Source& src, const ExtractPlan& plan, const StoredState& st, const Observed& o,
                  std::optional<Tuple> high, Observation& obs);

}  // namespace tidemark
