// Overlapping runs, killed backends and timeouts: the target still ends equal to the source.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Db;
using tmtest::Scenario;

namespace {

void make_table(Scenario& s, int rows) {
  s.db().exec("CREATE TABLE " + s.src() + ".t (id bigserial PRIMARY KEY, v text, at timestamptz NOT NULL DEFAULT now());"
              "CREATE TABLE " + s.tgt() + ".t (id bigint PRIMARY KEY, v text, at timestamptz NOT NULL);"
              "INSERT INTO " + s.src() + ".t (v) SELECT repeat('x', 200) || g FROM generate_series(1, " +
              std::to_string(rows) + ") g");
}

const char* kPipeline =
    "  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: updated_at, cursor: at}\n"
    "    target: {connection: db, table: TGT.t, key: [id]}\n";

}  // namespace

TEST_CASE("20 simultaneous runs of one pipeline: one runs at a time, the rest exit 75, the target is right",
          "[pg][overlap]") {
  Scenario s;
  make_table(s, 20000);
  s.write_config(kPipeline);
  std::vector<tmtest::CliProcess> procs;
  for (int i = 0; i < 20; ++i) procs.push_back(tmtest::start_cli({"run", "-c", s.config()}));
  int ok = 0, locked = 0, other = 0;
  for (const auto& p : procs) {
    CliResult r = tmtest::finish(p);
    if (r.exit_code == 0) ++ok;
    else if (r.exit_code == 75) ++locked;
    else {
      ++other;
      INFO("unexpected exit " << r.exit_code << ": " << r.err);
      CHECK(false);
    }
  }
  CHECK(ok >= 1);
  CHECK(ok + locked == 20);
  CHECK(other == 0);
  // Runs that did go ahead never overlapped in time.
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs a JOIN " + s.state() +
                     ".runs b ON a.run_id < b.run_id AND tstzrange(a.started_at, a.finished_at) && "
                     "tstzrange(b.started_at, b.finished_at)") == "0");
  CHECK(s.same_content("t", "t", "id"));
}

TEST_CASE("a run whose backend is terminated exits 1, keeps its state, and the next run converges", "[pg][server]") {
  Scenario s;
  make_table(s, 1000);
  s.write_config(kPipeline);
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id % 10 = 0");
  const int64_t version = s.state_version("t");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  tmtest::CliProcess p = tmtest::start_cli({"run", "-c", s.config()});
  s.wait_until_run_blocks();  // its target backend waits for our lock; kill that backend
  s.db().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tidemark' AND "
              "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%" + s.tgt() + "%'");
  CliResult r = tmtest::finish(p);
  hold.commit();
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("target 'db'"));
  CHECK(s.state_version("t") == version);
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.same_content("t", "t", "id"));
}

TEST_CASE("timeouts set in the connection string end a stuck run with a clear error", "[pg][server]") {
  auto timeout = GENERATE(values<std::pair<std::string, std::string>>(
      {{"lock_timeout", "55P03"}, {"statement_timeout", "57014"}}));
  INFO(timeout.first);
  Scenario s;
  make_table(s, 100);
  s.write_config(kPipeline);
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id = 1");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  CliResult r = s.run({}, {{"PGOPTIONS", "-c " + timeout.first + "=300"}});
  hold.commit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("[SQLSTATE " + timeout.second + "]"));
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.same_content("t", "t", "id"));
}

