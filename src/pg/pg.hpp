// The Postgres layer: the only code that includes libpqxx. It turns libpqxx exceptions into
// tidemark errors that name the connection by its config name, never its DSN.
//
// This header is the I/O seam of the run layer and the CLI, which include it and nothing of
// libpqxx: its types are only named here (incomplete), so code outside src/pg can neither
// run a statement of its own nor pass a libpqxx transaction around. src/pg's own files get
// libpqxx from src/pg/internal.hpp.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
class row;
class result;
}  // namespace pqxx

#include "pg/state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/identity.hpp"
#include "tidemark/in_flight.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/inspect.hpp"
#include "tidemark/target_schema.hpp"
#include "tidemark/writer.hpp"

namespace tidemark::pg {

// Rethrows the exception in flight as a RunError prefixed with `where` (tidemark errors pass
// through unchanged). Call only inside a catch block.
[[noreturn]] void translate(const std::string& where);

// SQL text of the timestamptz expression `expr` as RFC 3339 UTC with milliseconds
// ("2026-11-24T21:40:00.123Z", NULL for NULL), whatever the session's TimeZone: the form of
// every timestamp in --json output; text tables print its first 19 characters.
inline std::string rfc3339(const std::string& expr) {
  return "to_char((" + expr + ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
}


class Connection {
 public:
  // `role` becomes the session's application_name ("tidemark-source" marks read-only
  // sessions that in-flight tracking may ignore).
  Connection(std::string name, const std::string& dsn, const std::string& role);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  pqxx::connection_base& raw() { return *conn_; }  // src/pg only
  // False once the session is gone (the server closed it, the network failed): a run context
  // opens a new one rather than hand this one to the next pipeline.
  bool is_open() const;
  // False when the session turns out to be gone: a look at its socket, and one round trip
  // only when the server has sent something to an idle session (it may be its farewell).
  bool responds();
  const std::string& name() const { return name_; }
  // The statement with every value escaped by this connection (for COPY and control SQL).
  std::string render(const Sql& sql);
  // The TimeZone this session had before tidemark set its own (UTC): what the connection's
  // options/PGTZ, ALTER ROLE/DATABASE … SET and postgresql.conf give the role's sessions.
  const std::string& session_time_zone() const { return session_time_zone_; }
  // The state schemas ensure_state_schema found at the latest version on this connection:
  // looked for once per connection, by whichever state class asks first.
  bool state_ready(const std::string& schema) const { return state_ready_.count(schema) > 0; }
  void set_state_ready(const std::string& schema) { state_ready_.insert(schema); }
  // Round trips made on this session so far: every message exchange the client waits for (a
  // query, simple or extended, including BEGIN and COMMIT, and the one that starts a COPY),
  // counted from libpq's protocol trace; the session's own setup statement included, the
  // connection handshake not (docs/performance.md#the-fixed-cost-of-a-pipeline).
  int64_t round_trips() const;

 private:
  struct Counter;
  std::string name_;
  std::set<std::string> state_ready_;  // state schemas known to be at the latest version
  std::unique_ptr<Counter> counter_;   // outlives conn_, which writes its trace into it
  std::unique_ptr<pqxx::connection_base, void (*)(pqxx::connection_base*)> conn_;
  std::string session_time_zone_;
  friend class Source;
  struct LastObservation;
  std::shared_ptr<LastObservation> last_observation_;  // Source::observe_before's, on this session
};

// Receives COPY text lines (without the trailing newline).
using LineSink = std::function<void(const std::string&)>;

// The source side of a run: describes the source, observes in-flight transactions, and reads
// the delta inside one REPEATABLE READ READ ONLY snapshot.
class Source {
 public:
  explicit Source(Connection& c);  // out of line: the transaction type is complete in src/pg only
  ~Source();

  SourceShape describe(const PipelineConfig& p);

  using OpenSession = tidemark::OpenSession;
  using BeforeSnapshot = tidemark::BeforeSnapshot;
  // Autocommit statement that must run before the snapshot is taken.
  BeforeSnapshot observe_before(const std::optional<Sql>& horizon, const std::vector<std::string>& writer_locks);
  // The same, or the latest observation made on this session when it had the same horizon
  // statement and is at most `max_age_ms` old (no round trip; `reused` says which). Only for
  // a clock horizon, which the caller decides (docs/correctness.md#one-observation-per-source).
  BeforeSnapshot observe_before(const std::optional<Sql>& horizon, const std::vector<std::string>& writer_locks,
                                int64_t max_age_ms, bool& reused);

