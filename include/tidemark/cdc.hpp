// Strategy `cdc` (docs/cdc.md), the pure part: wal2json change records, the pipeline's
// position in the slot's stream, the staging rows a change becomes, and the SQL that applies
// a batch of changes. No database.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tidemark/plan.hpp"
#include "tidemark/sql.hpp"

namespace tidemark::cdc {

// The pipeline's replication slot: detect.slot, or tidemark_<pipeline name, lower-cased,
// other characters as '_'>.
std::string slot_name(const std::string& pipeline, const std::string& configured);

// "16/B374D848" <-> 0x16B374D848; nullopt for anything else.
std::optional<uint64_t> parse_lsn(std::string_view text);
std::string lsn_text(uint64_t lsn);

using Values = std::vector<std::pair<std::string, std::optional<std::string>>>;  // (column, text or NULL)

// One wal2json (format-version 2, include-xids, include-lsn) record.
struct Change {
  char action = 0;  // B(egin), C(ommit), I(nsert), U(pdate), D(elete), M(essage), T(runcate)
  int64_t xid = 0;
  uint64_t lsn = 0;       // B/C: the commit record's position
  uint64_t next_lsn = 0;  // B/C: just past the commit record: advancing the slot here consumes the transaction
  std::string schema, table;
  Values columns;   // I/U: the new row; an unchanged TOASTed column is absent
  Values identity;  // U/D: the old key (replica identity)
};
// Parses one record; numbers keep their exact text. Throws RunError naming what is wrong.
Change parse_change(std::string_view json);

// A COPY text field read back (\\N is not handled here: callers see NULL as the raw field).
std::string copy_unescape(std::string_view field);

// Where a pipeline stands in the slot's stream: every transaction whose commit ends at or
// before `lsn` is applied, and, when a large transaction was split over target commits,
// the first `applied` changes of transaction `xid` too. Stored as the pipeline's watermark
// (columns lsn[, xid, applied]) so status shows it.
struct Position {
  uint64_t lsn = 0;
  std::optional<int64_t> xid;
  int64_t applied = 0;
};
Watermark to_watermark(const Position& p);
Position from_watermark(const Watermark& w);  // throws RunError for a watermark of another kind

// The staging table's extra columns, after the target's: change order, operation, and the
// columns absent from an update (unchanged TOAST values, which the apply keeps).
inline constexpr const char* kSeq = "_tm_seq";
inline constexpr const char* kOp = "_tm_op";
inline constexpr const char* kMissing = "_tm_missing";
// Adds those columns to a staging table made like the target (Target::create_stage).
Sql add_stage_columns(const std::string& stage);

// COPY lines for one change, for staging columns `columns` + (seq, op, missing). An update
// that changes the key becomes a delete of the old key and an upsert of the new one. `seq`
// is advanced per line. Throws RunError when a key column's value is missing.
std::vector<std::string> stage_lines(const Change& c, const std::vector<std::string>& columns,
                                     const std::vector<std::string>& key, int64_t& seq);
// The key values a change touches (old and new), as text, to detect a second change of a key
// within one batch.
std::vector<std::string> touched_keys(const Change& c, const std::vector<std::string>& key);

// Set-based apply of a staged batch: keep the last change per key, delete the keys whose last
// change is a delete, update existing rows (keeping columns an update left out), insert the
// rest. Effects say which statement's count is rows written or deleted.
struct ApplyStatement {
  enum class Effect { kWritten, kDeleted, kNone } effect;
  std::string sql;
  Sql statement() const { return Sql(sql); }  // for Target::exec
};
std::vector<ApplyStatement> apply_statements(const QualifiedName& target, const std::string& stage,
                                             const std::vector<std::string>& columns,
                                             const std::vector<std::string>& key);

}  // namespace tidemark::cdc
