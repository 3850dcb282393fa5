// What a source table looks like, as `tidemark init` needs it (src/pg/inspect.cpp reads it;
// src/config/init.cpp, pure, turns it into a commented config).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tidemark/sql.hpp"

namespace tidemark {

struct InspectedColumn {
  std::string name, type;  // format_type with modifier
  bool not_null = false;
  bool indexed = false;     // an index leads with it
  std::string default_expr; // e.g. "now()", "nextval('orders_id_seq'::regclass)"; "" when none
  bool identity = false;    // GENERATED … AS IDENTITY
};

struct InspectedTable {
  QualifiedName table;
  std::vector<InspectedColumn> columns;
  std::vector<std::string> primary_key;
  int64_t estimated_rows = 0;  // the exact count when rows_exact, else the planner's estimate; -1 unknown
  std::string replica_identity;  // pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex)
  std::string wal_level;         // of the source server
  std::string session_time_zone; // TimeZone of a fresh session of the connection (before tidemark's SET)
  bool rows_exact = false;       // the table has at most kCountedRows rows, counted
  bool analysed = true;          // pg_class.reltuples >= 0: ANALYZE or VACUUM has seen the table
  int64_t size_bytes = -1;       // the table's size on disk (-1: not read)
};

// How much a column's name says "last modified": 2 for updated_at and its kin, 1 for a name
// containing "updat" or "modif", 0 otherwise (init and strategy auto pick cursors by it).
int last_modified_score(const std::string& column);

// Tables are counted up to this many rows (a bounded, cheap count); larger ones are estimated.
constexpr int64_t kCountedRows = 10000;

// The row figure for messages: "500 rows", "about 200000 rows (…not analysed…)".
std::string rows_text(const InspectedTable& t);

// `tidemark advise`: what fits a pipeline and what is risky, from its source table's shape.
struct Advice {
  enum class Kind { kOk, kAdvice, kRisk } kind;
  std::string text;
};
std::vector<Advice> advise(const struct PipelineConfig& p, const InspectedTable& t);
const char* advice_kind(Advice::Kind k);
// Below this many rows, reloading is as cheap as tracking changes (init and advise say so).
constexpr int64_t kSmallTable = 10000;

// The config `tidemark init` prints for `t`: a pipeline named `name`, loading into `target`,
// with the strategy and cursor it recommends and a comment saying why.
// The text always passes `tidemark validate` and reads back as the same table, target, cursor,
// key and name; if it would not (a bug), init_config throws RunError instead of returning it.
std::string init_config(const InspectedTable& t, const std::string& name, const QualifiedName& target);

// A valid pipeline name for `table` (its name with every run of other characters replaced
// by one '_'), for when `init` is given no --name.
std::string default_pipeline_name(const QualifiedName& table);

}  // namespace tidemark
