// The plan is data: what one run of one pipeline will read, and how its state moves.
// Strategies build it from (config, source shape, stored state, request) with no I/O; the
// runner executes it; --dry-run prints it.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tidemark/config.hpp"
#include "tidemark/file_types.hpp"
#include "tidemark/identity.hpp"
#include "tidemark/sql.hpp"

namespace tidemark {

// A cursor position: the cursor column's value followed by the tie-breaking key values, each
// as text in the source's own output format (UTC, ISO dates), so it round-trips exactly.
using Tuple = std::vector<std::string>;

// "v" or "(v1, v2)", "-" for none: for logs and tables.
std::string tuple_text(const std::optional<Tuple>& t);

// A source session that was inside a transaction when a snapshot was taken.
struct SessionRef {
  int64_t pid = 0;
  std::string xact_start;  // identifies the transaction together with pid
  bool operator==(const SessionRef& o) const { return pid == o.pid && xact_start == o.xact_start; }
};

// Transactions in progress at a run's snapshot, which may still commit rows whose cursor is
// at or below that run's high mark.
struct InFlight {
  std::vector<std::string> xids;  // 64-bit xids (xid8) as text
  std::vector<SessionRef> sessions;
  bool empty() const { return xids.empty() && sessions.empty(); }
};

struct Pending {
  std::optional<Tuple> high;  // becomes `safe` once every transaction in `waiting_for` ended
  InFlight waiting_for;
};

// The watermark stored in tidemark.pipeline_state.watermark (jsonb).
//   safe: every row with cursor <= safe is loaded, and no transaction can still add one;
//         incremental reads start here.
//   high: the largest cursor loaded so far.
struct Watermark {
  std::vector<std::string> columns;  // names of the tuple's columns (cursor, keys)
  std::optional<Tuple> safe;
  std::optional<Tuple> high;
  std::optional<Pending> pending;
  nlohmann::json to_json() const;
  static Watermark from_json(const nlohmann::json& j);  // throws RunError on a malformed value
  bool operator==(const Watermark& o) const { return to_json() == o.to_json(); }
};

struct StoredState {
  bool exists = false;
  std::string strategy;
  int64_t version = 0;
  Watermark watermark;
  // What the state is of (tidemark/identity.hpp); nullopt when it was written by a tidemark
  // that recorded none.
  std::optional<StateIdentity> identity = std::nullopt;
};

struct ColumnInfo {
  std::string name;
  std::string type;  // format_type() of the source column, e.g. "timestamp with time zone"
  // With its modifier ("numeric(12,2)", "timestamp(3) with time zone") for table sources, to
  // create or alter target columns alike; `type` for query sources.
  std::string full_type = {};
  bool not_null = false;
};

struct SourceShape {
  std::vector<ColumnInfo> columns;  // the columns the pipeline moves, in select order
  // The sequence feeding the cursor column (serial/identity), as pg_get_serial_sequence
  // names it, and its CACHE: with CACHE 1 its last value is an in-flight horizon.
  std::optional<std::string> cursor_sequence;
  int64_t sequence_cache = 1;
  bool key_unique = false;  // the target key is a primary key / unique constraint of the source
  bool cursor_nullable = true;  // unknown for query sources
  bool cursor_indexed = false;  // an index leads with the cursor column (IS NULL is cheap)
  // The zone whose wall-clock time a `timestamp without time zone` (or `date`) cursor holds
  // (docs/correctness.md#time-zones): detect.time_zone, else the TimeZone a fresh session of
  // the source connection gets. Empty: UTC. `time_zone_from` says which, for plan and advise.
  std::string time_zone;
  std::string time_zone_from;
  const ColumnInfo* find(const std::string& name) const;
};

enum class RunMode { kIncremental, kRange, kFullRefresh };
const char* mode_name(RunMode m);  // incremental, range, full_refresh

// One chunk of a backfill: the range [from, to) of the whole backfill it belongs to.
struct ChunkRef {
  std::string range_from, range_to;
};

struct RunRequest {
  RunMode mode = RunMode::kIncremental;
  std::optional<std::string> from;  // inclusive, range runs
  std::optional<std::string> to;    // exclusive, range runs
  std::optional<ChunkRef> chunk;    // this range run is a chunk of a larger backfill
};

struct ExtractPlan {
  std::string pipeline;
  RunMode mode = RunMode::kIncremental;
  std::vector<std::string> columns;  // select list = staging columns
  Sql select;                        // SELECT <columns> FROM <source> WHERE <window>
  Sql high_query;                    // largest cursor tuple beyond the stored high; empty: none
  std::vector<std::string> tuple_columns;  // cursor then tie-break keys
  std::vector<std::string> tuple_types;    // their source types
  // Evaluated before the snapshot: a value of the cursor's type at or below which no
  // transaction that starts later can write (last sequence value, or the clock). Empty:
  // no horizon is known, the safe mark lags one run.
  std::optional<Sql> horizon;
  // How the horizon is defined, which also says which open transactions can matter:
  // kSequence: only those holding a lock on `writer_locks` (they took a sequence value or
  // wrote the table); kClock: only those that began at or before the candidate mark.
  enum class HorizonKind { kNone, kSequence, kClock } horizon_kind = HorizonKind::kNone;
  std::vector<std::string> writer_locks;  // relations (regclass text): source table, sequence
  // The zone a plain `timestamp`/`date` cursor's values are wall-clock time in (SourceShape);
  // empty for other cursors. A candidate mark becomes an instant in it (cursor_instant).
  std::string cursor_zone;
  std::string cursor_zone_from;  // where that zone came from (SourceShape::time_zone_from)
  // Counts rows whose cursor is NULL (never read with null_cursor: warn), where that is cheap
  // (an index on the cursor) or the run reads everything anyway.
  std::optional<Sql> null_count;
  // When a key column may be NULL: the window's rows with a NULL key, as one row
  // (count, smallest cursor as text or NULL). Such rows are never loaded (`select`, the high
  // mark and the batch bounds leave them out); target.null_key says whether their presence
  // fails the run or is a warning (docs/writes.md#null-keys).
  std::optional<Sql> null_key_probe;
  // The tie group (docs/strategies.md#ties): with a stored safe mark (t, k) a window starts at
  // the cursor value t and skips the rows at t up to key k by a row comparison, which an index
  // on the cursor alone serves by reading every row at t, each run. `tie_probe` is a boolean
  // query, true when no row of the source has a key above k: then no row at t lies after the
  // mark either, and in that snapshot the window that starts strictly after t
  // (plan_tie_group_read) reads exactly the same rows. Set for table sources whose single key
  // column has a unique index (the probe is one index lookup), incremental runs from a full
  // (cursor, key) mark, without a lookback.
  std::optional<Sql> tie_probe;
  std::string window;                // human-readable description of what is read
  // For range runs: a predicate on the target table (no alias) selecting the range's rows.
  std::optional<Sql> target_range;
  bool replace_target = false;       // full refresh: the target becomes exactly the source
  bool moves_watermark = true;       // range runs leave the incremental state alone
  std::optional<std::string> order_column;  // newest-row tie-break when deduplicating

