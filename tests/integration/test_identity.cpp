// The identity of state against a real server (docs/correctness.md#identity-of-state): a
// pipeline's state records what it is the state of, and a run whose config describes something
// else refuses before it writes anything, whatever config file shares the name.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "common/files.hpp"
#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// orders: 20 rows written now; items: 1000 rows with 2024 timestamps (all below the watermark
// of a run of orders).
void seed(Scenario& s) {
  s.db().exec(sub("CREATE TABLE SRC.orders (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());"
                  "CREATE TABLE TGT.orders (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);"
                  "INSERT INTO SRC.orders (id, v) SELECT g, 'order ' || g FROM generate_series(1, 20) g;"
                  "CREATE TABLE SRC.items (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);"
                  "CREATE TABLE TGT.items_b (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);"
                  "INSERT INTO SRC.items SELECT g, 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * "
                  "interval '1 minute' FROM generate_series(1, 1000) g;",
                  s));
}

std::string pipeline(const std::string& source, const std::string& target, const std::string& name = "orders") {
  return "  - name: " + name + "\n    source: {connection: db, table: " + source +
         "}\n    detect: {strategy: updated_at, cursor: updated_at}\n    target: {connection: db, table: " + target +
         ", key: [id]}\n";
}

// A config file of its own in the scenario's directory (same state schema as the scenario's).
std::string config_file(Scenario& s, const std::string& file, const std::string& pipelines,
                        const std::string& top = "") {
  s.write_config(pipelines, top);
  const std::string path = s.dir() + "/" + file;
  std::rename(s.config().c_str(), path.c_str());
  return path;
}

CliResult run(const std::string& config, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run", "-c", config};
  args.insert(args.end(), extra.begin(), extra.end());
  return tmtest::run_cli(args);
}

std::string runs_of(Scenario& s, const std::string& pipeline) {
  return s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE pipeline = '" + pipeline + "'");
}

}  // namespace

TEST_CASE("identity: a pipeline of another config with the same name refuses the first one's state and writes nothing",
          "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  const std::string b = config_file(s, "b.yaml", pipeline("SRC.items", "TGT.items_b"));
  REQUIRE(run(a).exit_code == 0);
  const std::string watermark = s.state_json("orders");
  const int64_t version = s.state_version("orders");
  const std::string runs = runs_of(s, "orders");

  const CliResult r = run(b);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("the stored state of this name is not this pipeline's"));
  CHECK_THAT(r.err, Catch::Contains("source table: \"" + s.src() + "\".\"orders\" -> \"" + s.src() + "\".\"items\""));
  CHECK_THAT(r.err, Catch::Contains("target table: \"" + s.tgt() + "\".\"orders\" -> \"" + s.tgt() + "\".\"items_b\""));
  CHECK_THAT(r.err, Catch::Contains("--full-refresh orders"));
  CHECK_THAT(r.err, Catch::Contains("tidemark state adopt -c " + b + " orders"));
  // A's state and history untouched, B's target untouched.
  CHECK(s.state_json("orders") == watermark);
  CHECK(s.state_version("orders") == version);
  CHECK(runs_of(s, "orders") == runs);
  CHECK(s.db().count(s.tgt() + ".items_b") == 0);
  // A goes on as before.
  s.db().exec(sub("INSERT INTO SRC.orders (id, v) VALUES (21, 'late')", s));
  REQUIRE(run(a).exit_code == 0);
  CHECK(s.same_content("orders", "orders", "id"));
  // Distinct names share the schema safely.
  const std::string b2 = config_file(s, "b2.yaml", pipeline("SRC.items", "TGT.items_b", "items_b"));
  REQUIRE(run(b2).exit_code == 0);
  CHECK(s.same_content("items", "items_b", "id"));
}

TEST_CASE("identity: changing source.table under an existing name refuses, and --full-refresh starts over under the "
          "new table",
          "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  REQUIRE(run(a).exit_code == 0);
  const std::string watermark = s.state_json("orders");
  const std::string b = config_file(s, "b.yaml", pipeline("SRC.items", "TGT.orders"));
  const CliResult r = run(b);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(s.state_json("orders") == watermark);
  CHECK(s.db().count(s.tgt() + ".orders") == 20);
  // A range run and a dry run refuse too.
  CHECK(run(b, {"orders", "--from", "2024-01-01", "--to", "2025-01-01"}).exit_code == 2);
  CHECK(tmtest::run_cli({"plan", "-c", b}).exit_code == 2);
  CHECK(s.db().count(s.tgt() + ".orders") == 20);

  const CliResult full = run(b, {"--full-refresh"});
  INFO(full.err);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.err, Catch::Contains("it starts over as the state of"));
  CHECK(s.same_content("items", "orders", "id"));
  s.db().exec(sub("INSERT INTO SRC.items VALUES (1001, 'new', now())", s));
  REQUIRE(run(b).exit_code == 0);
  CHECK(s.same_content("items", "orders", "id"));
  // Now the old config is the stranger.
  CHECK(run(a).exit_code == 2);
}

