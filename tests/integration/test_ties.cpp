// The tie group: many rows sharing the watermark's timestamp (a bulk UPDATE … SET updated_at =
// now()). A run that finds nothing new must not re-read them, and a row committed later at
// that same timestamp must still arrive (docs/strategies.md#ties).
#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <thread>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Db;
using tmtest::Scenario;
using tmtest::sub;

namespace {

const int kTied = 20000;

void seed_tied(Scenario& s) {
  s.db().exec(sub("CREATE TABLE SRC.items (id bigserial PRIMARY KEY, name text, updated_at timestamptz NOT NULL);"
                  "CREATE INDEX ON SRC.items (updated_at);"
                  "INSERT INTO SRC.items (name, updated_at) SELECT 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + "
                  "g * interval '1 second' FROM generate_series(1, " + std::to_string(kTied) + ") g",
                  s));
  s.write_config("  - name: items\n    source: {connection: db, table: SRC.items}\n"
                 "    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: TGT.items, key: [id], create: true}\n");
}

// Runs until safe has caught up with high: a parallel test's transaction that began before
// our rows may hold the safe mark back for a moment (the in-flight rule), as in
// test_pipelines.cpp. Returns the last run's summary.
nlohmann::json run_until_settled(Scenario& s) {
  nlohmann::json r = s.run_ok();
  for (int i = 0; i < 20 && r["watermark_after"]["safe"] != r["watermark_after"]["high"]; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    r = s.run_ok();
  }
  REQUIRE(r["watermark_after"]["safe"] == r["watermark_after"]["high"]);
  return r;
}

}  // namespace

TEST_CASE("ties: after a bulk update the no-op run reads nothing and its window starts after the tie group",
          "[pg][ties]") {
  Scenario s;
  seed_tied(s);
  s.run_ok();
  s.db().exec(sub("UPDATE SRC.items SET name = name || ' (bulk)', updated_at = now()", s));
  auto bulk = s.run_ok();
  CHECK(bulk["rows_read"] == kTied);
  bulk = run_until_settled(s);
  // The stored mark stays (timestamp, largest key): a later row at that timestamp with a
  // larger key still counts as new.
  CHECK(bulk["watermark_after"]["safe"].size() == 2);
  auto noop = s.run_ok();
  CHECK(noop["rows_read"] == 0);
  CHECK(noop["checked_together"] == 1);  // decided by the check, with the window a run alone reports
  const std::string tied_at = bulk["watermark_after"]["safe"][0];
  CHECK(noop["window"] == "\"updated_at\" > CAST('" + tied_at + "' AS timestamp with time zone)");
  CHECK(noop["watermark_after"] == bulk["watermark_after"]);
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("ties: a row at the tied timestamp committed after a run still arrives", "[pg][ties]") {
  Scenario s;
  seed_tied(s);
  s.db().exec(sub("UPDATE SRC.items SET updated_at = '2025-06-01 12:00:00+00'", s));
  run_until_settled(s);
  // A writer holds a new row at exactly the tied timestamp (a larger id) open across a run...
  Db late;
  pqxx::work held(late.conn());
  held.exec(sub("INSERT INTO SRC.items (name, updated_at) VALUES ('late', '2025-06-01 12:00:00+00')", s));
  auto during = s.run_ok();
  CHECK(during["rows_read"] == 0);
  // ...and commits after it: the next run sees a key above the mark's, reads the tie group's
  // tail after the mark, and loads the row.
  held.commit();
  auto after = s.run_ok();
  CHECK(after["rows_read"] == 1);
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE name = 'late'", s)) == "1");
  CHECK(s.same_content("items", "items", "id"));
  // And an explicitly timestamped row inserted later at the tied timestamp, outside any
  // open transaction, arrives too.
  s.db().exec(sub("INSERT INTO SRC.items (name, updated_at) VALUES ('later', '2025-06-01 12:00:00+00')", s));
  CHECK(s.run_ok()["rows_read"] == 1);
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("round trips: run --json reports them, and an unchanged pipeline needs few", "[pg][ties][round_trips]") {
  Scenario s;
  seed_tied(s);
  run_until_settled(s);
  auto noop = s.run_ok();
  REQUIRE(noop.contains("round_trips"));
  CHECK(noop["round_trips"].get<int64_t>() > 0);
  CHECK(noop["round_trips"].get<int64_t>() <= 20);  // 36 before the shared-cost work (docs/performance.md)
  CHECK(noop["sessions_opened"] == 2);
}

TEST_CASE("shared observation: a transaction open before the run holds back every pipeline that shares the observation",
          "[pg][ties][inflight][round_trips]") {
  Scenario s;
  for (const char* t : {"a", "b"})
    s.db().exec(sub(std::string("CREATE TABLE SRC.") + t +
                        " (id bigserial PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());"
                        "CREATE INDEX ON SRC." + t + " (updated_at);"
                        "INSERT INTO SRC." + t + " (name, updated_at) VALUES ('seed', '2024-01-01 00:00:00+00')",
                    s));
  std::string yaml;
  for (const char* t : {"a", "b"})
    yaml += std::string("  - name: ") + t + "\n    source: {connection: db, table: SRC." + t +
            "}\n    detect: {strategy: updated_at, cursor: updated_at}\n"
            "    target: {connection: db, table: TGT." + t + ", key: [id], create: true}\n";
  s.write_config(yaml);
  REQUIRE(s.run({"--json"}).exit_code == 0);
  // A writer begins before the run and inserts into b at its transaction's start time; rows
  // committed after it carry later timestamps.
  Db slow;
  pqxx::work held(slow.conn());
  held.exec(sub("INSERT INTO SRC.b (name) VALUES ('slow')", s));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  s.db().exec(sub("INSERT INTO SRC.a (name) VALUES ('fast'); INSERT INTO SRC.b (name) VALUES ('fast')", s));
  const CliResult r = s.run({"--json", "-vv"});
  REQUIRE(r.exit_code == 0);
  // b ran on a's observation (same source session, same clock horizon), one round trip fewer.
  bool b_shared = false;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);)
    b_shared = b_shared || (line.find("[b #") != std::string::npos &&
                            line.find("in-flight observation shared") != std::string::npos);
  INFO("stderr: " << r.err);
  CHECK(b_shared);
  const auto runs = nlohmann::json::parse(r.out);
  REQUIRE(runs.size() == 2);
  const auto& b = runs[1];
  CHECK(b["rows_read"] == 1);  // 'fast'; 'slow' is not committed
  // The open transaction began before the shared observation, so b's safe mark stays before it.
  CHECK(b["watermark_after"]["safe"] != b["watermark_after"]["high"]);
  held.commit();
  for (int i = 0; i < 50; ++i) {
    const CliResult again = s.run({"--json"});
    REQUIRE(again.exit_code == 0);
    const auto rs = nlohmann::json::parse(again.out);
    if (rs[1]["watermark_after"]["safe"] == rs[1]["watermark_after"]["high"]) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.b WHERE name = 'slow'", s)) == "1");
  CHECK(s.same_content("a", "a", "id"));
  CHECK(s.same_content("b", "b", "id"));
}
