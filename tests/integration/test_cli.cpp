// The command line as cron and CI see it: exit codes and messages.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <fstream>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::run_cli;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = "/tmp/tm_cli_" + std::to_string(getpid()) + "_" + name;
  std::ofstream(path) << text;
  return path;
}

const char* kGood =
    "version: 1\n"
    "connections:\n  app: \"${TIDEMARK_TEST_DSN}\"\n"
    "pipelines:\n"
    "  - name: orders\n"
    "    source: {connection: app, table: public.orders}\n"
    "    detect: {strategy: updated_at, cursor: updated_at}\n"
    "    target: {connection: app, table: analytics.orders, key: [id]}\n"
    "  - name: dim\n"
    "    source: {connection: app, table: public.dim}\n"
    "    detect: {strategy: full}\n"
    "    target: {connection: app, table: analytics.dim}\n";

}  // namespace

TEST_CASE("validate accepts a good config and exits 0", "[pg][cli]") {
  CliResult r = run_cli({"validate", "-c", write_file("good.yaml", kGood)});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 pipeline(s)"));
}

TEST_CASE("a bad config exits 2 naming the file, line and field, before connecting anywhere", "[pg][cli]") {
  std::string bad = kGood;
  bad.replace(bad.find("key: [id]"), 9, "kye: [id]");
  // An unreachable server proves nothing was connected to: the error is the config's.
  std::string path = write_file("bad.yaml", bad);
  CliResult r = run_cli({"run", "-c", path}, {{"TIDEMARK_TEST_DSN", "host=/nonexistent port=1"}});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(path + ":8: pipelines[0].target.kye: unknown key (did you mean 'key'?)"));
}

