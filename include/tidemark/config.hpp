// The typed pipeline config (the contract in docs/config.md) and the loader that builds it.
// Loading is pure: it reads one file and the environment, and never connects anywhere.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/sql.hpp"

namespace tidemark {

// Where a value came from, so an error can say `file:line: field: problem`.
struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
};

struct SourceConfig {
  std::string connection;
  std::optional<QualifiedName> table;  // exactly one of table / query
  std::string query;
  std::vector<std::string> columns;  // empty: every column of the source
};

enum class NullCursor { kWarn, kInclude };

enum class BadRows { kFail, kQuarantine };

// target.null_key (docs/writes.md#null-keys): a source row whose key has a NULL can never be
// matched by key, so an upsert or delete_insert would insert it again on every change. kFail
// refuses the run, naming the row; kSkip leaves such rows out of the load with a warning.
enum class NullKey { kFail, kSkip };

// Strategy `files` (docs/files.md): which files of a directory to load, and how to read them.
struct FilesDetect {
  std::string path;                  // the directory files land in
  std::string pattern;               // glob relative to `path` ("**" crosses directories); "": every file
  std::vector<std::string> exclude;  // more globs to skip, besides hidden and temporary files
  std::string format;                // csv | jsonl; "": from each file's name
  std::string delimiter, quote = "\"", null_string;  // CSV; delimiter "": by name (, or tab for .tsv)
  bool ignore_unknown = false;       // header names / JSON keys that are not target columns
  std::string date_from_name;        // regex with one group: the file's date, for --from/--to
  std::string file_column = "_source_file";  // target column naming each row's file
  BadRows on_bad_row = BadRows::kFail;
};

// detect.soft_delete (docs/deletes.md): a source row whose `column` is non-NULL (true for a
// boolean column) is deleted. kDelete removes the target row with its key in the batch's
// transaction; kMark writes the row like any other, so the target keeps the tombstone.
struct SoftDeleteConfig {
  std::string column;
  enum class Mode { kDelete, kMark } mode = Mode::kDelete;
};

struct DetectConfig {
  std::string strategy;  // id | updated_at | full | files
  std::string cursor;    // the watermark column (id / updated_at)
  // Re-read window below the watermark: an interval for timestamps ("15m" -> seconds),
  // a count for ids. Empty: none.
  std::optional<std::string> lookback;
  std::optional<int64_t> settle_seconds;  // ignore rows newer than now() - settle
  // The zone whose wall-clock time a `timestamp without time zone`/`date` cursor holds.
  // Unset: the TimeZone a fresh session of the source connection gets.
  std::optional<std::string> time_zone;
  NullCursor null_cursor = NullCursor::kWarn;
  FilesDetect files;
  std::optional<SoftDeleteConfig> soft_delete;
  std::string slot;  // strategy cdc: the logical replication slot ("": tidemark_<pipeline>)
  Location loc;
};

// What a run does when the source has columns the target lacks, or the other way round
// (docs/writes.md#schema-changes).
enum class SchemaChange { kFail, kAppendNewColumns, kSyncAllColumns, kIgnore };

// target.partition_by (write partition_overwrite, docs/writes.md#partition-overwrite): the
// windows a delta touches are replaced whole. Day and month windows of a timestamptz column
// are calendar days/months in `time_zone`.
struct PartitionBy {
  std::string column;
  enum class Granularity { kDay, kMonth, kValue } granularity = Granularity::kValue;
  std::string time_zone = "UTC";
};

struct TargetConfig {
  std::string connection;
  QualifiedName table;
  std::vector<std::string> key;
  std::string write;  // upsert | delete_insert | append | full_refresh | partition_overwrite
  std::optional<PartitionBy> partition_by;
  bool create = false;  // create a missing target table from the source's columns and key
  SchemaChange on_schema_change = SchemaChange::kFail;
  NullKey null_key = NullKey::kFail;
  Location loc;
};

// `reconcile:` (docs/deletes.md): guarded key reconciliation, after every `every`-th
// successful incremental run (0: only by `tidemark reconcile`).
struct ReconcileConfig {
  int64_t every = 0;
  double max_delete_ratio = 0.1;  // refuse when more than this share of the target would go
};

