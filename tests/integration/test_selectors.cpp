// Selector pipelines against a real server: one config entry for a whole schema, expanded per
// table at run time; every target compared to its source by content.
#include <catch2/catch.hpp>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// Four shapes: an indexed updated_at (updated_at), a serial key only (id), a small table
// without either (full), a quoted name with a serial key; and one table to exclude.
void seed_shapes(Scenario& s) {
  s.db().exec(sub(
      "CREATE TABLE SRC.orders (id bigserial PRIMARY KEY, amount numeric(12,2), updated_at timestamptz NOT NULL DEFAULT now());"
      "CREATE INDEX ON SRC.orders (updated_at);"
      "INSERT INTO SRC.orders (amount) SELECT g * 1.5 FROM generate_series(1, 300) g;"
      "CREATE TABLE SRC.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text);"
      "INSERT INTO SRC.events (kind) SELECT 'k' || g FROM generate_series(1, 200) g;"
      "CREATE TABLE SRC.countries (code text PRIMARY KEY, name text);"
      "INSERT INTO SRC.countries VALUES ('de', 'Germany'), ('fr', 'France'), ('it', E'It\\taly');"
      "CREATE TABLE SRC.\"Odd Name\" (id serial PRIMARY KEY, \"Note\" text);"
      "INSERT INTO SRC.\"Odd Name\" (\"Note\") SELECT 'n' || g FROM generate_series(1, 50) g;"
      "CREATE TABLE SRC.tmp_scratch (id serial PRIMARY KEY);",
      s));
}

std::string selector_yaml(const std::string& overrides = "") {
  return "  - name: app\n"
         "    source: {connection: db, tables: [\"SRC.*\"], exclude: [\"SRC.tmp_*\"]}\n"
         "    detect: {strategy: auto}\n"
         "    target: {connection: db, table: \"TGT.{table}\", create: true}\n" +
         overrides;
}

CliResult run_ok(Scenario& /*s*/, const std::vector<std::string>& args) {
  CliResult r = tmtest::run_cli(args);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

}  // namespace

TEST_CASE("a selector pipeline copies every matching table, with excludes, quoted names and overrides",
          "[pg][selectors]") {
  Scenario s;
  seed_shapes(s);
  s.write_config(selector_yaml("    overrides:\n      SRC.countries: {target: {table: TGT.country_codes}}\n"
                               "      SRC.nowhere: {detect: {strategy: full}}\n"));
  const std::string prefix = "app." + s.src() + ".";

  const CliResult plan = run_ok(s, {"plan", "-c", s.config()});
  CHECK_THAT(plan.out, Contains("selector pipeline app: 4 table(s)"));
  CHECK_THAT(plan.out, Contains(s.src() + ".orders -> " + prefix + "orders: updated_at (auto: indexed last-modified"));
  CHECK_THAT(plan.out, Contains(prefix + "events: id (auto: primary key \"id\" from an identity"));
  CHECK_THAT(plan.out, Contains(prefix + "countries: full (auto: "));
  CHECK_THAT(plan.out, Contains("overrides." + s.src() + ".nowhere matches no table"));

  const CliResult first = run_ok(s, {"run", "-c", s.config(), "--json"});
  const auto j = first.json();
  REQUIRE(j.size() == 4);
  for (const auto& r : j) CHECK(r["status"] == "succeeded");
  CHECK(s.same_content("orders", "orders", "id"));
  CHECK(s.same_content("events", "events", "id"));
  CHECK(s.same_content("countries", "country_codes", "code"));
  CHECK(s.same_content("\"Odd Name\"", "\"Odd Name\"", "id"));
  CHECK(s.db().value("SELECT to_regclass('" + s.tgt() + ".tmp_scratch') IS NULL") == "t");
  CHECK(s.db().value("SELECT to_regclass('" + s.tgt() + ".countries') IS NULL") == "t");
  // Each table is a pipeline of its own: its own state.
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".pipeline_state WHERE pipeline LIKE 'app.%'") == "4");

  // Changes arrive by each table's strategy.
  s.db().exec(sub("UPDATE SRC.orders SET amount = amount + 1, updated_at = now() WHERE id <= 10;"
                  "INSERT INTO SRC.orders (amount) VALUES (1), (2);"
                  "INSERT INTO SRC.events (kind) VALUES ('new');"
                  "UPDATE SRC.countries SET name = 'Italia' WHERE code = 'it';"
                  "INSERT INTO SRC.\"Odd Name\" (\"Note\") VALUES ('late');",
                  s));
  run_ok(s, {"run", "-c", s.config()});
  CHECK(s.same_content("orders", "orders", "id"));
  CHECK(s.same_content("events", "events", "id"));
  CHECK(s.same_content("countries", "country_codes", "code"));
  CHECK(s.same_content("\"Odd Name\"", "\"Odd Name\"", "id"));

  // Selecting by an expanded name and by a glob over names.
  const CliResult one = run_ok(s, {"run", "-c", s.config(), prefix + "orders", "--json"});
  CHECK(one.json().size() == 1);
  const CliResult some = run_ok(s, {"run", "-c", s.config(), prefix + "[eo]*", "--json"});
  CHECK(some.json().size() == 2);
  const CliResult all = run_ok(s, {"status", "-c", s.config(), "app"});
  CHECK_THAT(all.out, Contains("app: selector pipeline, 4 table(s) shown (4 succeeded)"));
}