  using Snapshot = SnapshotXids;
  Snapshot begin_snapshot();
  // The same, with the boolean `probe` evaluated in the snapshot's first statement (no round
  // trip of its own): `probe_result` is its value (nullopt without a probe, or for NULL).
  Snapshot begin_snapshot(const std::optional<Sql>& probe, std::optional<bool>& probe_result);
  // What the first statement of a watermark run's snapshot reads besides its xids, so that
  // observing costs no round trip more than opening the snapshot: the tie probe, and the high
  // mark (the largest tuple of `columns` that `high` selects; `tie_high`'s instead when the
  // probe holds).
  struct FirstReads {
    std::optional<Sql> probe;
    Sql high;
    std::optional<Sql> tie_high;
    std::vector<std::string> columns;
  };
  // `high_result`: the high mark, nullopt when the query found no row.
  Snapshot begin_snapshot(const FirstReads& reads, std::optional<bool>& probe_result,
                          std::optional<Tuple>& high_result);

  std::optional<Tuple> query_tuple(const Sql& sql);
  // Every row of `sql` as text columns, outside any snapshot (e.g. backfill chunk bounds).
  std::vector<Tuple> query_rows(const Sql& sql);
  // Every row of `sql` inside the open snapshot, NULLs as nullopt.
  std::vector<std::vector<std::optional<std::string>>> snapshot_rows(const Sql& sql);
  // The planner's row estimate for `select` (EXPLAIN), or nullopt when it cannot say.
  std::optional<int64_t> estimate_rows(const Sql& select);
  // Why the server rejects `value` as input for `type`; nullopt when it accepts it.
  std::optional<std::string> input_error(const std::string& value, const std::string& type);
  // ROW(a) >= ROW(b) and a[0] <= horizon, compared by the server in the column types.
  bool tuple_at_least(const Tuple& a, const Tuple& b, const std::vector<std::string>& types);
  bool value_at_most(const std::string& a, const std::string& b, const std::string& type);
  // A cursor value of `type` as microseconds since the epoch (as the server computes it); a
  // plain timestamp is wall-clock time in `zone` (strategy::cursor_instant).
  int64_t epoch_us(const std::string& value, const std::string& type, const std::string& zone);
  int64_t count(const Sql& sql);
  int64_t copy_out(const Sql& select, const LineSink& sink);
  // COPY of `columns` of the whole table, in the open snapshot; returns the rows.
  int64_t copy_table(const QualifiedName& table, const std::vector<std::string>& columns, const LineSink& sink);
  void finish();

 private:
  pqxx::row row(const Sql& sql);  // one row, in the snapshot when one is open
  pqxx::row open_snapshot(const std::string& extra);  // the snapshot's first statement, `extra` appended
  Connection& c_;
  std::unique_ptr<pqxx::transaction_base> tx_;  // the REPEATABLE READ READ ONLY snapshot
  bool open_ = false;  // tx_ holds a transaction block begun by hand (BEGIN with the first statement)
};

// The target side: one transaction that stages, applies and (by default) stores state.
class Target {
 public:
  explicit Target(Connection& c);
  ~Target();
  void begin();
  pqxx::transaction_base& tx() { return *tx_; }  // src/pg only
  struct Column {
    std::string name;
    bool has_equality;  // its type has a default btree/hash equality (json, point, xml do not)
  };
  // Columns of the target table (throws RunError when it does not exist).
  std::vector<Column> columns(const QualifiedName& table);
  // The table's columns with their types (format_type with modifier); nullopt when the table
  // does not exist. This and target_namespace run in the transaction when one is begun, else
  // on their own (autocommit).
  std::optional<std::vector<TargetColumn>> describe(const QualifiedName& table);
  // Whether the schema of `table` exists and the role may create schemas (for target.create).
  TargetNamespace target_namespace(const QualifiedName& table);
  // The partitions of `table` when it is declaratively partitioned (range or list) on exactly
  // `column`; empty otherwise.
  std::vector<PartitionInfo> partitions(const QualifiedName& table, const std::string& column);
  // True when `key` is exactly a primary key or unique constraint of the table.
  bool key_is_unique(const QualifiedName& table, const std::vector<std::string>& key);
  // True when the table has no rows; then it is also locked against other writers until
  // this transaction ends, so it stays empty for a direct load.
  bool claim_if_empty(const QualifiedName& table);
  void create_stage(const std::string& stage, const QualifiedName& target, const std::vector<std::string>& cols);

  // A COPY FROM STDIN into the staging table; write() each line, then complete().
  class CopyIn {
   public:
    // `where` names the target in errors ("target 'dst'"), with the SQLSTATE, as every other
    // target statement does: a COPY straight into the target can fail on a constraint. ""
    // leaves libpqxx's errors as they are.
    CopyIn(Target& tgt, const std::string& stage, const std::vector<std::string>& cols, std::string where = "target");
    // src/pg only: in a transaction of its own (a savepoint's).
    CopyIn(pqxx::transaction_base& tx, const std::string& stage, const std::vector<std::string>& cols,
           std::string where = "target");
    ~CopyIn();
    void write(const std::string& line);
    void complete();

