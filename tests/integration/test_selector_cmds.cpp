// The commands that take pipeline names (verify, state, reconcile, drop-slot) on selector
// pipelines, and what `run --json` tells of each expansion, against a real server.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// An indexed updated_at (auto: updated_at), an identity key (id), a small keyless-cursor table
// (full), and a large table without a cursor, which auto refuses (skipped).
void seed(Scenario& s, bool big = false) {
  s.db().exec(sub(
      "CREATE TABLE SRC.orders (id bigserial PRIMARY KEY, amount numeric(12,2), updated_at timestamptz NOT NULL DEFAULT now());"
      "CREATE INDEX ON SRC.orders (updated_at);"
      "INSERT INTO SRC.orders (amount) SELECT g * 1.5 FROM generate_series(1, 300) g;"
      "CREATE TABLE SRC.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text);"
      "INSERT INTO SRC.events (kind) SELECT 'k' || g FROM generate_series(1, 200) g;"
      "CREATE TABLE SRC.countries (code text PRIMARY KEY, name text);"
      "INSERT INTO SRC.countries VALUES ('de', 'Germany'), ('fr', 'France');",
      s));
  if (big)
    s.db().exec(sub("CREATE TABLE SRC.big (code text PRIMARY KEY, v int);"
                    "INSERT INTO SRC.big SELECT 'c' || g, g FROM generate_series(1, 20000) g;"
                    "ANALYZE SRC.big;",
                    s));
}

std::string selector_yaml() {
  return "  - name: app\n"
         "    source: {connection: db, tables: [\"SRC.*\"]}\n"
         "    detect: {strategy: auto}\n"
         "    target: {connection: db, table: \"TGT.{table}\", create: true}\n";
}

CliResult cli(const std::vector<std::string>& args) { return tmtest::run_cli(args); }

CliResult cli_ok(const std::vector<std::string>& args) {
  CliResult r = tmtest::run_cli(args);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("verify on an expanded name compares that table: identical after a run, different after the target changes",
          "[pg][selectors][selector_cmds]") {
  Scenario s;
  seed(s);
  s.write_config(selector_yaml());
  const std::string orders = "app." + s.src() + ".orders";
  cli_ok({"run", "-c", s.config()});

  const CliResult same = cli({"verify", "-c", s.config(), orders});
  CHECK(same.exit_code == 0);
  CHECK_THAT(same.out, Contains(orders + ": all rows: source 300 rows, target 300 rows: identical"));

  s.db().exec(sub("UPDATE TGT.orders SET amount = amount + 1 WHERE id = 7", s));
  const CliResult differs = cli({"verify", "-c", s.config(), orders, "--json"});
  CHECK(differs.exit_code == 1);
  const auto j = differs.json();
  CHECK(j["pipeline"] == orders);
  CHECK(j["equal"] == false);
  CHECK(j["differences"] == 1);

  // The selector's name verifies each of its tables, one line each; one differing fails it.
  const CliResult all = cli({"verify", "-c", s.config(), "app"});
  CHECK(all.exit_code == 1);
  CHECK_THAT(all.out, Contains(orders + ": all rows: source 300 rows, target 300 rows: DIFFERENT"));
  CHECK_THAT(all.out, Contains("app." + s.src() + ".events: all rows: source 200 rows, target 200 rows: identical"));
  CHECK_THAT(all.out, Contains("app." + s.src() + ".countries: all rows: source 2 rows, target 2 rows: identical"));
  // A glob over names selects the tables it matches.
  CHECK(cli({"verify", "-c", s.config(), "app." + s.src() + ".[ce]*"}).exit_code == 0);

  // An expanded name that matches no table is a usage error naming it.
  const CliResult unknown = cli({"verify", "-c", s.config(), "app." + s.src() + ".nothing"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Contains("no pipeline named 'app." + s.src() + ".nothing'"));
}

TEST_CASE("state export of an expanded pipeline prints its state; import by the selector's name restores its tables",
          "[pg][selectors][selector_cmds]") {
  Scenario s;
  seed(s);
  s.write_config(selector_yaml());
  const std::string orders = "app." + s.src() + ".orders";
  cli_ok({"run", "-c", s.config()});

  const CliResult one = cli_ok({"state", "export", "-c", s.config(), orders});
  const auto doc = nlohmann::json::parse(one.out);
  REQUIRE(doc["pipelines"].size() == 1);
  CHECK(doc["pipelines"].contains(orders));
  CHECK(doc["pipelines"][orders]["strategy"] == "updated_at");

  // With no name, every expanded pipeline.
  const CliResult every = cli_ok({"state", "export", "-c", s.config()});
  const std::string file = s.dir() + "/all.json";
  std::ofstream(file) << every.out;
  const auto all = nlohmann::json::parse(slurp(file));
  CHECK(all["pipelines"].size() == 3);

  // Lost state comes back from the document, selected by the selector's name: the next run
  // of orders reads nothing.
  s.db().exec("DELETE FROM " + s.state() + ".pipeline_state WHERE pipeline LIKE 'app.%'");
  cli_ok({"state", "import", "-c", s.config(), file, "app"});
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".pipeline_state WHERE pipeline LIKE 'app.%'") == "3");
  const CliResult again = cli_ok({"run", "-c", s.config(), orders, "--json"});
  CHECK(again.json()[0]["rows_read"] == 0);

  // adopt by a glob: each table's state already is of its table, so nothing changes.
  const CliResult adopt = cli_ok({"state", "adopt", "-c", s.config(), "app.*"});
  CHECK_THAT(adopt.err, Contains("pipeline " + orders + ": its state is already of"));
}

