// Many tables under churn (issue 17, section 5): two selector pipelines over 30 source tables of
// every shape `auto` and a configured strategy distinguish, changed at random (seeded) between
// runs that alternate --jobs 1 and --jobs 3, with a table created midway; after every run each
// target must equal its source by content.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// What the churn may do to a table, by the strategy its shape should get: incremental tables
// only see inserts (id) or inserts and updates that bump the cursor (updated_at); full tables
// take deletes too.
enum class Shape { kUpdatedAt, kId, kFull };

struct Table {
  std::string name;
  Shape shape;
  std::string cursor;    // updated_at tables: the column an update bumps
  std::string order_by;  // a total order of the rows, for the fingerprint
  std::string create;    // CREATE TABLE (and index)
  std::string insert;    // INSERT … SELECT … FROM generate_series(1, N) g, with N as {n} and the round as {r}
  std::string update;    // SET list of an update besides the cursor, e.g. "v = v + 1"
  std::string pick;      // a column whose residue picks the rows to update or delete
  const char* strategy;  // the strategy the table must get
};

std::string fill(std::string text, int n, int round) {
  for (const auto& [k, v] : {std::pair<std::string, std::string>{"{n}", std::to_string(n)},
                             std::pair<std::string, std::string>{"{r}", std::to_string(round)}})
    for (size_t at = text.find(k); at != std::string::npos; at = text.find(k, at))
      text.replace(at, k.size(), v);
  return text;
}

// Row text with the characters COPY and the row fingerprint must carry unchanged.
const char* const kNote = "E'tab\\there, \"quoted\", back\\\\slash, new\\nline, caf\\u00e9 \\u20ac|' || g";

