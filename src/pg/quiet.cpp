// What the check of unchanged pipelines reads of many tables at once (pg.hpp: QuietTable):
// one statement for all the source tables, one for all the targets, one for whether anything
// lies beyond each watermark.
#include <nlohmann/json.hpp>

#include "pg/internal.hpp"

namespace tidemark::pg {

using nlohmann::json;

std::vector<std::optional<QuietTable>> describe_tables(Connection& c,
                                                       const std::vector<const PipelineConfig*>& pipelines) {
  try {
    pqxx::nontransaction tx(c.raw());
    std::vector<std::string> names, cursors, keys;
    for (const PipelineConfig* p : pipelines) {
      names.push_back(p->source.table->quoted());
      cursors.push_back(p->detect.cursor);
      keys.push_back(json(p->target.key).dump());
    }
    // Per table what Source::describe reads: the columns (type without and with modifier, NOT
    // NULL, whether the type is a domain), the cursor's sequence and its CACHE, whether the
    // cursor may be NULL and leads an index, whether the key is unique at the source.
    const std::string has_cursor =
        "c.oid IS NOT NULL AND u.cur <> '' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND "
        "a.attname = u.cur AND a.attnum > 0 AND NOT a.attisdropped)";
    const std::string sql =
        "SELECT n.nspname, c.relname,"
        " (SELECT coalesce(json_agg(json_build_array(a.attname, format_type(a.atttypid, NULL),"
        "   format_type(a.atttypid, a.atttypmod), a.attnotnull, t.typtype = 'd') ORDER BY a.attnum), '[]')"
        "   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,"
        " CASE WHEN " + has_cursor + " THEN (SELECT json_build_array(q.seq, ps.seqcache) FROM"
        "   (SELECT pg_get_serial_sequence(u.name, u.cur) AS seq) q LEFT JOIN pg_sequence ps"
        "   ON ps.seqrelid = to_regclass(q.seq) WHERE q.seq IS NOT NULL)::text END,"
        " CASE WHEN " + has_cursor + " THEN (SELECT json_build_array(NOT a.attnotnull, EXISTS (SELECT 1 FROM"
        "   pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum AND i.indpred IS NULL))"
        "   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = u.cur)::text END,"
        " u.keys <> '[]' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique"
        "   AND i.indpred IS NULL AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text ORDER BY"
        "   a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) ="
        "   (SELECT array_agg(k ORDER BY k) FROM json_array_elements_text(u.keys::json) k))"
        " FROM unnest(" + tx.quote(array_literal(names)) + "::text[], " + tx.quote(array_literal(cursors)) +
        "::text[], " + tx.quote(array_literal(keys)) + "::text[]) WITH ORDINALITY AS u(name, cur, keys, i)"
        " LEFT JOIN pg_class c ON c.oid = to_regclass(u.name)"
        " LEFT JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY u.i";
    const pqxx::result r = tx.exec(sql);
    std::vector<std::optional<QuietTable>> out;
    for (size_t i = 0; i < pipelines.size(); ++i) {
      const pqxx::row row = r.at(static_cast<pqxx::result::size_type>(i));
      const PipelineConfig& p = *pipelines[i];
      out.emplace_back();
      if (row[0].is_null()) continue;
      QuietTable t;
      t.resolved = quote_ident(row[0].c_str()) + "." + quote_ident(row[1].c_str());
      std::vector<ColumnInfo> all;
      bool domain = false;
      for (const auto& a : json::parse(row[2].c_str())) {
        all.push_back({a[0].get<std::string>(), a[1].get<std::string>(), a[2].get<std::string>(), a[3].get<bool>()});
        domain = domain || a[4].get<bool>();
      }
      if (domain) continue;
      SourceShape& shape = t.shape;
      bool missing = false;
      if (p.source.columns.empty()) {
        shape.columns = all;
      } else {
        for (const auto& want : p.source.columns) {
          auto it = std::find_if(all.begin(), all.end(), [&](const ColumnInfo& col) { return col.name == want; });
          if (it == all.end()) missing = true;
          else shape.columns.push_back(*it);
        }
      }
      if (missing) continue;
      read_cursor_facts(shape, row[3], row[4]);
      if (!p.target.key.empty()) shape.key_unique = row[5].as<bool>();
      session_time_zone_of(shape, c);
      out.back() = std::move(t);
    }
    return out;
  } catch (...) {
    translate("source '" + c.name() + "'");
  }
}

std::vector<std::optional<QuietTarget>> describe_targets(Connection& c, const std::vector<QualifiedName>& tables) {
  try {
    pqxx::nontransaction tx(c.raw());
    std::vector<std::string> names;
    for (const auto& t : tables) names.push_back(t.quoted());
    const pqxx::result r = tx.exec(
        "SELECT n.nspname, c.relname, (SELECT coalesce(json_agg(json_build_array(a.attname,"
        " format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum), '[]') FROM pg_attribute a"
        " WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text"
        " FROM unnest(" + tx.quote(array_literal(names)) + "::text[]) WITH ORDINALITY AS u(name, i)"
        " LEFT JOIN pg_class c ON c.oid = to_regclass(u.name)"
        " LEFT JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY u.i");
    std::vector<std::optional<QuietTarget>> out;
    for (size_t i = 0; i < tables.size(); ++i) {
      const pqxx::row row = r.at(static_cast<pqxx::result::size_type>(i));
      out.emplace_back();
      if (row[0].is_null()) continue;
      QuietTarget t;
      t.resolved = quote_ident(row[0].c_str()) + "." + quote_ident(row[1].c_str());
      for (const auto& a : json::parse(row[2].c_str())) t.columns.push_back({a[0].get<std::string>(), a[1].get<std::string>()});
      if (t.columns.empty()) continue;  // as Target::describe: no columns, no table
      out.back() = std::move(t);
    }
    return out;
  } catch (...) {
    translate("target '" + c.name() + "'");
  }
}

std::vector<int64_t> query_integers(Connection& c, const std::vector<Sql>& checks, int64_t null_as) {
  if (checks.empty()) return {};
  try {
    pqxx::nontransaction tx(c.raw());
    // A row per check (a select list would stop at 1664 columns).
    std::string sql = "SELECT v.n FROM (VALUES ";
    for (size_t i = 0; i < checks.size(); ++i)
      sql += (i ? ", (" : "(") + std::to_string(i) + ", (" + c.render(checks[i]) + ")::bigint)";
    sql += ") AS v(i, n) ORDER BY v.i";
    const pqxx::result r = tx.exec(sql);
    std::vector<int64_t> out;
    for (const auto& row : r) out.push_back(row[0].is_null() ? null_as : row[0].as<int64_t>());
    if (out.size() != checks.size()) throw RunError("the checks returned " + std::to_string(out.size()) + " rows");
    return out;
  } catch (...) {
    translate("source '" + c.name() + "'");
  }
}

}  // namespace tidemark::pg
