// Which source transactions a run waits for before its candidate may become the safe mark
// (docs/correctness.md): decided from values observed just before and in the run's snapshot,
// so every branch is unit-tested without a server. src/run/observe.cpp gathers the values.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/plan.hpp"

namespace tidemark {

// A session of the source database inside a transaction, seen just before the snapshot.
struct OpenSession {
  SessionRef ref;                  // xact_start as epoch microseconds
  bool holds_writer_lock = false;  // holds a lock on one of the plan's writer_locks relations
};

// What an autocommit statement saw just before the snapshot was taken.
struct BeforeSnapshot {
  std::optional<std::string> horizon;
  std::vector<OpenSession> sessions;  // sessions of this database inside a transaction
  int64_t hidden_sessions = 0;        // sessions this role may not inspect
  std::vector<std::string> prepared;  // prepared transactions of this database (32-bit xids)
  int64_t oldest_pid = 0;             // the session with the oldest open transaction
  int64_t oldest_seconds = 0;         // and how long it has been open
};

// The in-progress transactions of the snapshot (64-bit xids as text).
struct SnapshotXids {
  std::vector<std::string> xip;           // every in-progress xid of the cluster
  std::vector<std::string> db_xip;        // those that belong to this database
  std::vector<std::string> prepared_xip;  // those of prepared transactions of this database
};

// Which open transactions could still commit a row at or below the candidate.
enum class InFlightScope {
  kEveryTransaction,   // no horizon, no candidate, or sessions hidden: all of them
  kWriterLockHolders,  // sequence horizon: holders of a lock on the sequence or the table
  kStartedByCandidate  // clock horizon: sessions whose transaction began at or before the candidate
};
// With a horizon and every session visible only the transactions that took a value before
// the observation count; otherwise every open transaction does.
InFlightScope in_flight_scope(const BeforeSnapshot& before, bool has_candidate, ExtractPlan::HorizonKind kind);

// The transactions in flight for `scope`. kStartedByCandidate needs `candidate_us`, the
// candidate's cursor value as epoch microseconds (the server computes it: Source::epoch_us).
// Prepared transactions are not sessions, so a narrow scope keeps them by xid.
InFlight classify_in_flight(InFlightScope scope, const BeforeSnapshot& before, const SnapshotXids& snap,
                            std::optional<int64_t> candidate_us);

// The negative control of TIDEMARK_NAIVE_WATERMARK: the classic max(cursor) watermark, which
// waits for nothing and takes the high mark as the candidate.
void make_naive(Observation& obs);

}  // namespace tidemark
