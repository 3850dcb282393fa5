// Overlapping runs, killed backends and timeouts: the target still ends equal to the source.
#include <catch2/catch.hpp>
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

void wait_for(Db& db, const std::string& sql) {
  for (int i = 0; i < 400; ++i) {
    if (db.value(sql) == "t") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  FAIL("timed out waiting for: " << sql);
}

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
  // Its target backend waits for our lock; kill that backend.
  const std::string waiting = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'tidemark' AND "
                              "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%" + s.tgt() + "%')";
  wait_for(s.db(), waiting);
  s.db().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tidemark' AND "
              "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%" + s.tgt() + "%'");
  CliResult r = tmtest::finish(p);
  hold.commit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("target 'db'"));
  CHECK(s.state_version("t") == version);
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.same_content("t", "t", "id"));
}

TEST_CASE("timeouts set in the connection string end a stuck run with a clear error", "[pg][server]") {
  Scenario s;
  make_table(s, 100);
  s.write_config(kPipeline);
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("UPDATE " + s.src() + ".t SET v = 'changed', at = now() WHERE id = 1");
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".t IN EXCLUSIVE MODE");
  CliResult r = s.run({}, {{"PGOPTIONS", "-c lock_timeout=300"}});
  hold.commit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("lock timeout") && Catch::Contains("55P03"));
  REQUIRE(s.run().exit_code == 0);
  CHECK(s.same_content("t", "t", "id"));
}
