#include "run/observe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "run/fault.hpp"
#include "tidemark/in_flight.hpp"

namespace tidemark {

// A source transaction open this long holding back the safe mark is worth a warning.
constexpr int64_t kLongTransactionSeconds = 300;
// How long an observation with a clock horizon serves later pipelines on the same session.
constexpr int64_t kShareObservationMs = 1000;

void observe_high(pg::Source& src, const ExtractPlan& plan, const StoredState& st, const Observed& o,
                  std::optional<Tuple> high, Observation& obs) {
  const bool reset = plan.mode == RunMode::kFullRefresh;
  obs.high.reset();
  obs.candidate.reset();
  obs.lag = false;
  if (high && st.watermark.high && !reset && !src.tuple_at_least(*high, *st.watermark.high, plan.tuple_types))
    high.reset();  // behind the stored high (rows deleted, or an early batch): high never moves back
  if (!high) return;
  obs.high = high;
  if (o.horizon) {
    const bool within = src.value_at_most((*high)[0], *o.horizon, plan.tuple_types[0]);
    obs.candidate = within ? *high : Tuple{*o.horizon};
  } else {
    obs.candidate = high;
    obs.lag = true;
  }
}

Observed observe(pg::Source& src, const ExtractPlan& first, const StoredState& st, bool warn_hidden,
                 const std::function<const ExtractPlan&()>& replan, const Sql* tie_high) {
  Observed o;
  Observation& obs = o.obs;
  obs.columns = first.tuple_columns;
  // One observation serves the pipelines of a source session that run within a second of it,
  // when their horizon is the same clock (docs/correctness.md#one-observation-per-source): a
  // horizon older than it could be only makes the candidate wait more often. A sequence
  // horizon is each pipeline's own sequence, read before its own snapshot.
  bool reused = false;
  pg::Source::BeforeSnapshot before =
      first.horizon_kind == ExtractPlan::HorizonKind::kClock
          ? src.observe_before(first.horizon, first.writer_locks, kShareObservationMs, reused)
          : src.observe_before(first.horizon, first.writer_locks);
  if (reused) spdlog::debug("in-flight observation shared with the previous pipeline on this source session");
  std::optional<bool> tie_read;
  const std::optional<Sql> probe = replan ? first.tie_probe : std::nullopt;
  // The high mark in the snapshot's first statement, unless the probe may hold and the plan it
  // leads to is not known yet, or the tuple names a column twice (read by name there).
  std::vector<std::string> names = first.tuple_columns;
  std::sort(names.begin(), names.end());
  const bool distinct = std::adjacent_find(names.begin(), names.end()) == names.end();
  const bool high_first = distinct && (!probe || tie_high);
  std::optional<Tuple> high_read;
  pg::Source::Snapshot snap =
      high_first ? src.begin_snapshot(pg::Source::FirstReads{probe, first.high_query,
                                                             probe ? std::optional<Sql>(*tie_high) : std::nullopt,
                                                             first.tuple_columns},
                                      tie_read, high_read)
                 : src.begin_snapshot(probe, tie_read);
  fault_point("after_snapshot");
  // The remade plan differs only in where the window starts (horizon, tuple and types are
  // the same): everything read in the snapshot from here on is read with it.
  o.tie_group_read = tie_read.value_or(false);
  const ExtractPlan& plan = o.tie_group_read ? replan() : first;
  if (o.tie_group_read)
    spdlog::debug("no key above the safe mark's {}: every row at its cursor value is read, the window starts after it",
                  tuple_text(st.watermark.safe));
  if (before.hidden_sessions > 0 && warn_hidden)
    spdlog::warn(
        "the source role cannot see {} other session(s) in pg_stat_activity; in-flight safety falls back to the "
        "snapshot's transaction ids for them (GRANT pg_read_all_stats TO <role> closes this)",
        before.hidden_sessions);
  o.horizon = before.horizon;
  std::vector<SessionRef> open;
  for (const auto& s : before.sessions) open.push_back(s.ref);
  obs.pending_ended =
      st.watermark.pending && pending_ended(*st.watermark.pending, snap.xip, open, !before.prepared.empty());
  const std::optional<Tuple> high = high_first ? high_read : src.query_tuple(plan.high_query);
  o.nothing_beyond = !high;
  observe_high(src, plan, st, o, high, obs);

  // Gather what the classification needs (the candidate's instant only for a clock horizon:
  // the server computes it), classify, log.
  const InFlightScope scope = in_flight_scope(before, obs.candidate.has_value(), plan.horizon_kind);
  std::optional<int64_t> candidate_us;
  if (scope == InFlightScope::kStartedByCandidate)
    candidate_us = src.epoch_us((*obs.candidate)[0], plan.tuple_types[0], plan.cursor_zone);
  obs.in_flight = classify_in_flight(scope, before, snap, candidate_us);
  if (naive_watermark()) make_naive(obs);  // negative control for tests
  if (!obs.in_flight.empty())
    spdlog::debug("in flight at the snapshot: {} transaction(s), {} session(s)", obs.in_flight.xids.size(),
                  obs.in_flight.sessions.size());
  if (st.watermark.pending && !obs.pending_ended && before.oldest_seconds >= kLongTransactionSeconds)
    spdlog::warn(
        "session {} has had a transaction open for {}s in the source database; until it ends the safe mark stays at "
        "{} and each run re-reads from there (see pg_stat_activity)",
        before.oldest_pid, before.oldest_seconds, tuple_text(st.watermark.safe));
  if (plan.null_count) {
    const int64_t nulls = src.count(*plan.null_count);
    if (nulls > 0)
      spdlog::warn("{} source row(s) have a NULL {} and are not loaded; set detect.null_cursor: include to load them",
                   nulls, plan.tuple_columns[0]);
  }
  return o;
}

}  // namespace tidemark
