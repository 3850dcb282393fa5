// NULL keys, range bounds of every size and order, and range runs beside each other: cases a
// hostile trial found (issue 15, items 3, 11 and 12).
#include <catch2/catch.hpp>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// The trial's table: a key column without NOT NULL, a UNIQUE target.
void make_nk(Scenario& s) {
  s.db().exec(sub("CREATE TABLE SRC.nk (id int, v text, updated_at timestamptz NOT NULL);"
                  "CREATE TABLE TGT.nk (id int UNIQUE, v text, updated_at timestamptz NOT NULL);"
                  "INSERT INTO SRC.nk VALUES (1, 'a', '2024-01-01 00:00:01+00'), (2, 'b', '2024-01-01 00:00:02+00'),"
                  " (NULL, 'c', '2024-01-01 00:00:03+00')",
                  s));
}

std::string nk_pipeline(const std::string& extra = "") {
  return "  - name: nk\n    source: {connection: db, table: SRC.nk}\n"
         "    detect: {strategy: updated_at, cursor: updated_at}\n"
         "    target: {connection: db, table: TGT.nk, key: [id]" + extra + "}\n    batch_size: 2\n";
}

}  // namespace

TEST_CASE("null keys: a source row with a NULL key fails the run, naming its cursor, and is never loaded",
          "[pg][keys]") {
  Scenario s;
  make_nk(s);
  s.write_config(nk_pipeline());
  for (int i = 0; i < 2; ++i) {  // every run refuses while the row is there, the first one too
    CliResult r = s.run();
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("1 source row(s) in this run's window have a NULL in key (\"id\")"));
    CHECK_THAT(r.err, Contains("updated_at = 2024-01-01 00:00:03+00"));
    CHECK_THAT(r.err, Contains("target.null_key: skip"));
    CHECK(s.db().count(s.tgt() + ".nk") == 0);
  }
  // Once the source row has a key, the rows load exactly once.
  s.db().exec(sub("UPDATE SRC.nk SET id = 3 WHERE id IS NULL; INSERT INTO SRC.nk VALUES (4, 'd', '2024-01-01 00:00:04+00')",
                  s));
  s.run_ok();
  CHECK(s.same_content("nk", "nk", "id"));
}

TEST_CASE("null keys: with target.null_key: skip, such rows are left out with a warning and never loaded twice",
          "[pg][keys]") {
  Scenario s;
  make_nk(s);
  s.write_config(nk_pipeline(", null_key: skip"));
  CliResult first = s.run({"-v"});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.err, Contains("have a NULL in key"));
  CHECK_THAT(first.err, Contains("not loaded (target.null_key: skip)"));
  s.db().exec(sub("INSERT INTO SRC.nk VALUES (3, 'd', '2024-01-01 00:00:05+00')", s));
  s.run_ok();
  // The trial's sequence: the NULL-key row is updated, and upsert inserted it a second time.
  s.db().exec(sub("UPDATE SRC.nk SET v = 'c2', updated_at = '2024-01-01 00:00:06+00' WHERE id IS NULL", s));
  CliResult again = s.run();
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.nk WHERE id IS NULL", s)) == "0");
  CHECK(s.db().value(sub("SELECT string_agg(id || v, ',' ORDER BY id) FROM TGT.nk", s)) == "1a,2b,3d");

  // verify shows the NULL key as NULL and says it cannot be matched.
  CliResult v = tmtest::run_cli({"verify", "-c", s.config(), "nk"});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 1);
  CHECK_THAT(v.out, Contains("row with a NULL key in the source (never matched): id=NULL"));
  CHECK_THAT(v.out, !Contains("different: id=\n"));
}

TEST_CASE("null keys: strategy full and range runs leave out and report NULL-key rows the same way", "[pg][keys]") {
  Scenario s;
  make_nk(s);
  s.write_config("  - name: nk\n    source: {connection: db, table: SRC.nk}\n    detect: {strategy: full}\n"
                 "    target: {connection: db, table: TGT.nk, key: [id]}\n"
                 "  - name: nkr\n    source: {connection: db, table: SRC.nk}\n"
                 "    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: TGT.nk, key: [id], write: delete_insert}\n");
  CliResult full = s.run({"nk"});
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.err, Contains("have a NULL in key"));
  CliResult range = s.run({"nkr", "--from", "2024-01-01", "--to", "2024-01-02"});
  CHECK(range.exit_code == 1);
  CHECK_THAT(range.err, Contains("the first has updated_at = 2024-01-01 00:00:03+00"));
  CHECK(s.db().count(s.tgt() + ".nk") == 0);
  // A range without the NULL-key row runs.
  s.run_ok({"nkr", "--from", "2024-01-01", "--to", "2024-01-01 00:00:03+00"});
  CHECK(s.db().count(s.tgt() + ".nk") == 2);
}

