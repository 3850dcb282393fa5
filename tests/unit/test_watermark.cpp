// The watermark: its stored JSON form and the rule that moves it (next_watermark,
// pending_ended). `safe` must never pass a row that an open source transaction may still
// commit; the simulation at the end replays the in-flight hole run by run.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tidemark/errors.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/strategy.hpp"

using Catch::Contains;
using namespace tidemark;
using nlohmann::json;

namespace {

const std::vector<std::string> kCols = {"updated_at", "id"};
const SessionRef kSlowSession{4242, "1714557600000000"};

InFlight slow_txn() {
  InFlight f;
  f.xids = {"1000"};
  f.sessions = {kSlowSession};
  return f;
}

Watermark mark(std::optional<Tuple> safe, std::optional<Tuple> high, std::optional<Pending> pending = std::nullopt) {
  Watermark w;
  w.columns = kCols;
  w.safe = std::move(safe);
  w.high = std::move(high);
  w.pending = std::move(pending);
  return w;
}

// A run that saw `high` (with `candidate`), with `in_flight` open at its snapshot.
Observation seen(std::optional<Tuple> high, std::optional<Tuple> candidate, InFlight in_flight = {},
                 bool pending_ended_ = false, bool lag = false) {
  Observation o;
  o.columns = kCols;
  o.high = std::move(high);
  o.candidate = std::move(candidate);
  o.in_flight = std::move(in_flight);
  o.pending_ended = pending_ended_;
  o.lag = lag;
  return o;
}

const Tuple kT1 = {"2024-05-01 10:00:00+00", "10"};
const Tuple kT2 = {"2024-05-01 11:00:00+00", "20"};
const Tuple kT3 = {"2024-05-01 12:00:00+00", "30"};

}  // namespace

TEST_CASE("watermark: to_json and from_json round-trip every field, pending included", "[unit][watermark]") {
  Pending p;
  p.high = kT3;
  p.waiting_for.xids = {"768", "4294968064"};
  p.waiting_for.sessions = {{14374, "1795536628571732"}, {15, "1795536628000000"}};
  const Watermark w = mark(kT1, kT3, p);
  const json j = w.to_json();
  CHECK(j == json::parse(R"({
    "columns": ["updated_at", "id"],
    "safe": ["2024-05-01 10:00:00+00", "10"],
    "high": ["2024-05-01 12:00:00+00", "30"],
    "pending": {"high": ["2024-05-01 12:00:00+00", "30"], "xids": ["768", "4294968064"],
                "sessions": [{"pid": 14374, "xact_start": "1795536628571732"}, {"pid": 15, "xact_start": "1795536628000000"}]}
  })"));
  const Watermark back = Watermark::from_json(json::parse(j.dump()));
  CHECK(back == w);
  CHECK(back.columns == kCols);
  CHECK(back.safe == std::optional<Tuple>(kT1));
  REQUIRE(back.pending);
  CHECK(back.pending->high == std::optional<Tuple>(kT3));
  CHECK(back.pending->waiting_for.xids == std::vector<std::string>{"768", "4294968064"});
  CHECK(back.pending->waiting_for.sessions == std::vector<SessionRef>{{14374, "1795536628571732"}, {15, "1795536628000000"}});
}

TEST_CASE("watermark: an empty watermark is stored with nulls and read back from null or {}", "[unit][watermark]") {
  const Watermark empty;
  CHECK(empty.to_json() == json::parse(R"({"columns": [], "safe": null, "high": null, "pending": null})"));
  CHECK(Watermark::from_json(empty.to_json()) == empty);
  CHECK(Watermark::from_json(json(nullptr)) == empty);
  CHECK(Watermark::from_json(json::object()) == empty);
  const Watermark no_pending = mark(std::nullopt, kT2);
  CHECK(Watermark::from_json(no_pending.to_json()) == no_pending);
  CHECK_FALSE(Watermark::from_json(no_pending.to_json()).safe);
  // A pending mark waiting for nothing (the lag without horizon) survives too.
  Pending lag;
  lag.high = kT2;
  const Watermark lagging = mark(kT1, kT2, lag);
  const Watermark back = Watermark::from_json(lagging.to_json());
  REQUIRE(back.pending);
  CHECK(back.pending->waiting_for.empty());
  CHECK(back == lagging);
}

