// In-flight classification: which open source transactions a run waits for before its
// candidate may become the safe mark (docs/correctness.md), for each kind of horizon.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "tidemark/in_flight.hpp"

using namespace tidemark;
using Kind = ExtractPlan::HorizonKind;

namespace {

// Two sessions in a transaction: an old one holding the writer lock, a later one not.
BeforeSnapshot seen(int64_t hidden = 0, bool horizon = true) {
  BeforeSnapshot b;
  if (horizon) b.horizon = "100";
  b.sessions = {{{11, "1000"}, true}, {{12, "3000"}, false}};
  b.hidden_sessions = hidden;
  return b;
}

const SnapshotXids kSnap{{"900", "901", "902"}, {"901", "902"}, {"902"}};

}  // namespace

TEST_CASE("in flight: with every session visible and no horizon, every transaction of the database counts",
          "[unit][in_flight]") {
  const BeforeSnapshot b = seen(0, false);
  CHECK(in_flight_scope(b, true, Kind::kClock) == InFlightScope::kEveryTransaction);
  const InFlight f = classify_in_flight(InFlightScope::kEveryTransaction, b, kSnap, std::nullopt);
  CHECK(f.xids == std::vector<std::string>{"901", "902"});
  CHECK(f.sessions == std::vector<SessionRef>{{11, "1000"}, {12, "3000"}});
}

TEST_CASE("in flight: hidden sessions make every transaction of the cluster count", "[unit][in_flight]") {
  const BeforeSnapshot b = seen(2);
  CHECK(in_flight_scope(b, true, Kind::kSequence) == InFlightScope::kEveryTransaction);
  CHECK(in_flight_scope(b, true, Kind::kClock) == InFlightScope::kEveryTransaction);
  const InFlight f = classify_in_flight(InFlightScope::kEveryTransaction, b, kSnap, std::nullopt);
  CHECK(f.xids == kSnap.xip);
  CHECK(f.sessions.size() == 2);
}

TEST_CASE("in flight: without a candidate or a horizon kind nothing narrows the wait", "[unit][in_flight]") {
  CHECK(in_flight_scope(seen(), false, Kind::kSequence) == InFlightScope::kEveryTransaction);
  CHECK(in_flight_scope(seen(), true, Kind::kNone) == InFlightScope::kEveryTransaction);
}

TEST_CASE("in flight: a sequence horizon waits for the writer-lock holders and prepared transactions only",
          "[unit][in_flight]") {
  const BeforeSnapshot b = seen();
  REQUIRE(in_flight_scope(b, true, Kind::kSequence) == InFlightScope::kWriterLockHolders);
  const InFlight f = classify_in_flight(InFlightScope::kWriterLockHolders, b, kSnap, std::nullopt);
  CHECK(f.xids == std::vector<std::string>{"902"});
  CHECK(f.sessions == std::vector<SessionRef>{{11, "1000"}});
}

TEST_CASE("in flight: a clock horizon waits for the sessions whose transaction began at or before the candidate",
          "[unit][in_flight]") {
  const BeforeSnapshot b = seen();
  REQUIRE(in_flight_scope(b, true, Kind::kClock) == InFlightScope::kStartedByCandidate);
  // The writer lock does not matter here, only when the transaction began.
  CHECK(classify_in_flight(InFlightScope::kStartedByCandidate, b, kSnap, 999).sessions.empty());
  CHECK(classify_in_flight(InFlightScope::kStartedByCandidate, b, kSnap, 1000).sessions ==
        std::vector<SessionRef>{{11, "1000"}});
  const InFlight both = classify_in_flight(InFlightScope::kStartedByCandidate, b, kSnap, 5000);
  CHECK(both.sessions.size() == 2);
  CHECK(both.xids == std::vector<std::string>{"902"});  // prepared transactions are not sessions
  CHECK_THROWS_AS(classify_in_flight(InFlightScope::kStartedByCandidate, b, kSnap, std::nullopt), std::logic_error);
}

TEST_CASE("in flight: the naive negative control waits for nothing and takes the high mark", "[unit][in_flight]") {
  Observation obs;
  obs.high = Tuple{"50", "7"};
  obs.candidate = Tuple{"40"};
  obs.lag = true;
  obs.in_flight.xids = {"901"};
  make_naive(obs);
  CHECK(obs.in_flight.empty());
  CHECK_FALSE(obs.lag);
  CHECK(obs.candidate == obs.high);
}