TEST_CASE("an unknown pipeline name exits 2 with a suggestion", "[pg][cli]") {
  CliResult r = run_cli({"run", "-c", write_file("good2.yaml", kGood), "ordres"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("did you mean 'orders'?"));
}

TEST_CASE("a range (--from/--to) needs a named pipeline, and strategy full refuses one", "[pg][cli]") {
  std::string path = write_file("good3.yaml", kGood);
  CHECK(run_cli({"run", "-c", path, "--from", "1", "--to", "2"}).exit_code == 2);
  CliResult r = run_cli({"run", "-c", path, "dim", "--from", "1", "--to", "2"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("strategy full has no cursor"));
}

TEST_CASE("unknown commands and options are usage errors (exit 2), --version and --help succeed", "[pg][cli]") {
  CliResult typo = run_cli({"rnu"});
  CHECK(typo.exit_code == 2);
  CHECK_THAT(typo.err, Catch::Contains("did you mean 'run'?"));
  CHECK(run_cli({"run", "--bogus"}).exit_code == 2);
  CHECK(run_cli({}).exit_code == 2);
  CliResult v = run_cli({"--version"});
  CHECK(v.exit_code == 0);
  CHECK_THAT(v.out, Catch::StartsWith("tidemark "));
  CHECK(run_cli({"run", "--help"}).exit_code == 0);
}

TEST_CASE("a password in a connection string never reaches the logs", "[pg][cli]") {
  std::string cfg = kGood;
  cfg.replace(cfg.find("\"${TIDEMARK_TEST_DSN}\""), 22, "\"postgresql://etl:s3cr3t-pw@127.0.0.1:1/app?connect_timeout=2\"");
  CliResult r = run_cli({"run", "-c", write_file("secret.yaml", cfg), "-v", "--log-format", "json"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("s3cr3t-pw") == std::string::npos);
  CHECK_THAT(r.err, Catch::Contains("connection 'app'"));
}

TEST_CASE("quiet mode prints nothing when a run succeeds", "[pg][cli]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".t (id int PRIMARY KEY, v text); CREATE TABLE " + s.tgt() +
              ".t (id int PRIMARY KEY, v text); INSERT INTO " + s.src() + ".t VALUES (1, 'a')");
  s.write_config("  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.t, key: [id]}\n");
  CliResult r = s.run({"-q"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
}

TEST_CASE("every example config shipped in configs/ validates", "[pg][cli]") {
  for (const char* name : {"demo.yaml", "example.yaml", "example.json"}) {
    INFO(name);
    CliResult r = run_cli({"validate", "-c", std::string(TIDEMARK_SOURCE_DIR) + "/configs/" + name},
                          {{"DEMO_APP_DSN", "dbname=app"}, {"DEMO_WAREHOUSE_DSN", "dbname=warehouse"}});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
  }
}

TEST_CASE("verify: identical content exits 0; a missing, an extra and a changed row exit 1 naming their keys",
          "[pg][cli][verify]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".t (id int PRIMARY KEY, v text, at timestamptz NOT NULL DEFAULT now());"
              "CREATE TABLE " + s.tgt() + ".t (id int PRIMARY KEY, v text, at timestamptz NOT NULL);"
              "INSERT INTO " + s.src() + ".t (id, v) SELECT g, 'v' || g FROM generate_series(1, 100) g");
  s.write_config("  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.t, key: [id]}\n");
  s.run_ok();
  CliResult same = tmtest::run_cli({"verify", "-c", s.config(), "t"});
  CHECK(same.exit_code == 0);
  CHECK_THAT(same.out, Catch::Contains("t: all rows: source 100 rows, target 100 rows: identical"));
  s.db().exec("DELETE FROM " + s.tgt() + ".t WHERE id = 5; UPDATE " + s.tgt() + ".t SET v = 'x' WHERE id = 7;"
              "INSERT INTO " + s.tgt() + ".t VALUES (500, 'stray', now())");
  CliResult diff = tmtest::run_cli({"verify", "-c", s.config(), "t"});
  CHECK(diff.exit_code == 1);
  CHECK_THAT(diff.out, Catch::Contains("DIFFERENT") && Catch::Contains("missing in the target: id=5") &&
                           Catch::Contains("different: id=7") && Catch::Contains("not in the source: id=500"));
  // A range that avoids the damage is identical.
  CliResult range = tmtest::run_cli({"verify", "-c", s.config(), "t", "--from", "10", "--to", "50", "--json"});
  CHECK(range.exit_code == 0);
  CHECK(range.json()["equal"] == true);
  CHECK(range.json()["source_rows"] == 40);
}

TEST_CASE("plan: shows the window, the SQL and the planner's row estimate, and writes nothing", "[pg][cli]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".t (id int PRIMARY KEY, v text);"
              "CREATE TABLE " + s.tgt() + ".t (id int PRIMARY KEY, v text);"
              "INSERT INTO " + s.src() + ".t SELECT g, 'v' FROM generate_series(1, 5000) g; ANALYZE " + s.src() + ".t");
  s.write_config("  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.t, key: [id]}\n");
  CliResult r = tmtest::run_cli({"plan", "-c", s.config(), "t"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("estimate:  about 5000 row(s)") && Catch::Contains("(dry run: nothing was written)"));
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".t") == "0");
}

TEST_CASE("init: prints a config for a real table that validates and runs", "[pg][cli][init]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".o (id bigserial PRIMARY KEY, amount numeric(12,2), "
              "updated_at timestamptz NOT NULL DEFAULT now()); CREATE INDEX ON " + s.src() + ".o (updated_at);"
              "INSERT INTO " + s.src() + ".o (amount) SELECT g FROM generate_series(1, 20000) g; ANALYZE " + s.src() + ".o");
  CliResult r = tmtest::run_cli({"init", "--dsn", tmtest::test_dsn(), "--table", s.src() + ".o", "--target", s.tgt() + ".o"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("detect: {strategy: updated_at, cursor: updated_at}"));
  CHECK(r.out.find(tmtest::test_dsn()) == std::string::npos);  // the DSN is never written out
  const std::string file = s.dir() + "/init.yaml";
  // The scenario's own state schema: the default one is shared by every run of this test, and
  // a pipeline of the same name from an earlier run is (rightly) another pipeline's state.
  std::ofstream(file) << r.out << "state:\n  schema: " << s.state() << "\n";
  const std::map<std::string, std::string> env = {{"SOURCE_DSN", tmtest::test_dsn()}, {"WAREHOUSE_DSN", tmtest::test_dsn()}};
  CHECK(tmtest::run_cli({"validate", "-c", file}, env).exit_code == 0);
  CliResult run = tmtest::run_cli({"run", "-c", file}, env);  // target.create makes the table
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(s.same_content("o", "o", "id"));
}

TEST_CASE("init: a table with hostile quoted names gives a config that validates and loads it into a new schema",
          "[pg][cli][init]") {
  tmtest::Scenario s;
  // Dots, spaces, quotes and YAML's special characters inside quoted names; the target schema does not exist.
  const std::string schema = "Sales EU: #" + s.src().substr(4) + " [x]";
  const std::string table = "Order \"Lines\" {a, b} & *c !d | >e 'f' %g @h $i ${SOURCE_DSN} yes";
  const std::string target_schema = "- null: " + s.tgt().substr(4);
  struct Drop {
    tmtest::Db& db;
    std::vector<std::string> schemas;
    ~Drop() {
      for (const auto& sc : schemas) try {
          db.exec("DROP SCHEMA IF EXISTS " + db.conn().quote_name(sc) + " CASCADE");
        } catch (...) {
        }
    }
  } drop{s.db(), {schema, target_schema}};
  auto q = [&](const std::string& n) { return s.db().conn().quote_name(n); };
  const std::string src = q(schema) + "." + q(table);
  s.db().exec("CREATE SCHEMA " + q(schema) + "; CREATE TABLE " + src + " (" + q("Id \"Key\"") + " bigserial PRIMARY KEY, " +
              q("v: #x") + " text, " + q("updated at, \"when\"") + " timestamptz NOT NULL DEFAULT now());"
              "CREATE INDEX ON " + src + " (" + q("updated at, \"when\"") + ");"
              "INSERT INTO " + src + " (" + q("v: #x") + ") SELECT 'v' || g FROM generate_series(1, 20000) g;"
              "ANALYZE " + src);
  const std::string target = q(target_schema) + "." + q(table);
  CliResult r = run_cli({"init", "--dsn", tmtest::test_dsn(), "--table", src, "--target", target});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("strategy: updated_at") && Catch::Contains("name: Order_Lines_a_b_c_d_e_f_g_h_i_SOURCE_DSN_yes"));
  const std::string file = s.dir() + "/init.yaml";
  // The scenario's own state schema: the default one is shared by every run of this test, and
  // a pipeline of the same name from an earlier run is (rightly) another pipeline's state.
  std::ofstream(file) << r.out << "state:\n  schema: " << s.state() << "\n";
  const std::map<std::string, std::string> env = {{"SOURCE_DSN", tmtest::test_dsn()}, {"WAREHOUSE_DSN", tmtest::test_dsn()}};
  CliResult valid = run_cli({"validate", "-c", file}, env);
  INFO(valid.out << valid.err);
  CHECK(valid.exit_code == 0);
  CliResult run = run_cli({"run", "-c", file}, env);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.err, Catch::Contains("created schema") && Catch::Contains("created target table"));
  CHECK(s.db().fingerprint(src, q("Id \"Key\"")) == s.db().fingerprint(target, q("Id \"Key\"")));
  // An incremental run afterwards picks up a change.
  s.db().exec("UPDATE " + src + " SET " + q("v: #x") + " = 'changed', " + q("updated at, \"when\"") +
              " = now() WHERE " + q("Id \"Key\"") + " <= 3");
  CHECK(run_cli({"run", "-c", file}, env).exit_code == 0);
  CHECK(s.db().fingerprint(src, q("Id \"Key\"")) == s.db().fingerprint(target, q("Id \"Key\"")));
  // A --name the validator would reject is refused before anything is printed.
  CliResult bad = run_cli({"init", "--dsn", tmtest::test_dsn(), "--table", src, "--name", "My Table"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
  CHECK_THAT(bad.err, Catch::Contains("--name 'My Table': must be 1-63 letters"));
}

TEST_CASE("init: a large table that was never analysed is not called empty", "[pg][cli][init]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".big (id bigserial PRIMARY KEY, v text) WITH (autovacuum_enabled = false);"
              "INSERT INTO " + s.src() + ".big (v) SELECT 'v' FROM generate_series(1, 200000) g;"
              "CREATE TABLE " + s.src() + ".few (id bigserial PRIMARY KEY, v text) WITH (autovacuum_enabled = false);"
              "INSERT INTO " + s.src() + ".few (v) SELECT 'v' FROM generate_series(1, 42) g");
  REQUIRE(s.db().value("SELECT reltuples FROM pg_class WHERE oid = '" + s.src() + ".big'::regclass") == "-1");
  CliResult big = run_cli({"init", "--dsn", tmtest::test_dsn(), "--table", s.src() + ".big"});
  INFO(big.out << big.err);
  REQUIRE(big.exit_code == 0);
  CHECK_THAT(big.out, !Catch::Contains("about 0 rows") && Catch::Contains("the table has not been analysed yet") &&
                          Catch::Contains("{strategy: id, cursor: id}"));
  // The planner's estimate from the table's size is near the truth.
  const auto at = big.out.find("about ");
  REQUIRE(at != std::string::npos);
  const long long estimate = std::stoll(big.out.substr(at + 6));
  CHECK(estimate > 100000);
  CHECK(estimate < 400000);
  // A small one is counted.
  CliResult few = run_cli({"init", "--dsn", tmtest::test_dsn(), "--table", s.src() + ".few"});
  CHECK_THAT(few.out, Catch::Contains("2 column(s), 42 rows.") && Catch::Contains("{strategy: full}"));
}

TEST_CASE("advise: names the missing cursor index on a real table, and is content once it exists", "[pg][cli][init]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".o (id bigserial PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());"
              "INSERT INTO " + s.src() + ".o SELECT FROM generate_series(1, 20000); ANALYZE " + s.src() + ".o");
  s.write_config("  - name: o\n    source: {connection: db, table: SRC.o}\n    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: TGT.o, key: [id]}\n");
  CliResult before = tmtest::run_cli({"advise", "-c", s.config()});
  CHECK(before.exit_code == 0);
  CHECK_THAT(before.out, Catch::Contains("advice: no index leads with updated_at") &&
                             Catch::Contains("CREATE INDEX ON \"" + s.src() + "\".\"o\" (\"updated_at\");"));
  s.db().exec("CREATE INDEX ON " + s.src() + ".o (updated_at)");
  CliResult after = tmtest::run_cli({"advise", "-c", s.config(), "--json"});
  CHECK(after.exit_code == 0);
  CHECK(after.json()[0]["advice"][0]["text"] == "an index leads with the cursor updated_at");
  CHECK(after.out.find("\"risk\"") == std::string::npos);
  CHECK(s.db().value("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" + s.tgt() + "'") == "0");
}