TEST_CASE("type fidelity: values of every built-in type arrive byte-identical through both load paths", "[pg][types]") {
  // Each row is compared as text (the type's own output function), which is exact for every
  // type below, including float precision, numeric scale, time zones and special values.
  const std::string cols =
      "(id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, nu numeric, nu2 numeric(20,7), r4 real, f8 float8,"
      " mo money, tx text, vc varchar(12), ch char(5), by bytea, bo boolean, d date, t time, ttz timetz,"
      " ts timestamp(6), tz timestamptz, iv interval, u uuid, js json, jb jsonb, x xml, ip inet, ci cidr,"
      " mac macaddr, mac8 macaddr8, pt point, ln line, ls lseg, bx box, pa path, pg polygon, cr circle, bi bit(4),"
      " vb varbit, tv tsvector, tq tsquery, r1 int4range, r2 numrange, r3 tstzrange, r4d daterange,"
      " mr int4multirange, ai int[], at text[], a2 int[][], o oid, l pg_lsn, e tm_mood)";
  std::string all_null;  // row 3: every column but the key NULL
  for (int i = 0; i < 49; ++i) all_null += ", NULL";
  Scenario s;
  s.db().exec("CREATE TYPE " + s.src() + ".tm_mood AS ENUM ('sad', 'ok', 'h\"a''ppy')");
  std::string src_cols = cols, tgt_cols = cols;
  src_cols.replace(src_cols.find("tm_mood"), 7, s.src() + ".tm_mood");
  tgt_cols.replace(tgt_cols.find("tm_mood"), 7, s.src() + ".tm_mood");
  s.db().exec("CREATE TABLE " + s.src() + ".ty " + src_cols + "; CREATE TABLE " + s.tgt() + ".ty " + tgt_cols +
              "; CREATE TABLE " + s.tgt() + ".ty2 " + tgt_cols);
  s.db().exec(
      "INSERT INTO " + s.src() + ".ty VALUES"
      " (1, -32768, 2147483647, -9223372036854775808, 'NaN', 1234567890123.1234567, 'Infinity', 2.2250738585072014e-308,"
      " '-92233720368547758.08', E'a\\tb\\nc\\\\d\\r', 'ünï ✓', 'ab', '\\xdeadbeef00', true, '5874897-12-31',"
      " '24:00:00', '23:59:59.999999-15:59', '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC',"
      " '-178000000 years -2147483647 days -2562047788:00:54.775807', 'ffffffff-ffff-ffff-ffff-ffffffffffff',"
      " '{\"b\": 1, \"a\": [1.0, 1e2], \"a\": 2}', '{\"k\": \"\\u00e9\\n\", \"n\": 1.000}', '<a x=\"1\">t&amp;</a>',"
      " '2001:db8::1/64', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '(1.5,-2)', '{1,-1,0}',"
      " '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1.5>', B'1010',"
      " B'101', 'a:1 fat:2B cat', 'fat & !rat', '[1,5)', '(1.5,2.5]', '[2024-01-01 00:00+00,infinity)', 'empty',"
      " '{[1,3), [5,7)}', '{1,NULL,-3}', '{\"\",NULL,\"NULL\",\"a,b\",\"q\\\"x\"}', '{{1,2},{3,4}}', 4294967295,"
      " 'FFFFFFFF/FFFFFFFF', 'h\"a''ppy'),"
      " (2, NULL, NULL, NULL, '-0.000000000000000000001', NULL, '-0', '-Infinity', NULL, '', '', '', '\\x', NULL,"
      " '-infinity', NULL, NULL, NULL, 'infinity', '0', NULL, 'null', 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, NULL, B'', '', NULL, NULL, NULL, NULL, NULL, '{}', '{}', '{}', '{}', 0, '0/0', 'sad'),"
      " (3" + all_null + ")");
  s.write_config("  - name: direct\n    source: {connection: db, table: SRC.ty}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.ty, key: [id]}\n"
                 "  - name: staged\n    source: {connection: db, query: 'SELECT * FROM SRC.ty'}\n"
                 "    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: TGT.ty2, key: [id]}\n");
  CliResult r = s.run({"--json", "-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("directly into the target") && Catch::Contains("through the staging table"));
  for (const char* t : {"ty", "ty2"}) {
    INFO("target " << t);
    CHECK(s.db().value("SELECT count(*) FROM " + s.src() + ".ty a FULL JOIN " + s.tgt() + "." + t +
                       " b USING (id) WHERE a::text IS DISTINCT FROM b::text") == "0");
    CHECK(s.db().count(s.tgt() + "." + t) == 3);
  }
}

TEST_CASE("a run whose state row moved under it (a lost lock) commits nothing: compare-and-set", "[pg][state]") {
  Scenario s;
  make_table(s, 100);
  s.write_config(kPipeline);
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id <= 10");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  tmtest::CliProcess p = tmtest::start_cli({"run", "-c", s.config()});
  s.wait_until_run_blocks();
  // Another writer of the state (a run that thinks it holds the lock) moves it meanwhile.
  const std::string before = s.state_json("t");
  s.db().exec("UPDATE " + s.state() + ".pipeline_state SET version = version + 1");
  hold.commit();
  CliResult r = tmtest::finish(p);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("its state changed while this run was working"));
  CHECK(s.state_json("t") == before);
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".t WHERE v = 'changed'") == "0");
}

TEST_CASE("retries: a run whose connection is lost is tried again and succeeds", "[pg][server][retries]") {
  Scenario s;
  make_table(s, 1000);
  s.write_config(kPipeline);
  {  // the same pipeline, with retries
    std::ifstream in(s.config());
    std::stringstream text;
    text << "retries: {attempts: 2, backoff: 200ms}\n" << in.rdbuf();
    std::ofstream(s.config()) << text.str();
  }
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id % 10 = 0");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  tmtest::CliProcess p = tmtest::start_cli({"run", "-c", s.config()});
  s.wait_until_run_blocks();
  s.db().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tidemark' AND "
              "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%" + s.tgt() + "%'");
  hold.commit();
  CliResult r = tmtest::finish(p);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("connection lost") && Catch::Contains("retrying in 0.2s (retry 1 of 2)"));
  CHECK(s.same_content("t", "t", "id"));
}

TEST_CASE("retries: a data error is never retried", "[pg][server][retries]") {
  Scenario s;
  make_table(s, 10);
  s.db().exec("ALTER TABLE " + s.tgt() + ".t ADD CONSTRAINT short_v CHECK (length(v) < 5)");
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'far too long' WHERE id = 1");
  s.write_config(kPipeline);
  std::ifstream in(s.config());
  std::stringstream text;
  text << "retries: {attempts: 3, backoff: 10s}\n" << in.rdbuf();
  std::ofstream(s.config()) << text.str();
  CliResult r = s.run();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("violates check constraint") && !Catch::Contains("retrying"));
}

TEST_CASE("timeouts given as connection keys end a stuck run with a clear error", "[pg][server]") {
  Scenario s;
  make_table(s, 100);
  s.write_config(kPipeline);
  {  // connections.db as a map with its timeouts
    std::ifstream in(s.config());
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    const std::string plain = "  db: \"${TIDEMARK_TEST_DSN}\"\n";
    REQUIRE(yaml.find(plain) != std::string::npos);
    yaml.replace(yaml.find(plain), plain.size(),
                 "  db: {dsn: \"${TIDEMARK_TEST_DSN}\", connect_timeout: 5s, lock_timeout: 300ms, statement_timeout: 1m}\n");
    std::ofstream(s.config()) << yaml;
  }
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id = 1");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  CliResult r = s.run();
  hold.commit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("[SQLSTATE 55P03]"));
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.same_content("t", "t", "id"));
}