struct PipelineConfig {
  std::string name;
  SourceConfig source;
  DetectConfig detect;
  TargetConfig target;
  int64_t batch_size = 0;  // 0: the whole delta in one transaction
  std::string chunk;       // backfills (--from/--to) commit per chunk: ids, or a duration; "": one
  std::optional<ReconcileConfig> reconcile;
  Location loc;
  // Set on the pipelines a selector pipeline expands into at run time (docs/config.md#selectors).
  std::string selector;      // the selector pipeline's name; "" for a hand-written pipeline
  std::string config_error;  // this table's pipeline is invalid: why (its run reports it, exit 2)
  bool expand_failed = false;  // with config_error: the catalog or state could not be read (exit 1)
};

// One entry of `source.tables` / `source.exclude`: a glob on the schema and on the table name
// (`*`, `?`, `[…]`), each part either a glob (unquoted) or an exact name (double-quoted).
struct TablePattern {
  std::string schema, table;
  bool schema_exact = false, table_exact = false;
  std::string text;  // as written, for messages
  bool matches(const QualifiedName& t) const;
};

// Parses `public.*`, `sales.order_*`, `"Odd"."Name"`; the schema part is required. nullopt
// (with `error`) for anything else.
std::optional<TablePattern> parse_table_pattern(const std::string& text, std::string* error);

struct SelectorTree;  // the selector's YAML, for expansion (src/config/selector_tree.hpp)

// A selector pipeline (docs/config.md#selector-pipelines): `source.tables` instead of one
// table. `run`, `plan`, `status` and `history` expand it into one PipelineConfig per
// matching table (tidemark/selector.hpp), each validated like a hand-written one.
struct SelectorConfig {
  std::string name;
  std::string connection;  // source.connection
  std::vector<TablePattern> tables, exclude;
  std::string name_template = "{pipeline}.{schema}.{table}";
  std::string target_connection;
  std::string strategy;  // detect.strategy: a strategy of the registry, or "auto"
  std::string cursor;    // detect.cursor ("" when not given)
  std::vector<QualifiedName> overrides;  // the tables `overrides:` names, in file order
  std::vector<Location> override_locs;
  size_t position = 0;  // how many hand-written pipelines come before it in the file
  Location loc;
  std::shared_ptr<const SelectorTree> tree;
};

struct StateConfig {
  std::string connection;  // empty: each pipeline's target connection
  std::string schema = "tidemark";
  // `state: {file: path}` (docs/operations.md#state-file): state in a local JSON file instead;
  // a relative path is resolved against the config file's directory. Empty: the schema.
  std::string file;
};

// Top-level `retries`: runs that fail with a TransientError are tried again, after `backoff`,
// doubling each time (at most 5 minutes).
struct RetryConfig {
  int attempts = 0;  // extra tries; 0: none
  int64_t backoff_ms = 5000;
};

struct Config {
  std::string path;
  int version = 1;
  RetryConfig retries;
  int jobs = 1;  // top-level `jobs`: pipelines a run (without --from/--to) runs at once; run --jobs wins
  std::map<std::string, std::string> connections;  // name -> libpq DSN/URI (expanded)
  StateConfig state;
  std::vector<PipelineConfig> pipelines;
  std::vector<SelectorConfig> selectors;  // expanded at run time into `pipelines`

  const PipelineConfig* find(const std::string& name) const;
  // The connection name holding a pipeline's state (state.connection or its target's).
  const std::string& state_connection(const PipelineConfig& p) const;
  // True when the state commits in the data's transaction (false with state.file).
  bool state_with_target(const PipelineConfig& p) const;
};

// Reads a YAML (.yaml/.yml) or JSON (.json) file. Throws ConfigError naming file, line and
// field path (`pipelines[1].target.key: required`).
Config load_config(const std::string& path);
// Same, from text already in memory; `name` is used in messages and to pick the format.
Config parse_config(const std::string& text, const std::string& name);

// How `${VAR}` is looked up: the value, or nullopt when unset (the default reads the
// environment). `tidemark init` checks its output with stand-in connection strings.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
Config parse_config(const std::string& text, const std::string& name, const EnvLookup& env);

// pipelines[].name: 1-63 letters, digits, '_', '.' or '-', not starting with '.' or '-'.
bool valid_pipeline_name(const std::string& name);

// The config format as a JSON Schema (draft 2020-12), for editors (`tidemark schema`).
std::string config_json_schema();

// `${VAR}` / `${VAR:-default}` expansion; `$$` is a literal `$`. Throws ConfigError (with
// `where` in the message) for an unset variable without default.
std::string expand_env(const std::string& text, const std::string& where);
std::string expand_env(const std::string& text, const std::string& where, const EnvLookup& env);

}  // namespace tidemark
