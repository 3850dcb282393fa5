// Parallel pipelines (issue 17, section 3): run --jobs N (or `jobs:` in the config) runs up to
// N pipelines at once, each worker on sessions of its own; how that combines with backfills.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::count_occurrences;
using tmtest::kSessionOpenedOnDb;
using tmtest::Scenario;
using tmtest::sub;

namespace {

std::vector<std::string> names(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back("t" + std::to_string(i));
  return out;
}

// Source tables of 50 rows (id, v) and empty targets of the same shape; analyzed, so the
// estimates of a plan are the same from one dry run to the next.
void make_tables(Scenario& s, const std::vector<std::string>& tables) {
  for (const auto& t : tables)
    s.db().exec(sub("CREATE TABLE SRC." + t + " (id bigserial PRIMARY KEY, v text);"
                    "CREATE TABLE TGT." + t + " (id bigint PRIMARY KEY, v text);"
                    "INSERT INTO SRC." + t + " (v) SELECT '" + t + "-' || g FROM generate_series(1, 50) g;"
                    "ANALYZE SRC." + t,
                    s));
}

std::string pipeline(const std::string& name, const std::string& source, const std::string& extra = "") {
  return "  - name: " + name + "\n    source: {connection: db, table: SRC." + source +
         "}\n    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: TGT." + name +
         ", key: [id]}\n" + extra;
}

std::string pipelines(const std::vector<std::string>& tables) {
  std::string yaml;
  for (const auto& t : tables) yaml += pipeline(t, t);
  return yaml;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("jobs: eight pipelines on four workers, one failing: the others commit, exit 1, --json in config order",
          "[pg][jobs]") {
  Scenario s;
  const auto tables = names(8);
  make_tables(s, tables);
  std::string yaml;
  for (const auto& t : tables) yaml += pipeline(t, t == "t3" ? "missing" : t);  // t3's source does not exist
  s.write_config(yaml);
  const CliResult r = s.run({"--jobs", "4", "--json"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  const auto j = r.json();
  REQUIRE(j.size() == 8);
  for (size_t i = 0; i < tables.size(); ++i) {
    INFO(tables[i]);
    CHECK(j[i]["pipeline"] == tables[i]);
    if (tables[i] == "t3") {
      CHECK(j[i]["status"] == "failed");
      CHECK_THAT(j[i]["error"].get<std::string>(), Contains("missing"));
      continue;
    }
    CHECK(j[i]["status"] == "succeeded");
    CHECK(j[i]["rows_read"] == 50);
    CHECK(s.same_content(tables[i], tables[i], "id"));
  }
  // Every line of a pipeline's run names it (and its run id).
  for (const auto& t : tables)
    if (t != "t3") CHECK(count_occurrences(r.err, "[" + t + " #") >= 1);
  CHECK(count_occurrences(r.err, "[t3] ") >= 1);
  // The next run reads nothing again and, t3 still failing, exits 1 again.
  const CliResult again = s.run({"--jobs", "4", "--json"});
  CHECK(again.exit_code == 1);
  for (const auto& p : again.json())
    if (p["pipeline"] != "t3") CHECK(p["rows_read"] == 0);
}

TEST_CASE("jobs: a run opens at most one session per role and worker on a database", "[pg][jobs][context]") {
  Scenario s;
  const auto tables = names(8);
  make_tables(s, tables);
  s.write_config(pipelines(tables));
  const CliResult r = s.run({"--jobs", "3", "-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(count_occurrences(r.err, "running 8 pipeline(s) on 3 worker(s)") == 1);
  // Each worker's sessions are reused by the pipelines it runs: at most 3 of each role.
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb + " (tidemark-source)") <= 3);
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb + " (tidemark)") <= 3);
  CHECK(count_occurrences(r.err, kSessionOpenedOnDb) >= 2);
  for (const auto& t : tables) CHECK(s.same_content(t, t, "id"));
}

TEST_CASE("jobs: --jobs 1 runs the pipelines one after another on one set of sessions, as before; the flag wins over "
          "the config's jobs",
          "[pg][jobs][context]") {
  Scenario s;
  const auto tables = names(4);
  make_tables(s, tables);
  s.write_config(pipelines(tables), "jobs: 3\nstate:\n  schema: STATE\n");
  const CliResult one = s.run({"--jobs", "1", "-v", "--json"});
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  CHECK(count_occurrences(one.err, kSessionOpenedOnDb) == 2);  // tidemark-source and tidemark, for all four pipelines
  CHECK(count_occurrences(one.err, "worker(s)") == 0);
  // One after another: each pipeline's summary line comes before the next one's first line.
  size_t at = 0;
  for (const auto& t : tables) {
    const size_t first = one.err.find("[" + t + " #");
    const size_t done = one.err.find("[" + t + " #", one.err.find("incremental run: read", first) - 40);
    REQUIRE(first != std::string::npos);
    CHECK(first >= at);
    at = done;
  }
  const auto j = one.json();
  REQUIRE(j.size() == 4);
  for (size_t i = 0; i < tables.size(); ++i) CHECK(j[i]["pipeline"] == tables[i]);
  // Without the flag the config's jobs: 3 applies (to the pipelines with something to read;
  // the unchanged ones are checked together first).
  for (const auto& t : {"t1", "t2", "t4"}) s.db().exec(sub(std::string("INSERT INTO SRC.") + t + " (v) VALUES ('new')", s));
  const CliResult three = s.run({"-v"});
  INFO(three.err);
  REQUIRE(three.exit_code == 0);
  CHECK(count_occurrences(three.err, "running 3 pipeline(s) on 3 worker(s)") == 1);
  for (const auto& t : tables) CHECK(s.same_content(t, t, "id"));
}

TEST_CASE("jobs: two overlapping run --jobs of one config run each pipeline once at a time; the loser skips the locked "
          "ones with exit 75",
          "[pg][jobs][lock]") {
  Scenario s;
  const auto tables = names(8);
  make_tables(s, tables);
  s.write_config(pipelines(tables));
  const std::string release = s.dir() + "/release";
  // Run A's two workers take t1 and t2 (config order) and pause after their snapshots, holding
  // their pipelines' locks; no other pipeline starts in A meanwhile.
  tmtest::CliProcess a = tmtest::start_cli({"run", "-c", s.config(), "--jobs", "2", "--json"},
                                           {{"TIDEMARK_FAULT", "after_snapshot:pause"},
                                            {"TIDEMARK_FAULT_RELEASE", release}});
  for (int i = 0; i < 400 && count_occurrences(slurp(a.err_path), "paused at fault point after_snapshot") < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  const std::string paused = slurp(a.err_path);
  INFO(paused);
  REQUIRE(count_occurrences(paused, "paused at fault point after_snapshot") == 2);
  // Run B finds t1 and t2 locked and runs the other six.
  const CliResult b = s.run({"--jobs", "3", "--json"});
  INFO(b.err);
  CHECK(b.exit_code == 75);
  const auto jb = b.json();
  REQUIRE(jb.size() == 8);
  for (size_t i = 0; i < tables.size(); ++i) {
    INFO(tables[i]);
    CHECK(jb[i]["pipeline"] == tables[i]);
    CHECK(jb[i]["status"] == (i < 2 ? "skipped_locked" : "succeeded"));
  }
  CHECK(count_occurrences(b.err, "is already running (advisory lock held)") == 2);
  std::ofstream(release).put('\n');
  const CliResult ra = tmtest::finish(a);
  INFO(ra.err);
  CHECK(ra.exit_code == 0);
  const auto ja = ra.json();
  REQUIRE(ja.size() == 8);
  for (size_t i = 0; i < tables.size(); ++i) {
    CHECK(ja[i]["pipeline"] == tables[i]);
    CHECK(ja[i]["status"] == "succeeded");
  }
  // Every row was read once, by one of the two runs; every target equals its source.
  for (const auto& t : tables) {
    INFO(t);
    CHECK(s.db().value("SELECT sum(rows_read) FROM " + s.state() + ".runs WHERE pipeline = '" + t +
                       "' AND status = 'succeeded'") == "50");
    CHECK(s.same_content(t, t, "id"));
  }
}

TEST_CASE("jobs: a dry run with --jobs prints every plan whole, in config order, as --jobs 1 does", "[pg][jobs]") {
  Scenario s;
  const auto tables = names(6);
  make_tables(s, tables);
  s.write_config(pipelines(tables));
  const CliResult one = s.run({"--dry-run", "--jobs", "1"});
  const CliResult four = s.run({"--dry-run", "--jobs", "4"});
  INFO(one.err << four.err);
  REQUIRE(one.exit_code == 0);
  REQUIRE(four.exit_code == 0);
  CHECK(!one.out.empty());
  CHECK(four.out == one.out);
  size_t at = 0;
  for (const auto& t : tables) {
    const size_t here = four.out.find("pipeline " + t + " (strategy");
    CHECK(here != std::string::npos);
    CHECK(here >= at);
    at = here;
  }
  CHECK(s.db().count(s.tgt() + ".t1") == 0);  // nothing written
}

TEST_CASE("jobs: with --from/--to, --jobs is each backfill's chunk workers and the pipelines run one after another",
          "[pg][jobs][backfill]") {
  Scenario s;
  const std::vector<std::string> tables = {"a", "b"};
  for (const auto& t : tables)
    s.db().exec(sub("CREATE TABLE SRC." + t + " (id bigserial PRIMARY KEY, v text);"
                    "CREATE TABLE TGT." + t + " (id bigint PRIMARY KEY, v text);"
                    "INSERT INTO SRC." + t + " (v) SELECT 'v' || g FROM generate_series(1, 1000) g",
                    s));
  // The config's jobs: 4 is for runs without a range; a backfill's chunk workers come from --jobs.
  s.write_config(pipelines(tables), "jobs: 4\nstate:\n  schema: STATE\n");
  const CliResult r = s.run({"a", "b", "--from", "1", "--to", "1001", "--chunk", "100", "--jobs", "2", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(count_occurrences(r.err, "10 to do, 2 job(s)") == 2);
  CHECK(count_occurrences(r.err, "worker(s)") == 0);  // no pipeline workers beside the chunk workers
  // a's backfill is done before b's begins.
  const size_t a_done = r.err.find("[a] backfill [1, 1001): 10/10 chunks done");
  const size_t b_start = r.err.find("[b] backfill [1, 1001): 10 chunk(s)");
  REQUIRE(a_done != std::string::npos);
  REQUIRE(b_start != std::string::npos);
  CHECK(a_done < b_start);
  const auto j = r.json();
  REQUIRE(j.size() == 2);
  for (size_t i = 0; i < tables.size(); ++i) {
    CHECK(j[i]["pipeline"] == tables[i]);
    CHECK(j[i]["rows_written"] == 1000);
    CHECK(s.same_content(tables[i], tables[i], "id"));
  }
  // Every chunk exactly once, by one of the two chunk workers of its backfill.
  CHECK(s.db().value("SELECT count(*) FILTER (WHERE status = 'done') || '/' || count(*) FROM " + s.state() +
                     ".backfill_chunks") == "20/20");
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE mode = 'range' AND status = 'succeeded'") ==
        "20");
  // Without --jobs a backfill has one chunk worker, whatever the config's jobs says.
  const CliResult plain = s.run({"a", "--from", "1", "--to", "1001", "--chunk", "500", "--restart"});
  INFO(plain.err);
  CHECK(plain.exit_code == 0);
  CHECK(count_occurrences(plain.err, "2 to do, 1 job(s)") == 1);
}