std::vector<Table> tables() {
  std::vector<Table> out;
  // updated_at by auto: an indexed last-modified column and a primary key, in three forms.
  for (int i = 1; i <= 10; ++i) {
    const std::string n = "u" + std::to_string(i);
    if (i % 3 == 1)
      out.push_back({n, Shape::kUpdatedAt, "updated_at", "id",
                     "CREATE TABLE SRC." + n + " (id bigserial PRIMARY KEY, v int NOT NULL, note text, amount numeric(12,2), "
                     "tags text[], meta jsonb, updated_at timestamptz NOT NULL DEFAULT now());"
                     "CREATE INDEX ON SRC." + n + " (updated_at);",
                     "INSERT INTO SRC." + n + " (v, note, amount, tags, meta) SELECT g, CASE WHEN g % 5 = 0 THEN NULL "
                     "ELSE " + std::string(kNote) + " END, g * 1.25, ARRAY['a' || g, NULL, '{r}'], "
                     "jsonb_build_object('g', g, 'r', {r}) FROM generate_series(1, {n}) g",
                     "v = v + 1, amount = amount + 0.01, meta = meta || '{\"touched\": true}'", "id", "updated_at"});
    else if (i % 3 == 2)
      out.push_back({n, Shape::kUpdatedAt, "modified_at", "code",
                     "CREATE TABLE SRC." + n + " (code text PRIMARY KEY, v int NOT NULL, note text, "
                     "modified_at timestamptz NOT NULL DEFAULT now());"
                     "CREATE INDEX ON SRC." + n + " (modified_at);",
                     "INSERT INTO SRC." + n + " (code, v, note) SELECT 'r{r}-' || g, g, " + std::string(kNote) +
                         " FROM generate_series(1, {n}) g",
                     "v = v + 7, note = note || '+'", "v", "updated_at"});
    else
      out.push_back({n, Shape::kUpdatedAt, "last_modified", "a, b",
                     "CREATE TABLE SRC." + n + " (a int, b text, payload bytea, flag boolean, "
                     "last_modified timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (a, b));"
                     "CREATE INDEX ON SRC." + n + " (last_modified);",
                     "INSERT INTO SRC." + n + " (a, b, payload, flag) SELECT {r}, 'k' || g, "
                     "decode(md5(g::text), 'hex'), g % 2 = 0 FROM generate_series(1, {n}) g",
                     "flag = NOT flag, payload = payload || '\\x00ff'::bytea", "a + length(b)", "updated_at"});
  }
  // id by auto: a serial or identity key and no indexed last-modified column.
  for (int i = 1; i <= 10; ++i) {
    const std::string n = "a" + std::to_string(i);
    if (i % 2 == 1)
      out.push_back({n, Shape::kId, "", "id",
                     "CREATE TABLE SRC." + n + " (id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz DEFAULT now());",
                     "INSERT INTO SRC." + n + " (kind, payload) SELECT 'k' || (g % 4), jsonb_build_object('g', g, "
                     "'note', " + std::string(kNote) + ") FROM generate_series(1, {n}) g",
                     "", "", "id"});
    else
      out.push_back({n, Shape::kId, "", "id",
                     "CREATE TABLE SRC." + n + " (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text, "
                     "x double precision, updated_at timestamptz DEFAULT now());",  // not indexed: auto takes id
                     "INSERT INTO SRC." + n + " (body, x) SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE 'b' || g END, "
                     "g / 3.0 FROM generate_series(1, {n}) g",
                     "", "", "id"});
  }
  // full by auto: small, no usable cursor; one without any key.
  for (int i = 1; i <= 4; ++i) {
    const std::string n = "f" + std::to_string(i);
    if (i % 2 == 1)
      out.push_back({n, Shape::kFull, "", "code",
                     "CREATE TABLE SRC." + n + " (code text PRIMARY KEY, name text, rank int);",
                     "INSERT INTO SRC." + n + " (code, name, rank) SELECT 'r{r}-' || g, " + std::string(kNote) +
                         ", g FROM generate_series(1, {n}) g",
                     "name = upper(name), rank = rank * 2", "rank", "full"});
    else
      out.push_back({n, Shape::kFull, "", "t::text",
                     "CREATE TABLE SRC." + n + " (k int, label text, on_date date);",
                     "INSERT INTO SRC." + n + " (k, label, on_date) SELECT g % 7, 'l' || g, DATE '2026-01-01' + g "
                     "FROM generate_series(1, {n}) g",
                     "label = label || '!', on_date = on_date + 1", "k", "full"});
  }
  // The configured selector (updated_at on updated_at): where the column exists, indexed or not,
  // it applies; the two tables without it get auto's choice (id, full).
  for (int i = 1; i <= 4; ++i) {
    const std::string n = "cfg_" + std::to_string(i);
    out.push_back({n, Shape::kUpdatedAt, "updated_at", "id",
                   "CREATE TABLE SRC." + n + " (id bigserial PRIMARY KEY, v int NOT NULL, updated_at timestamptz NOT NULL "
                   "DEFAULT now());" + (i % 2 ? "CREATE INDEX ON SRC." + n + " (updated_at);" : ""),
                   "INSERT INTO SRC." + n + " (v) SELECT g * {r} FROM generate_series(1, {n}) g", "v = -v", "id",
                   "updated_at"});
  }
  out.push_back({"cfg_5", Shape::kId, "", "id", "CREATE TABLE SRC.cfg_5 (id serial PRIMARY KEY, v text);",
                 "INSERT INTO SRC.cfg_5 (v) SELECT 'v' || g FROM generate_series(1, {n}) g", "", "", "id"});
  out.push_back({"cfg_6", Shape::kFull, "", "t::text", "CREATE TABLE SRC.cfg_6 (v text, w numeric);",
                 "INSERT INTO SRC.cfg_6 (v, w) SELECT 'v' || g, g / 7.0 FROM generate_series(1, {n}) g",
                 "w = w + 1", "length(v)", "full"});
  return out;
}

// Created midway: the next run must find it and load it whole.
Table late_table() {
  return {"late_orders", Shape::kUpdatedAt, "updated_at", "id",
          "CREATE TABLE SRC.late_orders (id bigserial PRIMARY KEY, total numeric, updated_at timestamptz NOT NULL "
          "DEFAULT now());"
          "CREATE INDEX ON SRC.late_orders (updated_at);",
          "INSERT INTO SRC.late_orders (total) SELECT g * 3.5 FROM generate_series(1, {n}) g", "total = total + 1",
          "id", "updated_at"};
}

std::string cursor_of(const Table& t) { return t.shape == Shape::kId ? "id" : t.cursor; }

const char* const kSelectors =
    "  - name: app\n"
    "    source: {connection: db, tables: [\"SRC.*\"], exclude: [\"SRC.cfg_*\"]}\n"
    "    detect: {strategy: auto}\n"
    "    target: {connection: db, table: \"TGT.{table}\", create: true}\n"
    "  - name: cfg\n"
    "    source: {connection: db, tables: [\"SRC.cfg_*\"]}\n"
    "    detect: {strategy: updated_at, cursor: updated_at}\n"
    "    target: {connection: db, table: \"TGT.{table}\", create: true}\n";