TEST_CASE("watermark: from_json refuses malformed stored values with a RunError", "[unit][watermark]") {
  CHECK_THROWS_AS(Watermark::from_json(json::parse("[1, 2]")), RunError);
  CHECK_THROWS_WITH(Watermark::from_json(json::parse("\"text\"")), "stored watermark is not a JSON object");
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"safe": "10"})")), "stored watermark: 'safe' is not a list");
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"high": [10]})")),
                    "stored watermark: 'high' holds a non-text value");
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"pending": {"high": {"a": 1}}})")),
                    "stored watermark: 'pending.high' is not a list");
  CHECK_THROWS_AS(Watermark::from_json(json::parse(R"({"pending": {"high": null, "xids": [768]}})")), RunError);
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"pending": {"high": null, "xids": [768]}})")),
                    Contains("stored watermark: malformed pending set"));
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"pending": {"sessions": [{"pid": "x", "xact_start": "1"}]}})")),
                    Contains("malformed pending set"));
  CHECK_THROWS_WITH(Watermark::from_json(json::parse(R"({"pending": {"sessions": [{"pid": 1}]}})")),
                    Contains("malformed pending set"));
  CHECK_THROWS_AS(Watermark::from_json(json::parse(R"({"pending": "soon"})")), RunError);
}

TEST_CASE("watermark: a stored safe or high mark that is an empty list is refused as malformed",
          "[unit][watermark]") {
  CHECK_THROWS_AS(Watermark::from_json(json::parse(R"({"columns": ["id"], "safe": [], "high": ["5"]})")), RunError);
  CHECK_THROWS_AS(Watermark::from_json(json::parse(R"({"columns": ["id"], "safe": ["5"], "high": []})")), RunError);
}

TEST_CASE("watermark: with nothing in flight and a horizon, safe becomes the candidate at once", "[unit][watermark]") {
  const Watermark next = next_watermark(mark(kT1, kT1), seen(kT2, kT2), false);
  CHECK(next.columns == kCols);
  CHECK(next.safe == std::optional<Tuple>(kT2));
  CHECK(next.high == std::optional<Tuple>(kT2));
  CHECK_FALSE(next.pending);

  // The high mark beyond the horizon: safe stops at the horizon, a one-column tuple.
  const Tuple horizon = {"2024-05-01 11:30:00+00"};
  const Watermark capped = next_watermark(mark(kT1, kT1), seen(kT3, horizon), false);
  CHECK(capped.safe == std::optional<Tuple>(horizon));
  CHECK(capped.high == std::optional<Tuple>(kT3));
}

TEST_CASE("watermark: with transactions in flight, safe stays and the candidate waits in pending", "[unit][watermark]") {
  const Watermark next = next_watermark(mark(kT1, kT1), seen(kT2, kT2, slow_txn()), false);
  CHECK(next.safe == std::optional<Tuple>(kT1));
  CHECK(next.high == std::optional<Tuple>(kT2));
  REQUIRE(next.pending);
  CHECK(next.pending->high == std::optional<Tuple>(kT2));
  CHECK(next.pending->waiting_for.xids == std::vector<std::string>{"1000"});
  CHECK(next.pending->waiting_for.sessions == std::vector<SessionRef>{kSlowSession});

  // A session without an xid is enough to wait.
  InFlight session_only;
  session_only.sessions = {kSlowSession};
  CHECK(next_watermark(mark(kT1, kT1), seen(kT2, kT2, session_only), false).safe == std::optional<Tuple>(kT1));
}

