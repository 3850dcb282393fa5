// Reading a source table's shape for `tidemark init`.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "pg/internal.hpp"
#include "tidemark/inspect.hpp"

namespace tidemark::pg {

using json = nlohmann::json;

InspectedTable inspect_table(Connection& c, const QualifiedName& table) {
  try {
    pqxx::nontransaction tx(c.raw());
    const std::string rel = "to_regclass(" + tx.quote(table.quoted()) + ")";
    pqxx::row head = tx.exec1("SELECT " + rel + " IS NOT NULL, (SELECT reltuples::bigint FROM pg_class WHERE oid = " + rel +
                              "), (SELECT relreplident::text FROM pg_class WHERE oid = " + rel +
                              "), current_setting('wal_level')");
    if (!head[0].as<bool>()) throw RunError("source '" + c.name() + "': table " + table.display() + " does not exist");
    InspectedTable t;
    t.table = table;
    // reltuples is -1 before the first ANALYZE or VACUUM (and 0 or stale until autovacuum
    // gets there): count small tables exactly, at most kCountedRows + 1 rows read, and ask
    // the planner about the rest, which scales by the table's current size.
    const int64_t reltuples = head[1].is_null() ? -1 : head[1].as<int64_t>();
    t.analysed = reltuples >= 0;
    t.estimated_rows = -1;
    try {
      const int64_t counted = tx.exec1("SELECT count(*) FROM (SELECT FROM " + table.quoted() + " LIMIT " +
                                       std::to_string(kCountedRows + 1) + ") s")[0].as<int64_t>();
      if (counted <= kCountedRows) {
        t.estimated_rows = counted;
        t.rows_exact = true;
      } else {
        const json plan = json::parse(tx.exec1("EXPLAIN (FORMAT JSON) SELECT FROM " + table.quoted())[0].c_str());
        t.estimated_rows = std::max<int64_t>({plan.at(0).at("Plan").at("Plan Rows").get<int64_t>(), reltuples, counted});
      }
    } catch (const std::exception&) {  // e.g. no SELECT on the table: fall back to the statistics
      t.estimated_rows = reltuples;
    }
    t.replica_identity = head[2].is_null() ? "" : head[2].c_str();
    t.wal_level = head[3].c_str();
    t.session_time_zone = c.session_time_zone();
    for (const auto& row : tx.exec(
             "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
             " EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum),"
             " coalesce(pg_get_expr(d.adbin, d.adrelid), '')"
             " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
             " WHERE a.attrelid = " + rel + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"))
      t.columns.push_back({row[0].c_str(), row[1].c_str(), row[2].as<bool>(), row[3].as<bool>(), row[4].c_str()});
    for (const auto& row : tx.exec("SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(n, o)"
                                   " ON true JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
                                   " WHERE i.indrelid = " + rel + " AND i.indisprimary ORDER BY k.o"))
      t.primary_key.push_back(row[0].c_str());
    return t;
  } catch (...) {
    translate("source '" + c.name() + "'");
  }
}

}  // namespace tidemark::pg