// One round's random changes to one table, as one transaction (so one now() for the cursor).
std::string churn(const Table& t, int round, std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::string sql;
  if (const int n = pick(0, 12)) sql += fill(t.insert, n, round) + ";";
  if (t.shape != Shape::kId && pick(0, 2) > 0) {
    // A few rows by residue, or now and then every row (one large tie group on the cursor).
    const std::string where = pick(0, 5) == 0 ? "true"
                                              : "(" + t.pick + ") % " + std::to_string(pick(3, 9)) + " = " +
                                                    std::to_string(pick(0, 2));
    sql += "UPDATE SRC." + t.name + " SET " + t.update + (t.cursor.empty() ? "" : ", " + t.cursor + " = now()") +
           " WHERE " + where + ";";
  }
  if (t.shape == Shape::kFull && pick(0, 1))
    sql += "DELETE FROM SRC." + t.name + " WHERE (" + t.pick + ") % " + std::to_string(pick(4, 8)) + " = " +
           std::to_string(pick(0, 3)) + ";";
  return sql;
}

}  // namespace

TEST_CASE("selectors: every target equals its source by content after a churn loop over 30 tables",
          "[pg][selectors][churn]") {
  Scenario s;
  std::vector<Table> all = tables();
  REQUIRE(all.size() == 30);
  std::mt19937 rng(17);
  for (const auto& t : all) s.db().exec(sub(t.create + fill(t.insert, 20 + static_cast<int>(rng() % 60), 0), s));
  s.write_config(kSelectors);
  auto pipeline_of = [&](const Table& t) {
    return (t.name.rfind("cfg_", 0) == 0 ? "cfg." : "app.") + s.src() + "." + t.name;
  };

  constexpr int kRounds = 8;
  for (int round = 1; round <= kRounds; ++round) {
    // Round 1 loads the seeded tables as they are; later rounds change them first. Before the
    // changes, each incremental table's largest cursor: what lies beyond it is what changed.
    std::map<std::string, std::string> before;
    for (const auto& t : all)
      if (t.shape != Shape::kFull)
        before[t.name] = s.db().value(sub("SELECT max(" + cursor_of(t) + ")::text FROM SRC." + t.name, s));
    if (round > 1)
      for (const auto& t : all)
        if (rng() % 3 != 0) {
          const std::string sql = churn(t, round, rng);
          if (!sql.empty()) s.db().exec(sub(sql, s));
        }
    if (round == kRounds / 2) {
      all.push_back(late_table());
      s.db().exec(sub(all.back().create + fill(all.back().insert, 40, round), s));
    }

    const std::string jobs = round % 2 ? "1" : "3";
    const CliResult r = s.run({"--json", "--jobs", jobs});
    INFO("round " << round << ", --jobs " << jobs << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    const nlohmann::json j = r.json();
    REQUIRE(j.is_array());
    std::map<std::string, nlohmann::json> by_pipeline;
    for (const auto& p : j) by_pipeline[p["pipeline"].get<std::string>()] = p;
    REQUIRE(by_pipeline.size() == all.size());

    for (const auto& t : all) {
      INFO("table " << t.name);
      REQUIRE(by_pipeline.count(pipeline_of(t)) == 1);
      const nlohmann::json& p = by_pipeline[pipeline_of(t)];
      CHECK(p["status"] == "succeeded");
      CHECK(s.same_content(t.name, t.name, t.order_by));
      const int64_t source_rows = s.db().count(s.src() + "." + t.name);
      const int64_t read = p["rows_read"].get<int64_t>();
      const bool first = round == 1 || (t.name == "late_orders" && round == kRounds / 2);
      // A full table, and any first run, reads the whole source; an incremental run reads what
      // changed (more only when another session's open transaction held the safe mark back).
      if (first || t.shape == Shape::kFull) {
        CHECK(read == source_rows);
      } else {
        const int64_t changed = std::stoll(s.db().value(sub("SELECT count(*) FROM SRC." + t.name + " WHERE " +
                                                            cursor_of(t) + " > '" + before[t.name] + "'", s)));
        CHECK(read >= changed);
        CHECK(read <= source_rows);
      }
    }
    if (round == 1) {
      // The shapes got the strategies the test means to exercise.
      for (const auto& t : all)
        CHECK(s.db().value("SELECT strategy FROM " + s.state() + ".pipeline_state WHERE pipeline = '" +
                           pipeline_of(t) + "'") == t.strategy);
    }
  }
  CHECK(s.db().value("SELECT strategy FROM " + s.state() + ".pipeline_state WHERE pipeline = 'app." + s.src() +
                     ".late_orders'") == "updated_at");
}