TEST_CASE("watermark: the next run promotes the pending mark once its transactions have ended", "[unit][watermark]") {
  Pending p;
  p.high = kT2;
  p.waiting_for = slow_txn();
  const Watermark old = mark(kT1, kT2, p);

  // Ended, and a new candidate with something else in flight: the old pending becomes safe.
  InFlight other;
  other.xids = {"2000"};
  const Watermark next = next_watermark(old, seen(kT3, kT3, other, true), false);
  CHECK(next.safe == std::optional<Tuple>(kT2));
  CHECK(next.high == std::optional<Tuple>(kT3));
  REQUIRE(next.pending);
  CHECK(next.pending->high == std::optional<Tuple>(kT3));
  CHECK(next.pending->waiting_for.xids == std::vector<std::string>{"2000"});

  // Not ended: safe stays, the newer candidate replaces the older one.
  const Watermark waiting = next_watermark(old, seen(kT3, kT3, slow_txn(), false), false);
  CHECK(waiting.safe == std::optional<Tuple>(kT1));
  REQUIRE(waiting.pending);
  CHECK(waiting.pending->high == std::optional<Tuple>(kT3));

  // Ended and nothing in flight: straight to the new candidate.
  const Watermark clear = next_watermark(old, seen(kT3, kT3, {}, true), false);
  CHECK(clear.safe == std::optional<Tuple>(kT3));
  CHECK_FALSE(clear.pending);
}

TEST_CASE("watermark: without a horizon the candidate waits one run even with nothing in flight",
          "[unit][watermark]") {
  const Watermark first = next_watermark(mark(kT1, kT1), seen(kT2, kT2, {}, false, true), false);
  CHECK(first.safe == std::optional<Tuple>(kT1));
  CHECK(first.high == std::optional<Tuple>(kT2));
  REQUIRE(first.pending);
  CHECK(first.pending->high == std::optional<Tuple>(kT2));
  CHECK(first.pending->waiting_for.empty());

  // A wait for nothing has ended at the next run, whatever that run sees.
  const bool ended = pending_ended(*first.pending, {"1", "2"}, {kSlowSession}, true);
  CHECK(ended);
  const Watermark second = next_watermark(first, seen(kT3, kT3, {}, ended, true), false);
  CHECK(second.safe == std::optional<Tuple>(kT2));
  CHECK(second.high == std::optional<Tuple>(kT3));
  REQUIRE(second.pending);
  CHECK(second.pending->high == std::optional<Tuple>(kT3));

  // And a run that finds nothing new promotes it too.
  const Watermark quiet = next_watermark(second, seen(std::nullopt, std::nullopt, {}, true, true), false);
  CHECK(quiet.safe == std::optional<Tuple>(kT3));
  CHECK_FALSE(quiet.pending);
}

TEST_CASE("watermark: a run with no new high keeps high, promotes safe only when pending ended, never lowers it",
          "[unit][watermark]") {
  // No pending: nothing moves.
  const Watermark steady = next_watermark(mark(kT2, kT3), seen(std::nullopt, std::nullopt), false);
  CHECK(steady.safe == std::optional<Tuple>(kT2));
  CHECK(steady.high == std::optional<Tuple>(kT3));
  CHECK_FALSE(steady.pending);
  CHECK(steady == mark(kT2, kT3));

  Pending p;
  p.high = kT3;
  p.waiting_for = slow_txn();
  const Watermark old = mark(kT1, kT3, p);
  // Pending not ended: everything stays, the pending set included.
  const Watermark held = next_watermark(old, seen(std::nullopt, std::nullopt, slow_txn(), false), false);
  CHECK(held == old);
  // Pending ended: promoted and cleared; high unchanged.
  const Watermark promoted = next_watermark(old, seen(std::nullopt, std::nullopt, {}, true), false);
  CHECK(promoted.safe == std::optional<Tuple>(kT3));
  CHECK(promoted.high == std::optional<Tuple>(kT3));
  CHECK_FALSE(promoted.pending);
  // A pending_ended flag without a stored pending changes nothing.
  CHECK(next_watermark(mark(kT2, kT3), seen(std::nullopt, std::nullopt, {}, true), false) == mark(kT2, kT3));
}

