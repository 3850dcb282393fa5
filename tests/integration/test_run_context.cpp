// The run context (issue 16): the pipelines of one command share their sessions, one per
// connection and role, and a failure closes them so the next pipeline starts on new ones.
#include <catch2/catch.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::count_occurrences;
using tmtest::kSessionOpenedOnDb;
using tmtest::Scenario;
using tmtest::sub;

namespace {

void make_tables(Scenario& s, const std::vector<std::string>& names) {
  for (const auto& t : names)
    s.db().exec(sub("CREATE TABLE SRC." + t + " (id bigserial PRIMARY KEY, v text);"
                    "CREATE TABLE TGT." + t + " (id bigint PRIMARY KEY, v text);"
                    "INSERT INTO SRC." + t + " (v) SELECT 'v' || g FROM generate_series(1, 50) g",
                    s));
}

std::string pipeline(const std::string& name, const std::string& source) {
  return "  - name: " + name + "\n    source: {connection: db, table: SRC." + source +
         "}\n    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: TGT." + name +
         ", key: [id]}\n";
}

}  // namespace

TEST_CASE("run context: the pipelines of one run share one reading and one writing session per connection",
          "[pg][context]") {
  Scenario s;
  make_tables(s, {"a", "b", "c"});
  s.write_config(pipeline("a", "a") + pipeline("b", "b") + pipeline("c", "c"));
  const CliResult r = s.run({"-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb) == 2);  // tidemark-source and tidemark, for all three pipelines
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb + " (tidemark-source)") == 1);
  for (const char* t : {"a", "b", "c"}) CHECK(s.same_content(t, t, "id"));
  // A second run of the same sessions' pipelines reads nothing again.
  const CliResult again = s.run({"--json"});
  REQUIRE(again.exit_code == 0);
  for (const auto& p : again.json()) CHECK(p["rows_read"] == 0);
}

TEST_CASE("run context: after a failed pipeline the next starts on new sessions and loads its table",
          "[pg][context]") {
  Scenario s;
  make_tables(s, {"b"});
  s.write_config(pipeline("a", "missing") + pipeline("b", "b"));
  const CliResult r = s.run({"-v"});
  INFO(r.err);
  CHECK(r.exit_code == 1);  // pipeline a failed
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb) == 4);  // two for a, closed after its failure, two for b
  CHECK(s.same_content("b", "b", "id"));
}

TEST_CASE("run context: a session that died between two pipelines is replaced, never reopened without its settings",
          "[pg][context]") {
  Scenario s;
  // A database of its own, so that ending every session in it touches no other test.
  const std::string db = "tm_ctx_" + std::to_string(getpid());
  tmtest::Db admin;
  admin.exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  admin.exec("CREATE DATABASE " + db);
  const std::string dsn = tmtest::test_dsn() + " dbname=" + db;
  {
    tmtest::Db d(dsn);
    d.exec("CREATE SCHEMA " + s.src() + "; CREATE SCHEMA " + s.tgt());
    for (const char* t : {"a", "b"})
      d.exec(sub(std::string("CREATE TABLE SRC.") + t + " (id bigserial PRIMARY KEY, v text); CREATE TABLE TGT." + t +
                     " (id bigint PRIMARY KEY, v text); INSERT INTO SRC." + t +
                     " (v) SELECT 'v' || g FROM generate_series(1, 50) g",
                 s));
  }
  s.write_config(pipeline("a", "a") + pipeline("b", "b"));
  // Pipeline a finishes, then the process stops (SIGSTOP) while every session of its database
  // is ended, as a server restart would; then it goes on to pipeline b.
  tmtest::CliProcess p = tmtest::start_cli({"run", "-c", s.config(), "-v"},
                                           {{"TIDEMARK_FAULT", "pipeline_done:stop"}, {"TIDEMARK_TEST_DSN", dsn}});
  auto stopped = [&p] {
    std::ifstream stat("/proc/" + std::to_string(p.pid) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    return state == "T";
  };
  for (int i = 0; i < 400 && !stopped(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  REQUIRE(stopped());
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'");
  for (int i = 0; i < 200 && admin.value("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db + "'") != "0"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  kill(p.pid, SIGCONT);
  const CliResult r = tmtest::finish(p);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(count_occurrences(r.err, "is gone; opening a new one") == 2);  // b found both of a's sessions gone
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb) == 4);
  {
    tmtest::Db d(dsn);
    CHECK(d.value(sub("SELECT count(*) FROM TGT.b", s)) == "50");
    // b's watermark committed with its data, on b's new session.
    CHECK(d.value("SELECT watermark->'safe'->>0 FROM " + s.state() + ".pipeline_state WHERE pipeline = 'b'") == "50");
  }
  admin.exec("DROP DATABASE " + db + " WITH (FORCE)");
}