TEST_CASE("reconcile and drop-slot on selector pipelines: tables they do not apply to are passed by or refused by name",
          "[pg][selectors][selector_cmds]") {
  Scenario s;
  seed(s);
  s.write_config(selector_yaml());
  cli_ok({"run", "-c", s.config()});
  s.db().exec(sub("DELETE FROM SRC.events WHERE id <= 5", s));

  // The selector's name: events (id) and orders (updated_at) are reconciled, countries (full) passed by.
  const CliResult rec = cli({"reconcile", "-c", s.config(), "app", "--json"});
  INFO(rec.err);
  REQUIRE(rec.exit_code == 0);
  const auto j = rec.json();
  CHECK(j.size() == 2);
  for (const auto& r : j) CHECK(r["pipeline"] != "app." + s.src() + ".countries");
  CHECK_THAT(rec.err, Contains("app." + s.src() + ".countries (table " + s.src() +
                               ".countries of selector pipeline app) passed by: reconcile compares the keys of"));
  CHECK(s.same_content("events", "events", "id"));

  // Named, a table reconcile does not apply to is refused.
  const CliResult named = cli({"reconcile", "-c", s.config(), "app." + s.src() + ".countries"});
  CHECK(named.exit_code == 2);
  CHECK_THAT(named.err, Contains("pipeline app." + s.src() + ".countries: reconcile compares the keys of"));

  // drop-slot: a selector's table has no slot, and the message names it.
  const CliResult slot = cli({"drop-slot", "-c", s.config(), "app." + s.src() + ".orders"});
  CHECK(slot.exit_code == 2);
  CHECK_THAT(slot.err, Contains("pipeline app." + s.src() + ".orders has strategy updated_at, not cdc: it has no slot "
                                "(it is a table of selector pipeline app"));
  const CliResult many = cli({"drop-slot", "-c", s.config(), "app"});
  CHECK(many.exit_code == 2);
  CHECK_THAT(many.err, Contains("none of the 3 pipeline(s) 'app' selects has one"));
}

TEST_CASE("run --json gives each expanded pipeline its selector, table and chosen strategy, and each selector's summary",
          "[pg][selectors][selector_cmds]") {
  Scenario s;
  seed(s, true);
  s.write_config(selector_yaml() +
                 "  - name: plain\n"
                 "    source: {connection: db, table: SRC.countries}\n"
                 "    detect: {strategy: full}\n"
                 "    target: {connection: db, table: TGT.plain_countries, create: true}\n");
  const std::string prefix = "app." + s.src() + ".";
  const CliResult first = cli_ok({"run", "-c", s.config(), "--json"});
  const auto j = first.json();
  REQUIRE(j.size() == 4);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& r : j) by_name[r["pipeline"].get<std::string>()] = r;
  REQUIRE(by_name.count(prefix + "orders"));
  const auto& orders = by_name[prefix + "orders"];
  CHECK(orders["status"] == "succeeded");
  CHECK(orders["rows_read"] == 300);  // the fields every run has stay
  CHECK(orders["selector"] == "app");
  CHECK(orders["source_table"] == s.src() + ".orders");
  CHECK(orders["strategy"] == "updated_at");
  CHECK_THAT(orders["strategy_reason"].get<std::string>(), Contains("auto: indexed last-modified column \"updated_at\""));
  const auto& summary = orders["selector_summary"];
  CHECK(summary["tables_matched"] == 4);
  CHECK(summary["pipelines"] == 3);
  REQUIRE(summary["skipped"].size() == 1);
  CHECK(summary["skipped"][0]["table"] == s.src() + ".big");
  CHECK_THAT(summary["skipped"][0]["reason"].get<std::string>(), Contains("strategy auto refuses it"));
  CHECK(summary["vanished"].empty());
  CHECK(by_name[prefix + "events"]["strategy"] == "id");
  CHECK(by_name[prefix + "countries"]["strategy"] == "full");
  // A hand-written pipeline: no selector, its configured strategy, no reason.
  const auto& plain = by_name["plain"];
  CHECK(plain["selector"].is_null());
  CHECK(plain["strategy"] == "full");
  CHECK(plain["strategy_reason"].is_null());
  CHECK(plain["source_table"] == s.src() + ".countries");
  CHECK_FALSE(plain.contains("selector_summary"));

  // A dropped table is listed as vanished; the kept choice gives its reason.
  s.db().exec(sub("DROP TABLE SRC.events", s));
  const CliResult second = cli_ok({"run", "-c", s.config(), prefix + "*", "--json"});
  const auto k = second.json();
  REQUIRE(k.size() == 2);
  CHECK_THAT(k[0]["strategy_reason"].get<std::string>(), Contains("kept from its stored state"));
  const auto& vanished = k[0]["selector_summary"]["vanished"];
  REQUIRE(vanished.size() == 1);
  CHECK(vanished[0]["pipeline"] == prefix + "events");
  CHECK(vanished[0]["table"] == s.src() + ".events");
}