TEST_CASE("a table created between runs is picked up; a dropped one is reported and its state kept",
          "[pg][selectors]") {
  Scenario s;
  seed_shapes(s);
  s.write_config(selector_yaml());
  run_ok(s, {"run", "-c", s.config()});
  s.db().exec(sub("CREATE TABLE SRC.invoices (id bigserial PRIMARY KEY, total numeric);"
                  "INSERT INTO SRC.invoices (total) SELECT g FROM generate_series(1, 40) g;",
                  s));
  const CliResult second = run_ok(s, {"run", "-c", s.config(), "--json"});
  CHECK(second.json().size() == 5);
  CHECK(s.same_content("invoices", "invoices", "id"));

  s.db().exec(sub("DROP TABLE SRC.events", s));
  const CliResult third = run_ok(s, {"run", "-c", s.config(), "--json"});
  CHECK(third.json().size() == 4);
  CHECK_THAT(third.err, Contains("has vanished from the source; the state of pipeline app." + s.src() + ".events is kept"));
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".pipeline_state WHERE pipeline = 'app." + s.src() +
                     ".events'") == "1");
}

TEST_CASE("auto's choices stick across runs until --full-refresh, and large uncursored tables are refused",
          "[pg][selectors]") {
  Scenario s;
  // A serial key and an unindexed updated_at: auto takes id.
  s.db().exec(sub("CREATE TABLE SRC.items (id bigserial PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now(), v int);"
                  "INSERT INTO SRC.items (v) SELECT g FROM generate_series(1, 100) g;"
                  "CREATE TABLE SRC.big (code text PRIMARY KEY, v int);"
                  "INSERT INTO SRC.big SELECT 'c' || g, g FROM generate_series(1, 20000) g;"
                  "ANALYZE SRC.big;",
                  s));
  s.write_config(selector_yaml());
  const std::string items = "app." + s.src() + ".items";
  const CliResult first = run_ok(s, {"run", "-c", s.config(), "--json"});
  CHECK(first.json().size() == 1);
  CHECK_THAT(first.err, Contains("table " + s.src() + ".big skipped: auto: strategy auto refuses it: about 20000 rows"));
  CHECK(s.same_content("items", "items", "id"));
  CHECK(s.db().value("SELECT strategy FROM " + s.state() + ".pipeline_state WHERE pipeline = '" + items + "'") == "id");

  // An index makes updated_at the shape's choice; the stored one stays.
  s.db().exec(sub("CREATE INDEX ON SRC.items (updated_at)", s));
  const CliResult plan = run_ok(s, {"plan", "-c", s.config(), items});
  CHECK_THAT(plan.out, Contains(items + ": id (kept from its stored state (id on id); --full-refresh chooses again)"));
  run_ok(s, {"run", "-c", s.config()});
  CHECK(s.db().value("SELECT strategy FROM " + s.state() + ".pipeline_state WHERE pipeline = '" + items + "'") == "id");

  // --full-refresh chooses again, and the new choice sticks.
  run_ok(s, {"run", "-c", s.config(), "--full-refresh", items});
  CHECK(s.db().value("SELECT strategy FROM " + s.state() + ".pipeline_state WHERE pipeline = '" + items + "'") ==
        "updated_at");
  s.db().exec(sub("UPDATE SRC.items SET v = -v, updated_at = now() WHERE id <= 5", s));
  run_ok(s, {"run", "-c", s.config()});
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("defaults apply to hand-written pipelines and selectors alike", "[pg][selectors]") {
  Scenario s;
  seed_shapes(s);
  s.write_config("  - name: orders_copy\n"
                 "    source: {table: SRC.orders}\n"
                 "    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {table: TGT.orders_copy, key: [id]}\n"
                 "  - name: app\n"
                 "    source: {tables: [\"SRC.countries\", \"SRC.events\"]}\n"
                 "    detect: {strategy: auto}\n"
                 "    target: {table: \"TGT.{table}\"}\n",
                 "state:\n  schema: STATE\ndefaults:\n  source: {connection: db}\n"
                 "  target: {connection: db, create: true}\n");
  const CliResult r = run_ok(s, {"run", "-c", s.config(), "--json"});
  REQUIRE(r.json().size() == 3);
  CHECK(r.json()[0]["pipeline"] == "orders_copy");
  CHECK(s.same_content("orders", "orders_copy", "id"));
  CHECK(s.same_content("countries", "countries", "code"));
  CHECK(s.same_content("events", "events", "id"));
}

TEST_CASE("auto sizes a partitioned table by its partitions, so a large one without a cursor is refused, not reloaded",
          "[pg][selectors]") {
  Scenario s;
  // Only the partitions are analysed (autovacuum never analyses a partitioned parent).
  s.db().exec(sub("CREATE TABLE SRC.parts (k text, d date, v int, PRIMARY KEY (k, d)) PARTITION BY RANGE (d);"
                  "CREATE TABLE SRC.parts_1 PARTITION OF SRC.parts FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');"
                  "CREATE TABLE SRC.parts_2 PARTITION OF SRC.parts FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');"
                  "INSERT INTO SRC.parts SELECT 'k' || g, date '2024-01-01' + (g % 360), g FROM generate_series(1, 20000) g;"
                  "ANALYZE SRC.parts_1; ANALYZE SRC.parts_2;"
                  "CREATE TABLE SRC.small (code text PRIMARY KEY, v int);"
                  "INSERT INTO SRC.small VALUES ('a', 1);",
                  s));
  s.write_config(selector_yaml());
  const CliResult r = run_ok(s, {"run", "-c", s.config(), "--json"});
  CHECK_THAT(r.err, Contains("table " + s.src() + ".parts skipped: auto: strategy auto refuses it: about 20000 rows"));
  CHECK(r.json().size() == 1);  // small; a partition is never a table of its own
  CHECK(s.same_content("small", "small", "code"));
}