TEST_CASE("watermark: a full refresh (reset) starts from nothing and ignores the old state", "[unit][watermark]") {
  Pending p;
  p.high = kT3;
  p.waiting_for = slow_txn();
  const Watermark old = mark(kT2, kT3, p);

  const Watermark empty_source = next_watermark(old, seen(std::nullopt, std::nullopt, {}, true), true);
  CHECK_FALSE(empty_source.safe);
  CHECK_FALSE(empty_source.high);
  CHECK_FALSE(empty_source.pending);

  const Watermark lower = next_watermark(old, seen(kT1, kT1), true);  // the source shrank: high may move back
  CHECK(lower.safe == std::optional<Tuple>(kT1));
  CHECK(lower.high == std::optional<Tuple>(kT1));
  CHECK_FALSE(lower.pending);

  const Watermark in_flight = next_watermark(old, seen(kT1, kT1, slow_txn(), true), true);
  CHECK_FALSE(in_flight.safe);  // the old safe (and pending) are not carried over
  CHECK(in_flight.high == std::optional<Tuple>(kT1));
  REQUIRE(in_flight.pending);
  CHECK(in_flight.pending->high == std::optional<Tuple>(kT1));
}

TEST_CASE("watermark: pending_ended is false while any waited-for transaction may still be open",
          "[unit][watermark]") {
  Pending p;
  p.high = kT2;
  p.waiting_for = slow_txn();

  CHECK_FALSE(pending_ended(p, {"999", "1000"}, {}, false));                 // xid still in the snapshot
  CHECK_FALSE(pending_ended(p, {}, {{7, "1"}, kSlowSession}, false));        // session still in that transaction
  CHECK_FALSE(pending_ended(p, {}, {}, true));                               // maybe prepared by that session
  CHECK(pending_ended(p, {}, {}, false));
  CHECK(pending_ended(p, {"1001", "100"}, {{4242, "1714557699000000"}, {4243, "1714557600000000"}}, false));

  // Only xids, no sessions: a prepared transaction elsewhere does not hold the wait.
  Pending xids_only;
  xids_only.waiting_for.xids = {"1000"};
  CHECK(pending_ended(xids_only, {"1001"}, {kSlowSession}, true));
  CHECK_FALSE(pending_ended(xids_only, {"1000"}, {}, false));

  // A wait for nothing has always ended.
  CHECK(pending_ended(Pending{}, {"1000"}, {kSlowSession}, true));
}