TEST_CASE("ranges: --from/--to beyond 64 bits work on a numeric id cursor", "[pg][backfill][range]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.big (id numeric(40,0) PRIMARY KEY, v text);"
                  "CREATE TABLE TGT.big (id numeric(40,0) PRIMARY KEY, v text);"
                  "INSERT INTO SRC.big SELECT 10::numeric ^ 30 * g, 'v' || g FROM generate_series(1, 5) g",
                  s));
  s.write_config("  - name: big\n    source: {connection: db, table: SRC.big}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.big, key: [id]}\n");
  const std::string from = "2" + std::string(30, '0'), to = "4" + std::string(30, '0');
  auto r = s.run_ok({"big", "--from", from, "--to", to});
  CHECK(r["rows_read"] == 2);  // 2e30 and 3e30
  // Chunks of a few ids far beyond 64 bits: [2e30, 2e30 + 10) in chunks of 5.
  auto chunked = s.run_ok({"big", "--from", from, "--to", "2" + std::string(28, '0') + "10", "--chunk", "5"});
  CHECK(chunked["rows_read"] == 1);
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".backfill_chunks WHERE status = 'done'") == "2");
  // 1e30, 4e30 and 5e30 were never in a range.
  CHECK(s.db().value(sub("SELECT string_agg((id / 10::numeric ^ 30)::int::text, ',' ORDER BY id) FROM TGT.big", s)) ==
        "2,3");
}

TEST_CASE("ranges: --from at or above --to is a usage error (exit 2) before anything runs", "[pg][backfill][range]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.ev (id bigserial PRIMARY KEY, at timestamptz NOT NULL);"
                  "CREATE TABLE TGT.ev (id bigint PRIMARY KEY, at timestamptz NOT NULL);"
                  "INSERT INTO SRC.ev (at) SELECT now() FROM generate_series(1, 10)",
                  s));
  s.write_config("  - name: ev\n    source: {connection: db, table: SRC.ev}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.ev, key: [id]}\n"
                 "  - name: evt\n    source: {connection: db, table: SRC.ev}\n"
                 "    detect: {strategy: updated_at, cursor: at}\n    target: {connection: db, table: TGT.ev, key: [id]}\n");
  for (const auto& args : std::vector<std::vector<std::string>>{{"ev", "--from", "10", "--to", "5"},
                                                                 {"ev", "--from", "5", "--to", "5"},
                                                                 {"ev", "--from", "10", "--to", "5", "--chunk", "2"},
                                                                 {"evt", "--from", "-1d", "--to", "-2d"}}) {
    CliResult r = s.run(args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains("is not below --to"));
  }
  CHECK(s.db().count(s.tgt() + ".ev") == 0);
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs") == "0");
}

TEST_CASE("ranges: a second range run of a pipeline exits 75 while one runs, even over a disjoint window, and "
          "succeeds once it is done (the Airflow recipe runs one interval at a time)",
          "[pg][backfill][lock][orchestrators]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.ev (id bigserial PRIMARY KEY, at timestamptz NOT NULL, v text);"
                  "CREATE TABLE TGT.ev (id bigint PRIMARY KEY, at timestamptz NOT NULL, v text);"
                  "INSERT INTO SRC.ev (at, v) SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', 'v' "
                  "FROM generate_series(0, 47) g",
                  s));
  s.write_config("  - name: ev\n    source: {connection: db, table: SRC.ev}\n    detect: {strategy: updated_at, cursor: at}\n"
                 "    target: {connection: db, table: TGT.ev, key: [id]}\n");
  s.run_ok({"ev", "--from", "2024-01-01", "--to", "2024-01-01 00:00:01+00"});  // the state schema exists
  tmtest::Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".ev IN EXCLUSIVE MODE");
  tmtest::CliProcess day1 =
      tmtest::start_cli({"run", "-c", s.config(), "ev", "--from", "2024-01-01T00:00:00+00:00", "--to",
                         "2024-01-02T00:00:00+00:00"});
  s.wait_until_run_blocks();
  CliResult day2 = s.run({"ev", "--from", "2024-01-02T00:00:00+00:00", "--to", "2024-01-03T00:00:00+00:00"});
  CHECK(day2.exit_code == 75);
  hold.commit();
  CHECK(tmtest::finish(day1).exit_code == 0);
  s.run_ok({"ev", "--from", "2024-01-02T00:00:00+00:00", "--to", "2024-01-03T00:00:00+00:00"});  // the retry
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("errors: a COPY straight into the target that fails names the target and its SQLSTATE, as the staged "
          "path does",
          "[pg][errors]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.ck (id bigint PRIMARY KEY, v text);"
                  "CREATE TABLE TGT.ck (id bigint PRIMARY KEY, v text CHECK (v <> 'bad'));"
                  "INSERT INTO SRC.ck VALUES (1, 'ok'), (2, 'bad')",
                  s));
  s.write_config("  - name: ck\n    source: {connection: db, table: SRC.ck}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.ck, key: [id]}\n");
  CliResult r = s.run({"-v"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("loading directly into the target"));
  CHECK_THAT(r.err, Contains("target 'db': "));
  CHECK_THAT(r.err, Contains("[SQLSTATE 23514]"));
  CHECK_THAT(r.err, !Contains("source 'db'"));
  CHECK(s.db().count(s.tgt() + ".ck") == 0);
}
