// The state schema's version: a first run records the latest, and a schema made by a
// tidemark before schema_version (its tables written here by hand, with that tidemark's
// DDL) is recognised and brought to the latest without losing its state, runs or chunks.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;

namespace {

constexpr const char* kLatest = "5";

// The tables as the tidemark before schema_version made them (src/pg/state_store.cpp of
// 02606d0); `old` leaves out what it added last to tables of an even earlier one (identity,
// the chunk claims, backfills, files and rejects), so the upgrade has columns to add.
void legacy_state(tmtest::Scenario& s, bool old) {
  const std::string q = s.state();
  std::string ddl = "CREATE SCHEMA " + q + ";"
                    "CREATE TABLE " + q + ".pipeline_state (pipeline text PRIMARY KEY, strategy text NOT NULL, watermark jsonb,"
                    " version bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now()" +
                    std::string(old ? "" : ", identity jsonb") + ");"
                    "CREATE TABLE " + q + ".runs (run_id bigserial PRIMARY KEY, pipeline text NOT NULL, mode text NOT NULL,"
                    " started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,"
                    " status text NOT NULL, rows_read bigint, rows_written bigint, rows_deleted bigint,"
                    " watermark_before jsonb, watermark_after jsonb, error text, host text, pid integer);"
                    "CREATE INDEX runs_pipeline_run_id ON " + q + ".runs (pipeline, run_id DESC);"
                    "CREATE TABLE " + q + ".backfill_chunks (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL,"
                    " chunk_from text NOT NULL, chunk_to text NOT NULL, seq integer NOT NULL, status text NOT NULL, rows_read bigint,"
                    " rows_written bigint, rows_deleted bigint, run_id bigint, finished_at timestamptz" +
                    std::string(old ? "" : ", worker text, lease_until timestamptz, attempts integer NOT NULL DEFAULT 0") +
                    ", PRIMARY KEY (pipeline, range_from, range_to, chunk_from));";
  if (!old)
    ddl += "CREATE TABLE " + q + ".backfills (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL,"
           " registered_at timestamptz NOT NULL DEFAULT clock_timestamp(), advance_blocker text,"
           " PRIMARY KEY (pipeline, range_from, range_to));"
           "CREATE TABLE " + q + ".files (pipeline text NOT NULL, path text NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,"
           " checksum text NOT NULL, rows bigint NOT NULL, rejected bigint NOT NULL DEFAULT 0, run_id bigint,"
           " loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (pipeline, path));"
           "CREATE TABLE " + q + ".rejects (reject_id bigserial PRIMARY KEY, pipeline text NOT NULL, path text NOT NULL,"
           " line bigint NOT NULL, reason text NOT NULL, raw text, run_id bigint,"
           " rejected_at timestamptz NOT NULL DEFAULT clock_timestamp());"
           "CREATE INDEX rejects_pipeline_path ON " + q + ".rejects (pipeline, path);";
  // What that tidemark had stored: rows up to id 5 loaded, one run, one chunk of a backfill.
  ddl += "INSERT INTO " + q + ".pipeline_state (pipeline, strategy, watermark, version) VALUES ('t', 'id',"
         " '{\"columns\": [\"id\"], \"safe\": [\"5\"], \"high\": [\"5\"], \"pending\": null}', 3);"
         "INSERT INTO " + q + ".runs (pipeline, mode, finished_at, status, rows_read, rows_written, rows_deleted)"
         " VALUES ('t', 'incremental', now(), 'succeeded', 5, 5, 0);"
         "INSERT INTO " + q + ".backfill_chunks (pipeline, range_from, range_to, chunk_from, chunk_to, seq, status)"
         " VALUES ('t', '0', '100', '0', '100', 0, 'done')";
  s.db().exec(ddl);
}

void setup(tmtest::Scenario& s) {
  s.db().exec("CREATE TABLE " + s.src() + ".t (id int PRIMARY KEY, v text); CREATE TABLE " + s.tgt() +
              ".t (id int PRIMARY KEY, v text); INSERT INTO " + s.src() + ".t SELECT g, 'v' FROM generate_series(1, 10) g;"
              "INSERT INTO " + s.tgt() + ".t SELECT g, 'v' FROM generate_series(1, 5) g");
  s.write_config("  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.t, key: [id]}\n");
}

}  // namespace

TEST_CASE("a first run records the state schema's latest version, and later runs keep it", "[pg][state_schema]") {
  tmtest::Scenario s;
  setup(s);
  s.run_ok();
  CHECK(s.db().value("SELECT version FROM " + s.state() + ".schema_version") == kLatest);
  s.run_ok();
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".schema_version") == "1");
}

