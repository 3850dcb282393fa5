// Reading the source: its shape, the in-flight observations and the delta, all but the
// first observation inside one REPEATABLE READ READ ONLY snapshot.
#include <nlohmann/json.hpp>

#include <chrono>

#include "pg/internal.hpp"
#include "tidemark/source_sql.hpp"
#include "tidemark/util.hpp"

namespace tidemark::pg {

using nlohmann::json;

Source::Source(Connection& c) : c_(c) {}

Source::~Source() {
  if (!open_ || !tx_) return;
  try {  // a snapshot left open by a failure: end it, so the session is clean for whoever is next
    tx_->exec("ROLLBACK");
  } catch (...) {  // the session is gone: nothing is open any more
  }
}

static std::vector<std::string> json_strings(const pqxx::field& f) {
  std::vector<std::string> out;
  for (const auto& v : json::parse(f.c_str())) out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

void read_cursor_facts(SourceShape& shape, const pqxx::field& sequence, const pqxx::field& cursor) {
  if (!sequence.is_null()) {
    const json seq = json::parse(sequence.c_str());
    shape.cursor_sequence = seq[0].get<std::string>();
    shape.sequence_cache = seq[1].is_null() ? 1 : seq[1].get<int64_t>();
  }
  if (!cursor.is_null()) {
    const json c = json::parse(cursor.c_str());
    shape.cursor_nullable = c[0].get<bool>();
    shape.cursor_indexed = c[1].get<bool>();
  }
}

void session_time_zone_of(SourceShape& shape, const Connection& c) {
  shape.time_zone = c.session_time_zone();
  shape.time_zone_from = "the TimeZone of a fresh session of source connection '" + c.name() + "'";
}

SourceShape Source::describe(const PipelineConfig& p) {
  const std::string where = "source '" + c_.name() + "' of pipeline " + p.name;
  try {
    pqxx::nontransaction tx(c_.raw());
    std::string from = strategy::source_from(p.source);
    pqxx::result r;
    try {
      r = tx.exec("SELECT * FROM " + from + " LIMIT 0");
    } catch (const pqxx::undefined_table&) {
      throw RunError(where + ": table " + p.source.table->display() + " does not exist");
    }
    // Everything else the plan needs from the catalog in one round trip: the columns' types
    // (from the result's type oids), and for a table its exact types and NOT NULL, the
    // cursor's sequence, whether the cursor may be NULL and leads an index, and whether the
    // key is unique at the source.
    std::vector<std::string> oids;
    for (pqxx::row::size_type i = 0; i < r.columns(); ++i) oids.push_back(std::to_string(r.column_type(i)));
    const bool table = p.source.table.has_value();
    const bool cursor = table && !p.detect.cursor.empty();
    const bool key = table && !p.target.key.empty();
    const std::string rel = table ? "to_regclass(" + tx.quote(p.source.table->quoted()) + ")" : "NULL::regclass";
    std::string q = "SELECT (SELECT coalesce(json_agg(format_type(t, NULL) ORDER BY i), '[]') FROM unnest(" +
                    tx.quote(array_literal(oids)) + "::oid[]) WITH ORDINALITY AS u(t, i))::text";
    q += table ? ", (SELECT coalesce(json_agg(json_build_array(attname, format_type(atttypid, atttypmod), attnotnull)),"
                 " '[]') FROM pg_attribute WHERE attrelid = " + rel + " AND attnum > 0 AND NOT attisdropped)::text"
               : ", NULL::text";
    q += cursor ? ", (SELECT json_build_array(q.seq, ps.seqcache) FROM (SELECT pg_get_serial_sequence(" +
                      tx.quote(p.source.table->quoted()) + ", " + tx.quote(p.detect.cursor) +
                      ") AS seq) q LEFT JOIN pg_sequence ps ON ps.seqrelid = to_regclass(q.seq) WHERE q.seq IS NOT NULL)::text"
                      ", (SELECT json_build_array(NOT a.attnotnull, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = "
                      "a.attrelid AND i.indkey[0] = a.attnum AND i.indpred IS NULL)) FROM pg_attribute a WHERE a.attrelid = " +
                      rel + " AND a.attname = " + tx.quote(p.detect.cursor) + ")::text"
                : ", NULL::text, NULL::text";
    // The key is the source's primary key or a unique constraint: no duplicates to drop.
    q += key ? ", EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = " + rel +
                   " AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND "
                   "(SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a "
                   "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = "
                   "(SELECT array_agg(k ORDER BY k) FROM unnest(" + tx.quote(array_literal(p.target.key)) +
                   "::text[]) AS k))"
             : ", false";
    const pqxx::row cat = tx.exec1(q);
    const json types = json::parse(cat[0].c_str());
    std::vector<ColumnInfo> all;
    for (pqxx::row::size_type i = 0; i < r.columns(); ++i) {
      const std::string type = types.at(i).get<std::string>();
      all.push_back({r.column_name(i), type, type, false});
    }
    if (table)  // exact types and NOT NULL, for target.create / on_schema_change
      for (const auto& a : json::parse(cat[1].c_str()))
        for (auto& c : all)
          if (c.name == a[0].get<std::string>()) {
            c.full_type = a[1].get<std::string>();
            c.not_null = a[2].get<bool>();
          }

    SourceShape shape;
    if (p.source.columns.empty()) {
      shape.columns = all;
    } else {
      std::vector<std::string> names;
      for (const auto& c : all) names.push_back(c.name);
      for (const auto& want : p.source.columns) {
        const ColumnInfo* found = nullptr;
        for (const auto& c : all)
          if (c.name == want) found = &c;
        if (!found) throw RunError(where + ": the source has no column '" + want + "'" + did_you_mean(want, names));
        shape.columns.push_back(*found);
      }
    }
    read_cursor_facts(shape, cat[2], cat[3]);
    if (key) shape.key_unique = cat[4].as<bool>();
    // The zone of a plain timestamp cursor: the config's, checked against the server's zone
    // names, else this connection's session default (docs/correctness.md#time-zones).
    if (p.detect.time_zone) {
      try {
        tx.exec("SELECT now() AT TIME ZONE " + tx.quote(*p.detect.time_zone));
      } catch (const pqxx::sql_error&) {
        throw ConfigError("pipeline " + p.name + ": detect.time_zone '" + *p.detect.time_zone +
                          "' is not a time zone the source server knows (a name from pg_timezone_names, such as "
                          "America/Chicago, or UTC)");
      }
      shape.time_zone = *p.detect.time_zone;
      shape.time_zone_from = "detect.time_zone";
    } else {
      session_time_zone_of(shape, c_);
    }
    return shape;
  } catch (...) {
    translate(where);
  }
}

// The high mark's row has a NULL in a cursor or key column (read whichever way).
static RunError null_in_high(const Connection& c, const std::string& column) {
  return RunError("source '" + c.name() + "': column '" + column +
                  "' is NULL in the row with the largest cursor; cursor keys must not be NULL");
}

struct Connection::LastObservation {
  std::string horizon;  // the horizon statement as sent
  std::chrono::steady_clock::time_point at;
  Source::BeforeSnapshot seen;
};

Source::BeforeSnapshot Source::observe_before(const std::optional<Sql>& horizon,
                                              const std::vector<std::string>& writer_locks, int64_t max_age_ms,
                                              bool& reused) {
  const std::string text = horizon ? c_.render(*horizon) : std::string();
  const auto now = std::chrono::steady_clock::now();
  const auto& last = c_.last_observation_;
  reused = last && last->horizon == text && now - last->at <= std::chrono::milliseconds(max_age_ms);
  if (reused) return last->seen;
  BeforeSnapshot seen = observe_before(horizon, writer_locks);
  c_.last_observation_ = std::make_shared<Connection::LastObservation>(Connection::LastObservation{text, now, seen});
  return seen;
}

Source::BeforeSnapshot Source::observe_before(const std::optional<Sql>& horizon,
                                              const std::vector<std::string>& writer_locks) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::string h = horizon ? "(" + c_.render(*horizon) + ")::text" : "NULL::text";
    const std::string locks = tx.quote(array_literal(writer_locks));
    pqxx::row r = tx.exec1(
        "SELECT " + h +
        ", (SELECT coalesce(json_agg(json_build_array(a.pid, (extract(epoch FROM a.xact_start) * 1000000)::bigint::text,"
        " EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = ANY (SELECT to_regclass(x) FROM unnest(" +
        locks + "::text[]) AS x)))), '[]')::text FROM pg_stat_activity a WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() "
        "AND xact_start IS NOT NULL AND backend_type = 'client backend' "
        "AND application_name IS DISTINCT FROM 'tidemark-source')"
        ", (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query = '<insufficient privilege>')"
        ", (SELECT coalesce(json_agg(transaction::text), '[]')::text FROM pg_prepared_xacts "
        "WHERE database = current_database())"
        ", (SELECT json_build_array(pid, extract(epoch FROM now() - xact_start)::bigint)::text FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        "AND backend_type = 'client backend' AND application_name IS DISTINCT FROM 'tidemark-source' "
        "ORDER BY xact_start LIMIT 1)");
    BeforeSnapshot b;
    if (!r[0].is_null()) b.horizon = r[0].c_str();
    for (const auto& s : json::parse(r[1].c_str()))
      b.sessions.push_back({{s[0].get<int64_t>(), s[1].get<std::string>()}, s[2].get<bool>()});
    b.hidden_sessions = r[2].as<int64_t>();
    b.prepared = json_strings(r[3]);
    if (!r[4].is_null()) {
      json oldest = json::parse(r[4].c_str());
      b.oldest_pid = oldest[0].get<int64_t>();
      b.oldest_seconds = oldest[1].get<int64_t>();
    }
    return b;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

Source::Snapshot Source::begin_snapshot() {
  std::optional<bool> unused;
  return begin_snapshot(std::nullopt, unused);
}

// BEGIN travels with the first statement, in one round trip: the transaction is opened by
// hand on a nontransaction (finish() commits it, the destructor rolls it back), and that
// first statement fixes the snapshot, so the xip list and whatever `extra` reads (columns 3
// on) are that snapshot's.
pqxx::row Source::open_snapshot(const std::string& extra) {
  tx_ = std::make_unique<pqxx::nontransaction>(c_.raw());
  open_ = true;
  return tx_->exec1(
      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
      "WITH x AS (SELECT pg_snapshot_xip(pg_current_snapshot()) AS xid) "
      "SELECT (SELECT coalesce(json_agg(xid::text), '[]') FROM x)::text, "
      "(SELECT coalesce(json_agg(xid::text), '[]') FROM x WHERE (xid::text::numeric % 4294967296)::text IN ("
      "SELECT backend_xid::text FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL "
      "UNION ALL SELECT transaction::text FROM pg_prepared_xacts WHERE database = current_database()))::text, "
      "(SELECT coalesce(json_agg(xid::text), '[]') FROM x WHERE (xid::text::numeric % 4294967296)::text IN ("
      "SELECT transaction::text FROM pg_prepared_xacts WHERE database = current_database()))::text" + extra);
}

Source::Snapshot Source::begin_snapshot(const std::optional<Sql>& probe, std::optional<bool>& probe_result) {
  try {
    const pqxx::row r = open_snapshot(probe ? ", (" + c_.render(*probe) + ")" : std::string(", NULL::boolean"));
    probe_result = r[3].is_null() ? std::nullopt : std::optional<bool>(r[3].as<bool>());
    return {json_strings(r[0]), json_strings(r[1]), json_strings(r[2])};
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

Source::Snapshot Source::begin_snapshot(const FirstReads& in, std::optional<bool>& probe_result,
                                        std::optional<Tuple>& high_result) {
  try {
    // The high mark as a JSON array of its columns' text (a cast to text is the type's output
    // function, as a text result column is); a CASE evaluates only the branch it takes.
    auto tuple_of = [&](const Sql& q) {
      std::string cols;
      for (size_t i = 0; i < in.columns.size(); ++i) cols += (i ? ", h." : "h.") + quote_ident(in.columns[i]) + "::text";
      return "(SELECT json_build_array(" + cols + ") FROM (" + c_.render(q) + ") h)";
    };
    std::string extra = in.probe ? ", (" + c_.render(*in.probe) + ")" : std::string(", NULL::boolean");
    extra += in.probe && in.tie_high
                 ? ", (CASE WHEN (" + c_.render(*in.probe) + ") THEN " + tuple_of(*in.tie_high) + " ELSE " +
                       tuple_of(in.high) + " END)::text"
                 : ", " + tuple_of(in.high) + "::text";
    const pqxx::row r = open_snapshot(extra);
    probe_result = r[3].is_null() ? std::nullopt : std::optional<bool>(r[3].as<bool>());
    high_result.reset();
    if (!r[4].is_null()) {
      const json values = json::parse(r[4].c_str());
      Tuple t;
      for (size_t i = 0; i < values.size(); ++i) {
        if (values[i].is_null())
          throw null_in_high(c_, in.columns.at(i));
        t.push_back(values[i].get<std::string>());
      }
      high_result = std::move(t);
    }
    return {json_strings(r[0]), json_strings(r[1]), json_strings(r[2])};
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

std::optional<Tuple> Source::query_tuple(const Sql& sql) {
  try {
    pqxx::result r = tx_->exec(c_.render(sql));
    if (r.empty()) return std::nullopt;
    Tuple t;
    for (pqxx::row::size_type i = 0; i < r.columns(); ++i) {
      if (r[0][i].is_null())
        throw null_in_high(c_, r.column_name(i));
      t.push_back(r[0][i].c_str());
    }
    return t;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

std::optional<int64_t> Source::estimate_rows(const Sql& select) {
  try {
    pqxx::nontransaction tx(c_.raw());
    const pqxx::row r = tx.exec1("EXPLAIN (FORMAT JSON) " + c_.render(select));
    const json plan = json::parse(r[0].c_str());
    return plan.at(0).at("Plan").at("Plan Rows").get<int64_t>();
  } catch (const std::exception&) {  // an estimate is a nicety: never fail a dry run for it
    return std::nullopt;
  }
}

std::vector<Tuple> Source::query_rows(const Sql& sql) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<Tuple> out;
    for (const auto& row : tx.exec(c_.render(sql))) {
      Tuple t;
      for (const auto& f : row) t.push_back(f.is_null() ? "" : f.c_str());
      out.push_back(std::move(t));
    }
    return out;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

std::vector<std::vector<std::optional<std::string>>> Source::snapshot_rows(const Sql& sql) {
  try {
    std::vector<std::vector<std::optional<std::string>>> out;
    for (const auto& row : tx_->exec(c_.render(sql))) {
      std::vector<std::optional<std::string>> r;
      for (const auto& f : row) r.push_back(f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str()));
      out.push_back(std::move(r));
    }
    return out;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

bool Source::tuple_at_least(const Tuple& a, const Tuple& b, const std::vector<std::string>& types) {
  const size_t n = std::min({a.size(), b.size(), types.size()});
  Sql s("SELECT ROW(");
  for (size_t i = 0; i < n; ++i) s.text(i ? ", CAST(" : "CAST(").value(a[i]).text(" AS " + types[i] + ")");
  s.text(") >= ROW(");
  for (size_t i = 0; i < n; ++i) s.text(i ? ", CAST(" : "CAST(").value(b[i]).text(" AS " + types[i] + ")");
  s.text(")");
  try {
    return row(s)[0].as<bool>();
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

std::optional<std::string> Source::input_error(const std::string& value, const std::string& type) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec(c_.render(Sql("SELECT CAST(").value(value).text(" AS " + type + ")")));
    return std::nullopt;
  } catch (const pqxx::data_exception& e) {  // invalid input syntax, out of range, …
    std::string msg = e.what();
    if (msg.rfind("ERROR:", 0) == 0) msg = msg.substr(6);
    while (!msg.empty() && (msg[0] == ' ')) msg.erase(0, 1);
    return msg.substr(0, msg.find('\n'));
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

bool Source::value_at_most(const std::string& a, const std::string& b, const std::string& type) {
  Sql s("SELECT CAST(");
  s.value(a).text(" AS " + type + ") <= CAST(").value(b).text(" AS " + type + ")");
  try {
    return row(s)[0].as<bool>();
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

int64_t Source::epoch_us(const std::string& value, const std::string& type, const std::string& zone) {
  Sql s("SELECT (extract(epoch FROM ");
  s.append(strategy::cursor_instant(value, type, zone)).text(") * 1000000)::bigint");
  try {
    return row(s)[0].as<int64_t>();
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

int64_t Source::copy_table(const QualifiedName& table, const std::vector<std::string>& columns,
                           const LineSink& sink) {
  return copy_out(Sql("SELECT " + ident_list(columns) + " FROM " + table.quoted()), sink);
}

pqxx::row Source::row(const Sql& sql) {
  if (tx_) return tx_->exec1(c_.render(sql));
  pqxx::nontransaction tx(c_.raw());  // outside a snapshot: a comparison needs none
  return tx.exec1(c_.render(sql));
}

int64_t Source::count(const Sql& sql) {
  try {
    return tx_->exec1(c_.render(sql))[0].as<int64_t>();
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

int64_t Source::copy_out(const Sql& select, const LineSink& sink) {
  try {
    pqxx::stream_from in(*tx_, "(" + c_.render(select) + ")");
    std::string line;
    int64_t rows = 0;
    while (in.get_raw_line(line)) {
      sink(line);
      ++rows;
    }
    in.complete();
    return rows;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

void Source::finish() {
  try {
    if (tx_ && open_) tx_->exec("COMMIT");
    open_ = false;
    tx_.reset();
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

}  // namespace tidemark::pg
