// Unchanged pipelines checked together (run/quiet.hpp): in a tick over many tables, those
// with nothing beyond their watermark are recorded together, the others run on their own; what
// the check cannot decide (a held lock, a changed source shape, rows arriving) is left to the
// pipeline's own run. Every target compared to its source by content.
#include <catch2/catch.hpp>

#include <string>

#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// Six tables: three updated_at (one with a text key), three id.
void seed(Scenario& s) {
  for (int i = 1; i <= 3; ++i) {
    const std::string t = "SRC.u" + std::to_string(i);
    s.db().exec(sub("CREATE TABLE " + t + " (id " + (i == 3 ? "text" : "bigint") +
                        " PRIMARY KEY, v int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());"
                        "CREATE INDEX ON " + t + " (updated_at);"
                        "INSERT INTO " + t + " (id, v, updated_at) SELECT g" + (i == 3 ? "::text" : "") +
                        ", g, '2026-12-01 10:00:00+00'::timestamptz + g * interval '1 second'"
                        " FROM generate_series(1, 100) g;",
                    s));
    const std::string e = "SRC.e" + std::to_string(i);
    s.db().exec(sub("CREATE TABLE " + e + " (id bigserial PRIMARY KEY, kind text);"
                    "INSERT INTO " + e + " (kind) SELECT 'k' || g FROM generate_series(1, 100) g;",
                    s));
  }
}

std::string config_yaml() {
  std::string y;
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    y += "  - name: u" + n + "\n    source: {connection: db, table: SRC.u" + n +
         "}\n    detect: {strategy: updated_at, cursor: updated_at}\n"
         "    target: {connection: db, table: TGT.u" + n + ", key: [id], create: true}\n";
    y += "  - name: e" + n + "\n    source: {connection: db, table: SRC.e" + n +
         "}\n    detect: {strategy: id, cursor: id}\n"
         "    target: {connection: db, table: TGT.e" + n + ", key: [id], create: true}\n";
  }
  return y;
}

CliResult run_ok(Scenario& s, const std::map<std::string, std::string>& env = {}) {
  CliResult r = s.run({"--json"}, env);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

const nlohmann::json& result_of(const nlohmann::json& all, const std::string& name) {
  for (const auto& r : all)
    if (r.at("pipeline") == name) return r;
  FAIL("no result for pipeline " << name);
  return all;
}

void check_all_equal(Scenario& s) {
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    CHECK(s.same_content("u" + n, "u" + n, "id"));
    CHECK(s.same_content("e" + n, "e" + n, "id"));
  }
}

}  // namespace