TEST_CASE("a state schema of a tidemark before schema_version is upgraded with its state, runs and chunks kept",
          "[pg][state_schema]") {
  for (const bool old : {false, true}) {
    DYNAMIC_SECTION((old ? "an older layout, columns to add" : "the last layout before versions")) {
      tmtest::Scenario s;
      setup(s);
      legacy_state(s, old);
      const CliResult r = s.run();
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.err, Contains("made by an earlier tidemark, found at version " + std::string(old ? "2" : kLatest)));
      CHECK(s.db().value("SELECT version FROM " + s.state() + ".schema_version") == kLatest);
      // The run went on from the stored watermark: only ids 6 to 10 were read.
      CHECK(s.db().value("SELECT rows_read FROM " + s.state() + ".runs ORDER BY run_id DESC LIMIT 1") == "5");
      CHECK(s.db().count(s.tgt() + ".t") == 10);
      CHECK(s.state_version("t") == 4);
      CHECK_THAT(s.state_json("t"), Contains("\"10\""));
      CHECK(s.db().value("SELECT identity IS NOT NULL FROM " + s.state() + ".pipeline_state") == "t");
      // The earlier run and the chunk are still there, the chunk with the columns claims need.
      CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs") == "2");
      CHECK(s.db().value("SELECT status || ' ' || attempts || ' ' || coalesce(worker, '-') FROM " + s.state() +
                         ".backfill_chunks") == "done 0 -");
      for (const char* t : {"backfills", "files", "rejects"})
        CHECK(s.db().value("SELECT to_regclass('" + s.state() + "." + t + "') IS NOT NULL") == "t");
      // The next run finds the latest version and changes nothing in the schema.
      const CliResult again = s.run();
      CHECK(again.exit_code == 0);
      CHECK_THAT(again.err, !Contains("earlier tidemark"));
    }
  }
}

TEST_CASE("concurrent first runs of two pipelines on a new state schema both succeed", "[pg][state_schema]") {
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".t (id int PRIMARY KEY, v text); INSERT INTO " + s.src() +
              ".t SELECT g, 'v' FROM generate_series(1, 10) g; CREATE TABLE " + s.tgt() + ".a (id int PRIMARY KEY, v text);"
              "CREATE TABLE " + s.tgt() + ".b (id int PRIMARY KEY, v text)");
  s.write_config("  - name: a\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.a, key: [id]}\n"
                 "  - name: b\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.b, key: [id]}\n");
  const auto one = tmtest::start_cli({"run", "-c", s.config(), "a"});
  const auto two = tmtest::start_cli({"run", "-c", s.config(), "b"});
  const CliResult r1 = tmtest::finish(one), r2 = tmtest::finish(two);
  INFO(r1.err << r2.err);
  CHECK(r1.exit_code == 0);
  CHECK(r2.exit_code == 0);
  CHECK(s.db().value("SELECT version FROM " + s.state() + ".schema_version") == kLatest);
  CHECK(s.db().count(s.tgt() + ".a") == 10);
  CHECK(s.db().count(s.tgt() + ".b") == 10);
}

TEST_CASE("a role granted only the tables of an earlier tidemark's state schema runs as before, versioned or not",
          "[pg][state_schema]") {
  tmtest::Scenario s;
  setup(s);
  legacy_state(s, false);
  const std::string role = "tm_state_" + s.src().substr(4);
  struct Drop {
    tmtest::Db& db;
    std::string role;
    ~Drop() {
      try {
        db.exec("DROP OWNED BY " + role + "; DROP ROLE IF EXISTS " + role);
      } catch (...) {
      }
    }
  } drop{s.db(), role};
  s.db().exec("CREATE ROLE " + role + " NOLOGIN; GRANT USAGE ON SCHEMA " + s.src() + ", " + s.tgt() + ", " + s.state() +
              " TO " + role + "; GRANT SELECT ON " + s.src() + ".t TO " + role + "; GRANT ALL ON " + s.tgt() + ".t TO " +
              role + "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + s.state() + " TO " + role +
              "; GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + s.state() + " TO " + role);
  const std::string dsn = tmtest::test_dsn();
  const std::string as_role = dsn.rfind("postgres", 0) == 0
                                  ? dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "options=-crole%3D" + role
                                  : dsn + " options='-crole=" + role + "'";
  const std::string config = s.dir() + "/role.yaml";
  std::ofstream(config) << "version: 1\nconnections:\n  db: \"" << as_role << "\"\nstate:\n  schema: " << s.state()
                        << "\npipelines:\n  - name: t\n    source: {connection: db, table: " << s.src()
                        << ".t}\n    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: " << s.tgt()
                        << ".t, key: [id]}\n";
  // It may not create schema_version: the schema is used as it is.
  const CliResult first = tmtest::run_cli({"run", "-c", config});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(s.db().value("SELECT to_regclass('" + s.state() + ".schema_version') IS NULL") == "t");
  CHECK(s.db().count(s.tgt() + ".t") == 10);
  // The owner's run records the version; the role may not read it, and still runs.
  s.db().exec("INSERT INTO " + s.src() + ".t VALUES (11, 'v')");
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.db().value("SELECT version FROM " + s.state() + ".schema_version") == kLatest);
  s.db().exec("INSERT INTO " + s.src() + ".t VALUES (12, 'v')");
  const CliResult again = tmtest::run_cli({"run", "-c", config});
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(s.db().count(s.tgt() + ".t") == 12);
}