   private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string where_;
    [[noreturn]] void rethrow() const;
  };

  // A COPY of the lines `produce` writes, inside a savepoint: when the server rejects a row
  // (a value its column's type cannot read), the COPY is rolled back to the savepoint and the
  // row's COPY line (1-based) and the server's reason are returned instead of thrown.
  struct CopyRejected {
    int64_t line = 0;
    std::string reason;  // e.g. `column amount: invalid input syntax for type numeric: "x"`
  };
  std::optional<CopyRejected> copy_guarded(const std::string& into, const std::vector<std::string>& cols,
                                           const std::function<void(CopyIn&)>& produce);

  int64_t exec(const Sql& sql);
  // Every row of `table` deleted (a replaced target): the rows deleted.
  int64_t delete_all(const QualifiedName& table);
  // Statistics for a staging table (temp tables are never auto-analyzed).
  void analyze(const std::string& stage);
  // One DDL statement of a SchemaPlan (target.create, on_schema_change).
  void run_ddl(const std::string& ddl);
  void commit();
  void abort();

 private:
  pqxx::result query(const std::string& sql);  // in the transaction, or on its own without one
  Connection& c_;
  std::unique_ptr<pqxx::transaction_base> tx_;
};

// Strategy cdc on the source database (cdc.cpp): preflight checks, the pipeline's logical
// replication slot (wal2json), and reading its changes without consuming them.
class ChangeSource {
 public:
  ChangeSource(Connection& c, std::string slot) : c_(c), slot_(std::move(slot)) {}
  // What stops CDC on `table`, each with its fix; empty when nothing does.
  std::vector<std::string> preflight(const QualifiedName& table);
  struct SlotInfo {
    bool exists = false;
    std::string plugin, database, wal_status;  // wal_status: reserved, extended, unreserved, lost
    uint64_t confirmed_flush = 0;
    int64_t retained_bytes = 0;  // WAL the slot keeps from being recycled
    bool active = false;
  };
  SlotInfo info();
  uint64_t create();  // the slot's start: changes committed after it are decoded
  void drop();
  void advance(uint64_t lsn);  // consumes every transaction that ends at or before lsn
  uint64_t current_wal();
  // Streams the slot's changes to `table` (whole transactions, about `max_changes` records)
  // to `sink`, one wal2json record each, without consuming them; returns how many.
  int64_t peek(const QualifiedName& table, int64_t max_changes, const std::function<void(const std::string&)>& sink);
  const std::string& slot() const { return slot_; }

 private:
  Connection& c_;
  std::string slot_;
};

// The database a connection is in, and how `table` resolves there (identity.cpp): `table`
// schema-qualified and quoted, the schema it would be created in when it does not exist.
struct Endpoint {
  DatabaseIdentity database;
  std::string table;    // "" without a table
  bool exists = false;  // the table exists
};
Endpoint identify(Connection& c, const std::optional<QualifiedName>& table);

// Unchanged pipelines checked together (quiet.cpp; tidemark/quiet.hpp): what the check reads
// of many tables at once, one statement each, never inside a pipeline's run.
struct QuietTable {
  std::string resolved;  // the table as the server resolves the name, schema-qualified and quoted
  SourceShape shape;     // what Source::describe gives, session time zone included
};
// The shapes of the source tables of `pipelines` (table sources without detect.time_zone):
// nullopt for a table that does not exist, lacks a configured column, or has a column whose
// type is a domain (a run reads its base type from the result, which the catalog does not say).
std::vector<std::optional<QuietTable>> describe_tables(Connection& c,
                                                       const std::vector<const PipelineConfig*>& pipelines);
struct QuietTarget {
  std::string resolved;
  std::vector<TargetColumn> columns;
};
// The target tables as Target::describe gives them; nullopt for one that does not exist.
std::vector<std::optional<QuietTarget>> describe_targets(Connection& c, const std::vector<QualifiedName>& tables);
// The value of each integer query of `checks` (NULL as `null_as`), all in one statement, so in
// one snapshot.
std::vector<int64_t> query_integers(Connection& c, const std::vector<Sql>& checks, int64_t null_as);

// `tidemark init`: a source table's columns, key, indexes and size (inspect.cpp).
InspectedTable inspect_table(Connection& c, const QualifiedName& table);

// Selector pipelines (catalog.cpp): every table of the source whose schema matches one of
// `schema_regexes` (POSIX, the server's `~`), with columns, primary key, leading index
// columns, identity/serial defaults, reltuples and size, in one query; by schema and name.
std::vector<InspectedTable> list_tables(Connection& c, const std::vector<std::string>& schema_regexes);

}  // namespace tidemark::pg