// The in-flight hole, modelled run by run: ids 91..99 and 101 commit while a slow transaction
// holds id 100. Each run reads `id > safe` (from the real plan), observes what a snapshot would
// show, and moves the watermark with next_watermark. Row 100 must be loaded once the slow
// transaction commits, and safe must not pass 99 while it is open. A naive `safe = max seen`
// run through the same model loses row 100, which shows the model can see a loss.
namespace {

struct SimSource {
  std::set<int> committed;
  bool slow_open = true;  // holds id 100 (xid 1000, session kSlowSession)
  int sequence_last = 0;  // pg_sequence_last_value: the horizon
};

struct SimRun {
  Watermark next;
  std::vector<int> read;
  std::string window_value;
};

int as_int(const Tuple& t) { return std::stoi(t.at(0)); }

SimRun simulate_run(const SimSource& src, const Watermark& old, bool naive) {
  PipelineConfig p;
  p.name = "events";
  p.source.table = QualifiedName{"public", "events"};
  p.detect.strategy = "id";
  p.detect.cursor = "id";
  p.target.key = {"id"};
  SourceShape shape;
  shape.columns = {{"id", "bigint"}};
  shape.cursor_sequence = "public.events_id_seq";
  StoredState st;
  st.exists = old.safe.has_value();
  st.watermark = old;
  const RunRequest rq;
  const ExtractPlan plan = find_strategy("id")->plan(PlanInput{p, shape, st, rq});

  SimRun run;
  const int lower = old.safe ? as_int(*old.safe) : 0;
  if (old.safe) {
    REQUIRE(plan.select.values().size() == 1);
    run.window_value = *plan.select.values()[0];
    CHECK(plan.select.with_placeholders() == R"(SELECT "id" FROM "public"."events" WHERE "id" > CAST($1 AS bigint) AND "id" IS NOT NULL)");
  }
  for (int id : src.committed)
    if (id > lower) run.read.push_back(id);

  Observation obs;
  obs.columns = plan.tuple_columns;
  if (!run.read.empty()) {
    const int top = run.read.back();
    if (!old.high || top >= as_int(*old.high)) {  // never behind the stored high
      obs.high = Tuple{std::to_string(top)};
      obs.candidate = top <= src.sequence_last ? *obs.high : Tuple{std::to_string(src.sequence_last)};
    }
  }
  if (src.slow_open && !naive) obs.in_flight = slow_txn();
  const std::vector<std::string> xip = src.slow_open ? std::vector<std::string>{"1000"} : std::vector<std::string>{};
  const std::vector<SessionRef> sessions = src.slow_open ? std::vector<SessionRef>{kSlowSession} : std::vector<SessionRef>{};
  obs.pending_ended = old.pending && pending_ended(*old.pending, xip, sessions, false);
  run.next = next_watermark(old, obs, false);
  return run;
}

}  // namespace

TEST_CASE("watermark: across runs, safe never passes a row held by a slow transaction until it has ended",
          "[unit][watermark]") {
  for (const bool naive : {false, true}) {
    INFO((naive ? "naive max watermark" : "tidemark rule"));
    SimSource src;
    for (int id = 1; id <= 90; ++id) src.committed.insert(id);
    src.sequence_last = 90;
    Watermark wm;
    wm.columns = {"id"};
    wm.safe = Tuple{"90"};
    wm.high = Tuple{"90"};
    std::set<int> loaded(src.committed.begin(), src.committed.end());
    std::vector<int> safes;

    auto run_once = [&]() {
      const SimRun r = simulate_run(src, wm, naive);
      CHECK(r.window_value == (*wm.safe)[0]);  // each run reads from the stored safe mark
      loaded.insert(r.read.begin(), r.read.end());
      wm = r.next;
      safes.push_back(wm.safe ? as_int(*wm.safe) : -1);
    };

    // Run 1: the slow transaction took 100 and is open; 91..99 and 101 have committed.
    for (int id = 91; id <= 99; ++id) src.committed.insert(id);
    src.committed.insert(101);
    src.sequence_last = 101;
    run_once();
    // Run 2: 102 commits; the slow transaction is still open.
    src.committed.insert(102);
    src.sequence_last = 102;
    run_once();
    // Run 3: nothing new, still open.
    run_once();
    if (!naive) {
      CHECK(safes == std::vector<int>{90, 90, 90});
      CHECK(wm.high == std::optional<Tuple>(Tuple{"102"}));
      REQUIRE(wm.pending);
      CHECK(wm.pending->high == std::optional<Tuple>(Tuple{"102"}));
    }
    CHECK(loaded.count(100) == 0);

    // Run 4: the slow transaction commits id 100.
    src.slow_open = false;
    src.committed.insert(100);
    run_once();
    // Run 5: nothing changed.
    run_once();

    if (naive) {
      CHECK(safes == std::vector<int>{101, 102, 102, 102, 102});
      CHECK(loaded.count(100) == 0);  // lost: the negative control sees the hole
    } else {
      CHECK(safes == std::vector<int>{90, 90, 90, 102, 102});
      CHECK(loaded.count(100) == 1);
      CHECK(loaded.size() == 102);  // 1..102, nothing missing
      CHECK_FALSE(wm.pending);
      CHECK(wm.high == std::optional<Tuple>(Tuple{"102"}));
    }
  }
}