  // batch_size: the delta is read in batches ordered by the cursor tuple, each committed
  // with its own watermark. Incremental runs of cursor strategies only.
  struct Batching {
    int64_t size = 0;
    Sql base;                       // SELECT <columns> FROM <source>
    std::string from;               // <source> (a table, or a parenthesised query)
    std::optional<Sql> lower;       // the first batch starts here (stored safe mark)
    std::optional<Sql> settle;      // upper limit on every batch
    bool include_null = false;      // the first batch also reads NULL cursors
    std::optional<Sql> keyed;       // every key column is non-NULL (when one may be NULL)
  };
  std::optional<Batching> batching;

  // Strategy files reads no query: each file of the listing, with what this run does with it.
  std::optional<std::vector<files::Decision>> files;
  // Strategy cdc reads no query: the pipeline's replication slot, and where its changes are
  // read from.
  struct Slot {
    std::string name;
    bool exists = false;
    int64_t retained_bytes = 0;     // WAL the slot keeps
    uint64_t confirmed_flush = 0;   // the slot's own position
    bool snapshot = false;          // no position yet (or --full-refresh): copy the table first
    bool recreate = false;          // the slot exists and a snapshot starts over: drop it first
    // Without a snapshot: the stored position (cdc::from_watermark of the state).
    uint64_t lsn = 0;
    std::optional<int64_t> xid;
    int64_t applied = 0;
    int64_t batch_size = 0;         // changes per target transaction
  };
  std::optional<Slot> slot;
};

// What a strategy that reads no query plans from: a directory listing and its manifest
// (files), or its replication slot as the source server shows it (cdc).
struct FilesSeen {
  std::vector<files::FileInfo> listing;
  std::map<std::string, files::ManifestEntry> manifest;
  int64_t now_ns = 0;
};
struct SlotSeen {
  std::string name;
  bool exists = false;
  std::string plugin, wal_status;  // wal_status: reserved, extended, unreserved, lost
  uint64_t confirmed_flush = 0;
  int64_t retained_bytes = 0;
};

struct PlanInput {
  const PipelineConfig& pipeline;
  const SourceShape& shape;
  const StoredState& state;
  const RunRequest& request;
  const FilesSeen* files = nullptr;  // strategy files
  const SlotSeen* slot = nullptr;    // strategy cdc
};

// What one run saw in its source snapshot, the input of the watermark rule.
struct Observation {
  std::vector<std::string> columns;  // the tuple's column names (plan.tuple_columns)
  // Largest cursor tuple in the read window, when it is not behind the stored high.
  std::optional<Tuple> high;
  // What `safe` may become once `in_flight` has ended: `high`, or a shorter (prefix) tuple
  // at the horizon below which no transaction that began after the observation can write.
  std::optional<Tuple> candidate;
  // No horizon is known for this cursor (no sequence, not a timestamp): the candidate waits
  // for the next run even when nothing was in flight.
  bool lag = false;
  InFlight in_flight;
  bool pending_ended = false;  // every transaction the stored pending set waits for has ended
};

// Whether every transaction a pending mark waits for has ended, judged from the xip list of
// this run's snapshot and the sessions seen in a transaction just before it. A prepared
// transaction may have come from a waited-for session, so any prepared transaction in the
// source database keeps a session-based wait open.
bool pending_ended(const Pending& pending, const std::vector<std::string>& snapshot_xip,
                   const std::vector<SessionRef>& sessions_before, bool prepared_exist);

// The stored state as the plan of a run sees it once ExtractPlan::tie_probe held in its
// snapshot: the safe mark cut to its cursor value, so the window, the high mark query and the
// batches start strictly after the tie group. Only for planning that one run: the watermark
// rule still starts from the state as stored (a later row at t with a larger key must still
// be read by a later run).
StoredState tie_group_read(const StoredState& st);

// The state after a successful run (pure; the argument is in docs/correctness.md).
// `reset`: a full refresh, which starts from nothing.
Watermark next_watermark(const Watermark& old, const Observation& obs, bool reset);

}  // namespace tidemark