TEST_CASE("identity: state adopt keeps the watermark of a pipeline whose source table was renamed", "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  // Transactions of tests running beside this one (ctest -j2 shares the database) can hold the
  // safe mark back for a while; run until it has caught up with the high mark, so the run after
  // the adoption has only the new rows to read.
  bool caught_up = false;
  for (int i = 0; i < 50 && !caught_up; ++i) {
    const CliResult r = run(a, {"--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    caught_up = r.json()[0]["watermark_after"]["safe"] == r.json()[0]["watermark_after"]["high"];
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(caught_up);
  const std::string watermark = s.state_json("orders");
  s.db().exec(sub("ALTER TABLE SRC.orders RENAME TO orders2", s));
  const std::string renamed = config_file(s, "renamed.yaml", pipeline("SRC.orders2", "TGT.orders"));
  REQUIRE(run(renamed).exit_code == 2);

  const CliResult adopt = tmtest::run_cli({"state", "adopt", "-c", renamed, "orders"});
  INFO(adopt.err);
  REQUIRE(adopt.exit_code == 0);
  CHECK_THAT(adopt.err, Catch::Contains("state adopted"));
  CHECK(s.state_json("orders") == watermark);
  CHECK_THAT(s.db().value("SELECT identity->'source'->>'table' FROM " + s.state() +
                          ".pipeline_state WHERE pipeline = 'orders'"),
             Catch::Equals("\"" + s.src() + "\".\"orders2\""));
  // Only the rows after the watermark are read.
  s.db().exec(sub("INSERT INTO SRC.orders2 (id, v) SELECT g, 'more' FROM generate_series(21, 25) g", s));
  const CliResult next = run(renamed, {"--json"});
  INFO(next.err);
  REQUIRE(next.exit_code == 0);
  CHECK(next.json()[0]["rows_read"] == 5);
  CHECK(s.same_content("orders2", "orders", "id"));
  // Adopting again changes nothing; a pipeline without state has nothing to adopt.
  CHECK(tmtest::run_cli({"state", "adopt", "-c", renamed, "orders"}).exit_code == 0);
  const std::string other = config_file(s, "other.yaml", pipeline("SRC.items", "TGT.items_b", "fresh"));
  CHECK(tmtest::run_cli({"state", "adopt", "-c", other, "fresh"}).exit_code == 1);
}

TEST_CASE("identity: state written by an earlier tidemark without an identity is adopted by the next run, logged once",
          "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  REQUIRE(run(a).exit_code == 0);
  // The state table as an earlier tidemark made it: no identity column.
  s.db().exec("ALTER TABLE " + s.state() + ".pipeline_state DROP COLUMN identity");
  CHECK(tmtest::run_cli({"plan", "-c", a}).exit_code == 0);  // a dry run copes with the old table
  const CliResult first = run(a);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.err, Catch::Contains("had no identity (written by an earlier tidemark)"));
  CHECK(s.db().value("SELECT identity->'target'->>'table' FROM " + s.state() +
                     ".pipeline_state WHERE pipeline = 'orders'") == "\"" + s.tgt() + "\".\"orders\"");
  const CliResult second = run(a);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.err, !Catch::Contains("identity"));
  CHECK(s.same_content("orders", "orders", "id"));
}

TEST_CASE("identity: a pipeline whose source table is its target table is refused before anything is written",
          "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string before = s.db().fingerprint(s.src() + ".orders", "id");
  const std::string same = config_file(s, "same.yaml", pipeline("SRC.orders", "SRC.orders"));
  for (const std::vector<std::string>& extra : {std::vector<std::string>{}, {"--full-refresh"}}) {
    const CliResult r = run(same, extra);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("its source and target are the same table"));
  }
  CHECK(s.db().fingerprint(s.src() + ".orders", "id") == before);
  CHECK(s.state_version("orders") == 0);
}

