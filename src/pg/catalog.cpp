// The source catalog of selector pipelines (docs/config.md#selector-pipelines): every table
// whose schema the selectors' globs may match, with what expansion and strategy auto need,
// in one query however many tables there are.
#include <nlohmann/json.hpp>

#include "pg/internal.hpp"

namespace tidemark::pg {

using json = nlohmann::json;

std::vector<InspectedTable> list_tables(Connection& c, const std::vector<std::string>& schema_regexes) {
  try {
    pqxx::nontransaction tx(c.raw());
    // Ordinary and partitioned tables (a partition is read through its parent), never the
    // system schemas. Columns: name, type with modifier, NOT NULL, an index leads with it,
    // default, identity; the primary key in key order; reltuples (-1: never analysed) and size,
    // summed over the partitions of a partitioned table.
    const std::string sql =
        "SELECT n.nspname, c.relname,"
        // A partitioned table has no rows or storage of its own: its partitions' (the leaves).
        " CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN bool_and(l.reltuples < 0) THEN -1"
        "   ELSE coalesce(sum(greatest(l.reltuples, 0)), 0) END FROM pg_partition_tree(c.oid) t"
        "   JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf) ELSE c.reltuples END::bigint,"
        " CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_table_size(t.relid)), 0) FROM"
        "   pg_partition_tree(c.oid) t WHERE t.isleaf) ELSE pg_table_size(c.oid) END,"
        " (SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        "    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum),"
        "    coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity <> '') ORDER BY a.attnum)"
        "   FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),"
        " (SELECT json_agg(a.attname ORDER BY k.o) FROM pg_index i"
        "   JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(n, o) ON true"
        "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
        "   WHERE i.indrelid = c.oid AND i.indisprimary)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
        "   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
        "   AND n.nspname ~ ANY (" + tx.quote(array_literal(schema_regexes)) + "::text[])"
        " ORDER BY n.nspname, c.relname";
    std::vector<InspectedTable> out;
    for (const auto& row : tx.exec(sql)) {
      InspectedTable t;
      t.table = QualifiedName{row[0].c_str(), row[1].c_str()};
      const int64_t reltuples = row[2].as<int64_t>();
      t.analysed = reltuples >= 0;
      t.estimated_rows = reltuples;
      t.size_bytes = row[3].as<int64_t>();
      if (!row[4].is_null())
        for (const auto& col : json::parse(row[4].c_str())) {
          InspectedColumn ic;
          ic.name = col.at(0).get<std::string>();
          ic.type = col.at(1).get<std::string>();
          ic.not_null = col.at(2).get<bool>();
          ic.indexed = col.at(3).get<bool>();
          ic.default_expr = col.at(4).get<std::string>();
          ic.identity = col.at(5).get<bool>();
          t.columns.push_back(std::move(ic));
        }
      if (!row[5].is_null())
        for (const auto& k : json::parse(row[5].c_str())) t.primary_key.push_back(k.get<std::string>());
      t.session_time_zone = c.session_time_zone();
      out.push_back(std::move(t));
    }
    return out;
  } catch (...) {
    translate("source '" + c.name() + "'");
  }
}

}  // namespace tidemark::pg
