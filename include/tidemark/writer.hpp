// Write modes: set-based SQL from the staging table into the target, one file per mode in
// src/write/, looked up by name.
#pragma once
#include <string>
#include <vector>

#include "tidemark/partition.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark {

struct WriteInput {
  QualifiedName target;
  std::string stage;                 // quoted name of the staging table
  std::vector<std::string> columns;  // staged columns, all present in the target
  std::vector<std::string> key;
  std::optional<std::string> order_column;  // keep the row with the largest value per key
  std::optional<Sql> target_range;          // range runs: target rows the range owns
  bool dedupe = true;  // false when the source guarantees one row per key (its primary key)
  // Columns whose type has no equality operator (json, geometric types, xml): compared as
  // text when deciding whether a row changed.
  std::vector<std::string> text_compare = {};
  // Which staged rows may be re-reads of rows the target already holds unchanged (upsert
  // skips those with an anti-join): all (kAll, e.g. range runs), only those whose order
  // column is at or below `reread_bound` (the stored high mark), or none (a first run).
  enum class Reread { kAll, kUpToBound, kNone } reread = Reread::kAll;
  std::optional<Sql> reread_bound = {};
  // detect.soft_delete with mode delete (docs/deletes.md): a key whose newest staged row is
  // marked deleted loses its target row and is not written. The column is non-NULL for a
  // deleted row, or true when `soft_delete_boolean`.
  std::optional<std::string> soft_delete_column = {};
  bool soft_delete_boolean = false;
  // partition_overwrite: the target rows of `windows` and of the partitions in `truncate`
  // (each exactly one window) go, and the windows' complete rows come in: from the stage, or
  // with `direct`, by a COPY into the target after the statements (no INSERT, no stage; the
  // keys of rows that may have left another window are then in `moved_keys`).
  struct Partitions {
    PartitionBy by;
    std::string type;  // the column's source type, for the window literals
    Windows windows;   // replaced by DELETE
    std::vector<std::string> truncate;  // quoted partition names, replaced by TRUNCATE
    bool direct = false;
    std::string moved_keys = {};  // a temp table of the delta's keys; "": the stage
  };
  std::optional<Partitions> partitions = {};
};

struct WriteStatement {
  enum class Effect { kWritten, kDeleted, kNone } effect;
  Sql sql;
};

// What a write mode needs and does. Code outside a mode's own file asks these, never its name.
struct WriterCaps {
  bool needs_unique_key = false;  // ON CONFLICT: the target needs a primary key or unique constraint on the key
  bool rewrites_rows = true;      // replaces the target row of a key (append only adds rows)
  bool by_window = false;         // replaces whole windows of target.partition_by
  bool replaces_all = false;      // the target becomes exactly the staged rows
};

class Writer {
 public:
  virtual ~Writer() = default;
  virtual std::string name() const = 0;
  virtual const WriterCaps& caps() const = 0;
  virtual FieldProblems check(const PipelineConfig& p, bool state_with_target) const = 0;
  virtual std::vector<WriteStatement> statements(const WriteInput& in) const = 0;
};

// The statements every write mode runs first when `in.soft_delete_column` is set: delete the
// target rows of keys marked deleted (Effect kDeleted), then drop those keys from the stage.
std::vector<WriteStatement> soft_delete_statements(const WriteInput& in);
// `select` without its soft-deleted rows, for loads that skip the staging table.
Sql without_soft_deleted(const Sql& select, const WriteInput& in);

// partition_overwrite's first statement in a transaction, before anything reads the target:
// writers of the same target queue here (readers do not), so one never deletes a window
// another is filling, and two runs cannot deadlock on partitions (a TRUNCATE against the
// partition locks another's planning holds).
Sql partition_lock(const QualifiedName& target);

const Writer* find_writer(const std::string& name);
std::vector<std::string> writer_names();
const std::vector<const Writer*>& all_writers();
std::vector<std::string> writers_with(bool WriterCaps::*cap);  // for messages, like strategies_with

}  // namespace tidemark