TEST_CASE("identity: state import refuses watermark values the cursor cannot hold and other columns, even with --force",
          "[pg][identity]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  REQUIRE(run(a).exit_code == 0);
  const CliResult exp = tmtest::run_cli({"state", "export", "-c", a});
  REQUIRE(exp.exit_code == 0);
  nlohmann::json doc = nlohmann::json::parse(exp.out);
  // The identity travels with the watermark.
  CHECK(doc["pipelines"]["orders"]["identity"]["source"]["table"] == "\"" + s.src() + "\".\"orders\"");
  const std::string watermark = s.state_json("orders");
  const std::string file = s.dir() + "/doc.json";

  nlohmann::json garbage = doc;
  garbage["pipelines"]["orders"]["watermark"]["safe"] = {"garbage", "1"};
  tmtest::spit(file, garbage.dump());
  CliResult r = tmtest::run_cli({"state", "import", "-c", a, file, "--force"});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("'safe' value 'garbage' is not a valid timestamp with time zone for column updated_at"));

  nlohmann::json columns = doc;
  columns["pipelines"]["orders"]["watermark"]["columns"] = {"v", "id"};
  tmtest::spit(file, columns.dump());
  r = tmtest::run_cli({"state", "import", "-c", a, file, "--force"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("its watermark is over (\"v\", \"id\"), but the pipeline's cursor and key are "
                                    "(\"updated_at\", \"id\")"));

  nlohmann::json short_tuple = doc;
  short_tuple["pipelines"]["orders"]["watermark"]["high"] = {"2024-01-01 00:00:00+00"};
  tmtest::spit(file, short_tuple.dump());
  r = tmtest::run_cli({"state", "import", "-c", a, file, "--force"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("'high' has 1 value(s)"));
  CHECK(s.state_json("orders") == watermark);

  // The document as exported imports into a state file, identity included: the run that
  // follows uses it as it is.
  const std::string state_file = s.dir() + "/state.json";
  // (A name of its own: the lock of a state-file pipeline is taken in the shared default schema.)
  const std::string name = "orders_" + s.state();
  const std::string f = config_file(s, "f.yaml", pipeline("SRC.orders", "TGT.orders", name),
                                    "state:\n  file: " + state_file + "\n");
  nlohmann::json renamed = doc;
  renamed["pipelines"] = {{name, doc["pipelines"]["orders"]}};
  tmtest::spit(file, renamed.dump());
  REQUIRE(tmtest::run_cli({"state", "import", "-c", f, file}).exit_code == 0);
  CHECK_THAT(tmtest::slurp(state_file), Catch::Contains("\"identity\""));
  const CliResult after = run(f, {"--json"});
  INFO(after.err);
  REQUIRE(after.exit_code == 0);
  CHECK_THAT(after.err, !Catch::Contains("identity"));
  const nlohmann::json again = nlohmann::json::parse(tmtest::run_cli({"state", "export", "-c", f}).out);
  CHECK(again["pipelines"][name]["identity"] == doc["pipelines"]["orders"]["identity"]);
}

TEST_CASE("identity: with state.file, a changed source table refuses and state adopt records the new one",
          "[pg][identity][state_file]") {
  Scenario s;
  seed(s);
  const std::string state_file = s.dir() + "/state.json";
  const std::string top = "state:\n  file: " + state_file + "\n";
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders", "orders_" + s.state()), top);
  REQUIRE(run(a).exit_code == 0);
  const std::string before = tmtest::slurp(state_file);
  const std::string b = config_file(s, "b.yaml", pipeline("SRC.items", "TGT.items_b", "orders_" + s.state()), top);
  const CliResult r = run(b);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(tmtest::slurp(state_file) == before);
  CHECK(s.db().count(s.tgt() + ".items_b") == 0);
  REQUIRE(tmtest::run_cli({"state", "adopt", "-c", b, "orders_" + s.state()}).exit_code == 0);
  CHECK_THAT(tmtest::slurp(state_file), Catch::Contains("items_b"));
  CHECK(run(b).exit_code == 0);
}

TEST_CASE("identity: a chunked backfill under another pipeline's state refuses before registering its chunks",
          "[pg][identity][backfill]") {
  Scenario s;
  seed(s);
  const std::string a = config_file(s, "a.yaml", pipeline("SRC.orders", "TGT.orders"));
  REQUIRE(run(a).exit_code == 0);
  const std::string b = config_file(s, "b.yaml", pipeline("SRC.items", "TGT.items_b"));
  const CliResult r = run(b, {"orders", "--from", "2024-01-01", "--to", "2024-01-02", "--chunk", "6h"});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".backfill_chunks") == "0");
  CHECK(s.db().count(s.tgt() + ".items_b") == 0);
}
