// `tidemark advise`: is this pipeline's strategy a good fit for its source table, and what is
// risky about it? Pure: reads an inspected table, changes nothing (docs/operations.md#advise).
#include <algorithm>

#include "tidemark/config.hpp"
#include "tidemark/inspect.hpp"

namespace tidemark {
namespace {

constexpr int64_t kSmallTable = 10000;

const InspectedColumn* column(const InspectedTable& t, const std::string& name) {
  for (const auto& c : t.columns)
    if (c.name == name) return &c;
  return nullptr;
}

bool server_time(const std::string& expr) {
  return expr.find("now()") != std::string::npos || expr.find("CURRENT_TIMESTAMP") != std::string::npos ||
         expr.find("clock_timestamp()") != std::string::npos;
}

}  // namespace

const char* advice_kind(Advice::Kind k) {
  switch (k) {
    case Advice::Kind::kOk: return "ok";
    case Advice::Kind::kAdvice: return "advice";
    case Advice::Kind::kRisk: return "risk";
  }
  return "?";
}

std::vector<Advice> advise(const PipelineConfig& p, const InspectedTable& t) {
  using K = Advice::Kind;
  std::vector<Advice> out;
  const std::string& s = p.detect.strategy;
  const std::string rows = rows_text(t);
  const bool small = t.estimated_rows >= 0 && t.estimated_rows < kSmallTable;
  if (s == "full") {
    out.push_back(small ? Advice{K::kOk, rows + ": reloading it whole each run is cheap"}
                        : Advice{K::kAdvice, rows + ": a full reload reads them all every run; an incremental "
                                                    "strategy (updated_at with an indexed last-modified column) "
                                                    "would read only the changes"});
  } else if (small && (s == "id" || s == "updated_at")) {
    out.push_back({K::kAdvice, rows + ": strategy full would be as cheap and also sees deletes"});
  }
  if (s == "id" || s == "updated_at") {
    const InspectedColumn* c = column(t, p.detect.cursor);
    if (!c) {
      out.push_back({K::kRisk, "the source has no column " + p.detect.cursor});
    } else {
      out.push_back(c->indexed ? Advice{K::kOk, "an index leads with the cursor " + c->name}
                               : Advice{K::kAdvice, "no index leads with " + c->name +
                                                        ", so each run scans the table: CREATE INDEX ON " +
                                                        t.table.quoted() + " (" + quote_ident(c->name) + ");"});
      if (!c->not_null)
        out.push_back({K::kRisk, c->name + " may be NULL: such rows are never loaded unless detect.null_cursor: include"});
      if (s == "updated_at" && !server_time(c->default_expr) && !p.detect.lookback)
        out.push_back({K::kRisk, c->name + " has no DEFAULT now(), so the application writes it and clocks may "
                                           "disagree: set detect.lookback (e.g. 5m), or a trigger that sets it"});
      const std::string& type = c->type;
      const bool integer = type == "smallint" || type == "integer" || type == "bigint" || type.rfind("numeric", 0) == 0;
      const bool plain_time = type.rfind("timestamp", 0) == 0 && type.find("without time zone") != std::string::npos;
      const bool time = plain_time || type == "date" || type.rfind("timestamp", 0) == 0;
      if (s == "id" && !integer)
        out.push_back({K::kRisk, c->name + " has type " + type + ": strategy id follows an integer column (runs "
                                           "refuse this cursor); use an integer key, or strategy updated_at on a "
                                           "timestamp column"});
      if (s == "updated_at" && !time)
        out.push_back({K::kRisk, c->name + " has type " + type + ": strategy updated_at follows a timestamp or date "
                                           "column (runs refuse this cursor)"});
      if (s == "updated_at" && (plain_time || type == "date")) {
        const bool set = p.detect.time_zone.has_value();
        const std::string zone = set ? *p.detect.time_zone : t.session_time_zone.empty() ? "UTC" : t.session_time_zone;
        out.push_back({K::kAdvice, c->name + " is a " + type + ": its values are read as wall-clock time in " + zone +
                                       (set ? " (detect.time_zone)"
                                            : " (the TimeZone a fresh session of the source connection gets)") +
                                       "; if the writers' sessions use another zone, set detect.time_zone to theirs"});
      }
      if (s == "id" && c->default_expr.rfind("nextval(", 0) != 0)
        out.push_back({K::kRisk, c->name + " is not fed by a sequence: ids written out of order by the application "
                                           "can be skipped; updated_at or cdc is safer"});
    }
    out.push_back({K::kAdvice, "watermarks cannot see deletes: use detect.soft_delete, reconcile, or strategy cdc" +
                                   std::string(t.wal_level == "logical" ? " (wal_level is logical)"
                                                                        : " (needs wal_level = logical; it is " +
                                                                              t.wal_level + ")")});
  }
  if (t.primary_key.empty()) {
    out.push_back({K::kRisk, "the table has no primary key: without a target.key that truly identifies a row, "
                             "writes cannot be idempotent upserts"});
  } else if (p.target.key.empty() && s != "files") {
    out.push_back({K::kAdvice, "the source's primary key is (" + ident_list(t.primary_key) +
                                   "): set target.key to it"});
  }
  if (s == "cdc") {
    if (t.wal_level != "logical")
      out.push_back({K::kRisk, "wal_level is " + t.wal_level + ": CDC needs wal_level = logical (and a restart)"});
    if (t.replica_identity == "n" || (t.replica_identity == "d" && t.primary_key.empty()))
      out.push_back({K::kRisk, "no replica identity: updates and deletes cannot be identified; add a primary key or "
                               "REPLICA IDENTITY FULL"});
    else
      out.push_back({K::kOk, "updates and deletes are identified by the " +
                                 std::string(t.replica_identity == "f" ? "full row (REPLICA IDENTITY FULL)" : "primary key")});
  }
  return out;
}

}  // namespace tidemark