TEST_CASE("quiet check: the unchanged pipelines of a tick are recorded together, the changed ones run alone",
          "[pg][quiet]") {
  Scenario s;
  seed(s);
  s.write_config(config_yaml());
  const nlohmann::json first = run_ok(s).json();
  for (const auto& r : first) CHECK(r.at("checked_together") == 0);  // first runs load their tables
  check_all_equal(s);

  // Two tables change: a new row in e2, an update of u3 (text key).
  s.db().exec(sub("INSERT INTO SRC.e2 (kind) VALUES ('late');"
                  "UPDATE SRC.u3 SET v = -1, updated_at = '2026-12-02 00:00:00+00' WHERE id = '7';",
                  s));
  const int64_t u1_version = s.state_version("u1");
  const std::string u1_state = s.state_json("u1");
  const CliResult tick = run_ok(s);
  const nlohmann::json all = tick.json();
  REQUIRE(all.size() == 6);
  for (const char* quiet : {"u1", "u2", "e1", "e3"}) {
    const auto& r = result_of(all, quiet);
    CHECK(r.at("status") == "succeeded");
    CHECK(r.at("checked_together") == 4);
    CHECK(r.at("rows_read") == 0);
    CHECK(r.at("run_id").get<int64_t>() > 0);
    CHECK(r.at("watermark_after") == r.at("watermark_before"));
  }
  // The run's two sessions, counted once: by the first pipeline of the check.
  int64_t sessions = 0;
  for (const auto& r : all) sessions += r.at("sessions_opened").get<int64_t>();
  CHECK(sessions == 2);
  CHECK(result_of(all, "u1").at("sessions_opened") == 2);
  CHECK(result_of(all, "e2").at("checked_together") == 0);
  CHECK(result_of(all, "e2").at("rows_read") == 1);
  CHECK(result_of(all, "u3").at("checked_together") == 0);
  CHECK(result_of(all, "u3").at("rows_read") == 1);
  check_all_equal(s);
  // Recorded as a run saves an unchanged state: a new version, the same watermark, and a
  // finished run record that read nothing; its log line is the one a run alone writes.
  CHECK(s.state_version("u1") == u1_version + 1);
  CHECK(s.state_json("u1") == u1_state);
  CHECK(s.db().value("SELECT status || ' ' || rows_read || ' ' || mode || ' ' || (finished_at IS NOT NULL) FROM " +
                     s.state() + ".runs WHERE pipeline = 'u1' ORDER BY run_id DESC LIMIT 1") ==
        "succeeded 0 incremental true");
  CHECK(tmtest::count_occurrences(tick.err, "incremental run: read 0 rows, wrote 0, deleted 0") == 4);

  // The same tick alone, pipeline by pipeline, leaves the same watermarks.
  const CliResult alone = run_ok(s, {{"TIDEMARK_QUIET_CHECK", "off"}});
  for (const auto& r : alone.json()) {
    CHECK(r.at("checked_together") == 0);
    CHECK(r.at("watermark_after") == result_of(all, r.at("pipeline")).at("watermark_after"));
  }
}

TEST_CASE("quiet check: a pipeline whose run holds its lock is left to its own run, which reports it",
          "[pg][quiet]") {
  Scenario s;
  seed(s);
  s.write_config(config_yaml());
  run_ok(s);
  tmtest::Db holder;
  holder.exec("SELECT pg_advisory_lock(hashtextextended('tidemark:" + s.state() + ":e1', 0))");
  const CliResult r = s.run({"--json"});
  INFO(r.err);
  CHECK(r.exit_code == 75);
  const nlohmann::json all = r.json();
  CHECK(result_of(all, "e1").at("status") == "skipped_locked");
  CHECK(result_of(all, "u1").at("checked_together") == 5);
  CHECK_THAT(r.err, Contains("pipeline e1 is already running"));
}

TEST_CASE("quiet check: a source column added between runs is left to the run, which fits the target",
          "[pg][quiet]") {
  Scenario s;
  seed(s);
  std::string y = config_yaml();
  y.insert(y.rfind("create: true}"), "on_schema_change: append_new_columns, ");  // e3's, the last pipeline
  s.write_config(y);
  run_ok(s);
  s.db().exec(sub("ALTER TABLE SRC.e3 ADD COLUMN note text", s));
  const CliResult r = run_ok(s);
  CHECK(result_of(r.json(), "e3").at("checked_together") == 0);
  CHECK(result_of(r.json(), "u1").at("checked_together") == 5);
  CHECK(s.db().value("SELECT count(*) FROM information_schema.columns WHERE table_schema = '" + s.tgt() +
                     "' AND table_name = 'e3' AND column_name = 'note'") == "1");
  CHECK(s.same_content("e3", "e3", "id"));
}

TEST_CASE("quiet check: a failure of the check leaves every pipeline to its own run", "[pg][quiet]") {
  Scenario s;
  seed(s);
  s.write_config(config_yaml());
  run_ok(s);
  s.db().exec(sub("INSERT INTO SRC.e1 (kind) VALUES ('x')", s));
  const CliResult r = run_ok(s, {{"TIDEMARK_FAULT", "quiet_before_record"}});
  for (const auto& x : r.json()) CHECK(x.at("checked_together") == 0);
  CHECK(result_of(r.json(), "e1").at("rows_read") == 1);
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs") == "12");  // 6 first runs, 6 runs alone
  check_all_equal(s);
}
