// Change detection: one implementation per file in src/strategy/, looked up by name.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tidemark/inspect.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

using FieldProblems = std::vector<std::pair<std::string, std::string>>;  // (field, problem)

// Which executor runs a strategy's plan: a query read in one snapshot, files one transaction
// each, or a replication slot's changes (src/run/ maps each kind to its executor).
enum class ExecutorKind { kQuery, kFiles, kCdc };

// What a strategy is and can do. Code outside a strategy's own file asks these, never its name.
struct StrategyCaps {
  ExecutorKind executor = ExecutorKind::kQuery;
  bool cursor = false;  // a watermark over detect.cursor (safe/high tuples)
  bool range = false;   // --from/--to select something: a cursor range, or files by date
  // What --from/--to are: integers, timestamps (or relative -7d), file dates, or nothing.
  enum class Bounds { kNone, kInteger, kTimestamp, kFileTime } bounds = Bounds::kNone;
  bool immutable_cursor = false;   // a row's cursor never changes once written (sequence ids)
  bool chunked_backfill = false;   // --chunk, --jobs and --advance-watermark split its ranges
  bool reconcile = false;          // reconcile compares its keys range by range over the cursor
  bool soft_delete = false;        // detect.soft_delete applies
  bool partition_windows = false;  // write partition_overwrite can replace the windows of its deltas
  bool replaces_target = false;    // every run reads the whole source and replaces the target
  bool source = true;              // reads source: (files read detect.path instead)
  bool verify = true;              // verify can compare its source and target rows
  bool state_with_data = false;    // its progress (a manifest, a slot position) must commit with the data
  bool slot = false;               // owns a replication slot (detect.slot, drop-slot, slot lines of status)
  bool manifest = false;           // keeps a manifest of files loaded (not part of state export)
  bool per_unit_commits = false;   // one transaction per file or batch of changes: a failure keeps the earlier ones
  std::vector<std::string> detect_keys = {};  // detect.* keys only this strategy reads; others refuse them
  bool write_rules = true;  // the write mode's config rules apply (files replaces a file's rows whatever the key)
  std::string reads = {};     // without source: what it reads instead, for messages ("the directory in detect.path")
  std::string progress = {};  // with state_with_data: what it keeps with the data, for messages ("slot position")
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual std::string default_write() const = 0;
  virtual const StrategyCaps& caps() const = 0;
  bool has_cursor() const { return caps().cursor; }
  bool has_range() const { return caps().range; }
  // Config rules this strategy needs (fields relative to the pipeline, e.g. "detect.cursor").
  virtual FieldProblems check(const PipelineConfig& p) const = 0;
  // Pure: what to read and how. Throws ConfigError for a request it cannot serve.
  virtual ExtractPlan plan(const PlanInput& in) const = 0;
  // `tidemark advise` on the source table: `fit_advice` (is the strategy a good fit, what can it
  // not see) comes before the key advice every strategy shares, `capture_advice` (can the source
  // deliver its changes) after it.
  virtual std::vector<Advice> fit_advice(const PipelineConfig&, const InspectedTable&) const { return {}; }
  virtual std::vector<Advice> capture_advice(const PipelineConfig&, const InspectedTable&) const { return {}; }
  // Why a stored watermark (e.g. from `state import`) can never serve this strategy, judged by its
  // form alone; a cursor strategy's tuples are checked against the source by the caller.
  virtual std::optional<std::string> watermark_problem(const Watermark&) const { return std::nullopt; }
  // Target columns the strategy fills itself, not from the source (files' file_column), which
  // on_schema_change: sync_all_columns keeps.
  virtual std::vector<std::string> own_columns(const PipelineConfig&) const { return {}; }
};

// Batches (plan.batching): the query returning the tuple that ends the next batch (its
// batch_size-th row after `after`, or after the first window), and the rows of one batch,
// after `after` up to and including `upto` (to the end when `upto` is empty).
Sql batch_bound_query(const ExtractPlan& plan, const std::optional<Tuple>& after);
Sql batch_select(const ExtractPlan& plan, const std::optional<Tuple>& after, const std::optional<Tuple>& upto);

// Backfill chunks: a query on the source returning the [lower, upper) pairs (as text, in the
// cursor's own type) that split [from, to) into steps of `chunk` (a number of ids, or a
// duration like 1d for timestamps). Throws ConfigError for a chunk that does not fit.
Sql chunk_query(const std::string& cursor_type, const std::string& from, const std::string& to,
                const std::string& chunk);

// A relative range bound ("-7d", "-36h", "-15m") of a timestamp or date cursor: the query for
// that long before now on the source's clock, in the cursor's type (a plain one as wall-clock
// time in `zone`). nullopt for anything else, which is used as given.
std::optional<Sql> relative_bound_query(const std::string& v, const std::string& type, const std::string& zone);

const Strategy* find_strategy(const std::string& name);
std::vector<std::string> strategy_names();
const std::vector<const Strategy*>& all_strategies();
// For messages naming the strategies that can do something: the names whose caps have `cap`, and
// them as a phrase, "strategy full" or "strategies id and updated_at".
std::vector<std::string> strategies_with(bool StrategyCaps::*cap);
std::string strategies_text(bool StrategyCaps::*cap);

}  // namespace tidemark
