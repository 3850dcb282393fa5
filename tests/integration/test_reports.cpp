// What tidemark tells the operator about a failed or repeated run: every message, every count
// in `run --json`, `status` and `history`, states what is committed, checked against the
// target's content (issue 15, items 4, 5 and 8).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "common/files.hpp"
#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::run_cli;
using tmtest::Scenario;
using tmtest::sub;

namespace {

void items(Scenario& s, int rows) {
  s.db().exec(sub("CREATE TABLE SRC.items (id bigserial PRIMARY KEY, name text);"
                  "CREATE TABLE TGT.items (id bigint PRIMARY KEY, name text);"
                  "INSERT INTO SRC.items (name) SELECT 'item ' || g FROM generate_series(1, " + std::to_string(rows) +
                      ") g;",
                  s));
}

// A pipeline name of its own per scenario: advisory locks (and a state file's entries) are per name.
std::string name(const Scenario& s) { return "items_" + s.state(); }

std::string pipeline(const Scenario& s, const std::string& extra = "") {
  return "  - name: " + name(s) + "\n    source: {connection: db, table: SRC.items}\n"
         "    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: TGT.items, key: [id]}\n" + extra;
}

nlohmann::json status_json(const Scenario& s) {
  CliResult st = run_cli({"status", "-c", s.config(), "--json"});
  INFO(st.err);
  REQUIRE(st.exit_code == 0);
  return st.json();
}

nlohmann::json history_json(const Scenario& s) {
  CliResult h = run_cli({"history", "-c", s.config(), "--json"});
  INFO(h.err);
  REQUIRE(h.exit_code == 0);
  return h.json();
}

bool rfc3339_utc(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const std::string t = v.get<std::string>();  // 2026-11-24T21:40:00.123Z
  return t.size() == 24 && t[10] == 'T' && t[19] == '.' && t.back() == 'Z';
}

}  // namespace

TEST_CASE("reports: a batched run that fails after committing batches reports and records only what was committed",
          "[pg][reports]") {
  Scenario s;
  items(s, 20);
  s.write_config(pipeline(s, "    batch_size: 3\n"));
  // The fifth batch fails before its commit: four batches (12 rows) are committed.
  CliResult r = s.run({"--json"}, {{"TIDEMARK_FAULT", "before_commit@5"}});
  INFO(r.err);
  REQUIRE(r.exit_code == 1);
  REQUIRE(s.db().count(s.tgt() + ".items") == 12);
  const std::string safe = s.db().value("SELECT watermark->'safe'->>0 FROM " + s.state() + ".pipeline_state");
  CHECK(s.db().value("SELECT watermark->'high'->>0 FROM " + s.state() + ".pipeline_state") == "12");
  CHECK_THAT(r.err, Contains("run failed after committing 4 batch(es) (read 12 rows, wrote 12, deleted 0; the "
                             "watermark is now high 12 safe " + safe + "); the batch in progress was rolled back: "
                             "injected fault at before_commit"));
  CHECK_THAT(r.err, !Contains("the watermark is where it was"));
  const auto out = r.json()[0];
  CHECK(out["status"] == "failed");
  CHECK(out["rows_read"] == 12);
  CHECK(out["rows_written"] == 12);
  CHECK(out["watermark_after"]["high"] == nlohmann::json::array({"12"}));

  const auto st = status_json(s)[0];
  CHECK(st["last_run"]["status"] == "failed");
  CHECK(st["last_run"]["rows_read"] == 12);
  CHECK(st["last_run"]["rows_written"] == 12);
  CliResult text = run_cli({"status", "-c", s.config()});
  CHECK_THAT(text.out, Contains("failed  12    12"));
  const auto h = history_json(s)[0];
  CHECK(h["status"] == "failed");
  CHECK(h["rows_written"] == 12);
  CHECK(h["watermark_after"]["high"] == nlohmann::json::array({"12"}));

  // A failure in the first batch committed nothing, and says so.
  Scenario t;
  items(t, 20);
  t.write_config(pipeline(t, "    batch_size: 3\n"));
  CliResult first = t.run({"--json"}, {{"TIDEMARK_FAULT", "before_commit@1"}});
  REQUIRE(first.exit_code == 1);
  CHECK_THAT(first.err, Contains("run failed; nothing was committed (its open transaction was rolled back) and the "
                                 "watermark is where it was: injected fault at before_commit"));
  CHECK(first.json()[0]["rows_read"] == 0);
  CHECK(t.db().count(t.tgt() + ".items") == 0);
  CHECK(status_json(t)[0]["last_run"]["rows_read"] == 0);

  // The next run goes on from the committed batches.
  CHECK(s.run_ok()["rows_read"] == 8);
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("reports: re-running a finished chunked backfill reports that this command did nothing", "[pg][reports]") {
  auto jobs = GENERATE(as<std::string>{}, "1", "2");
  INFO("--jobs " << jobs);
  Scenario s;
  items(s, 1000);
  s.write_config(pipeline(s));
  const std::vector<std::string> range = {name(s), "--from", "1", "--to", "1001", "--chunk", "100", "--jobs", jobs};
  auto first = s.run_ok(range);
  CHECK(first["rows_read"] == 1000);
  CHECK(first["rows_written"] == 1000);
  CliResult again = s.run([&] {
    auto a = range;
    a.push_back("--json");
    return a;
  }());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.json()[0]["rows_read"] == 0);
  CHECK(again.json()[0]["rows_written"] == 0);
  CHECK_THAT(again.err, Contains("all 10 chunk(s) were already done"));
  CHECK_THAT(again.err, Contains("read 0 rows, wrote 0, deleted 0"));
  // Another chunk size over a completed range: done as well, not "in progress".
  CliResult other = s.run({name(s), "--from", "1", "--to", "1001", "--chunk", "250", "--json"});
  INFO(other.err);
  CHECK(other.exit_code == 0);
  CHECK_THAT(other.err, !Contains("in progress"));
  CHECK_THAT(other.err, Contains("all 10 chunk(s) were already done"));
  CHECK(other.json()[0]["rows_written"] == 0);
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("reports: a backfill whose workers are killed shows their chunks as failed, not running, and says what "
          "was committed",
          "[pg][reports]") {
  Scenario s;
  items(s, 1000);
  s.write_config(pipeline(s));
  // Each of the two workers loads one chunk and is killed when it has claimed its second.
  CliResult r = s.run({name(s), "--from", "1", "--to", "1001", "--chunk", "100", "--jobs", "2"},
                      {{"TIDEMARK_FAULT", "chunk_claimed@2:kill"}});
  INFO(r.err);
  REQUIRE(r.exit_code == 1);
  REQUIRE(s.db().count(s.tgt() + ".items") == 200);
  CHECK_THAT(r.err, Contains("backfill failed after committing 2 chunk(s) (read 200 rows, wrote 200, deleted 0), "
                             "which stay done"));
  // The killed workers' chunks were marked failed by the parent (the second worker may have
  // taken over the first one's failed chunk, so one or two of them).
  const std::string failed =
      s.db().value("SELECT count(*) FROM " + s.state() + ".backfill_chunks WHERE status = 'failed'");
  CHECK((failed == "1" || failed == "2"));
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".backfill_chunks WHERE status = 'running'") == "0");
  CliResult st = run_cli({"status", "-c", s.config()});
  INFO(st.out);
  CHECK_THAT(st.out, Contains("2/10 chunks done, 200 rows written"));
  CHECK_THAT(st.out, Contains("(" + failed + " chunk(s) failed"));
  CHECK_THAT(st.out, !Contains("running"));
  const auto fill = status_json(s)[0]["backfills"][0];
  CHECK(fill["chunks_running"] == 0);
  CHECK(fill["chunks_failed"] == std::stoi(failed));

  // A whole command killed while it loads a chunk: the chunk's lease has not run out, but no
  // session holds it, so it is not running either.
  Scenario t;
  items(t, 1000);
  t.write_config(pipeline(t));
  CliResult killed = t.run({name(t), "--from", "1", "--to", "1001", "--chunk", "100"},
                           {{"TIDEMARK_FAULT", "chunk_claimed@2:kill"}});
  REQUIRE(killed.exit_code == 128 + 9);
  REQUIRE(t.db().value("SELECT count(*) FROM " + t.state() + ".backfill_chunks WHERE status = 'running' AND "
                       "lease_until > clock_timestamp()") == "1");
  // (The server ends the killed process's sessions as it notices; give it a moment.)
  CliResult st2;
  for (int i = 0; i < 50; ++i) {
    st2 = run_cli({"status", "-c", t.config()});
    if (st2.out.find("running") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(st2.out);
  CHECK_THAT(st2.out, Contains("1/10 chunks done"));
  CHECK_THAT(st2.out, Contains("1 chunk(s) failed"));
  CHECK_THAT(st2.out, !Contains("running"));

  // Both resume to the whole range.
  CHECK(s.run_ok({name(s), "--from", "1", "--to", "1001", "--chunk", "100"})["rows_read"] == 800);
  CHECK(s.same_content("items", "items", "id"));
  CHECK(t.run_ok({name(t), "--from", "1", "--to", "1001", "--chunk", "100"})["rows_read"] == 900);
  CHECK(t.same_content("items", "items", "id"));
}

TEST_CASE("reports: a state file in a missing directory stops the run before its data commit, and a state file write "
          "failing after it says the data is committed",
          "[pg][reports][state_file]") {
  Scenario s;
  items(s, 100);
  s.write_config(pipeline(s), "state:\n  file: state/p.state.json\n");
  CliResult r = s.run();
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("state file " + s.dir() + "/state/p.state.json: directory " + s.dir() +
                             "/state does not exist; nothing was read or written"));
  CHECK_THAT(r.err, Contains("nothing was committed"));
  CHECK(s.db().count(s.tgt() + ".items") == 0);

  REQUIRE(::mkdir((s.dir() + "/state").c_str(), 0755) == 0);
  CHECK(s.run_ok()["rows_read"] == 100);
  s.db().exec(sub("INSERT INTO SRC.items (name) SELECT 'more' FROM generate_series(1, 30)", s));
  // The file's write fails after the data commit: the message says exactly that.
  CliResult late = s.run({"--json"}, {{"TIDEMARK_FAULT", "state_file_written"}});
  INFO(late.err);
  CHECK(late.exit_code == 1);
  CHECK_THAT(late.err, Contains("run failed after its data was committed (read 30 rows, wrote 30, deleted 0): saving "
                                "the state in state file " + s.dir() + "/state/p.state.json failed, so the watermark "
                                "there does not cover that data yet and the next run re-reads it"));
  CHECK(s.db().count(s.tgt() + ".items") == 130);
  const auto st = status_json(s)[0];
  CHECK(st["watermark"]["high"][0] == "100");
  CHECK(st["last_run"]["status"] == "failed");
  CHECK(st["last_run"]["rows_written"] == 30);
  // The next run re-reads those 30 rows, idempotently.
  CHECK(s.run_ok()["rows_read"] == 30);
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("reports: failures before the run record (target or source missing, a bad query, a text id cursor) show "
          "in status, history and the metrics file",
          "[pg][reports]") {
  struct Case {
    std::string what, source, fix, message;
  };
  const std::vector<Case> cases = {
      {"target table missing", "table: SRC.items", "DROP TABLE TGT.items", "does not exist"},
      {"source table missing", "table: SRC.nosuch", "", "nosuch"},
      {"source query syntax error", "query: 'SELEC id, name FROM SRC.items'", "", "syntax error"},
      {"id cursor of type text", "table: SRC.texts", "", "cursor column 'id' has type text"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      Scenario s;
      items(s, 5);
      s.db().exec(sub("CREATE TABLE SRC.texts (id text PRIMARY KEY, name text); INSERT INTO SRC.texts VALUES ('a', 'x')", s));
      if (!c.fix.empty()) s.db().exec(sub(c.fix, s));
      std::string p = pipeline(s);
      const std::string from = "table: SRC.items";
      p.replace(p.find(from), from.size(), c.source);
      s.write_config(p);
      const std::string metrics = s.dir() + "/m.prom";
      CliResult r = s.run({"--metrics-file", metrics});
      INFO(r.err);
      REQUIRE(r.exit_code == 1);
      CHECK_THAT(r.err, Contains(c.message));
      CHECK_THAT(r.err, Contains("nothing was committed"));

      const auto st = status_json(s)[0];
      INFO(st.dump());
      REQUIRE(st["last_run"].is_object());
      CHECK(st["last_run"]["status"] == "failed");
      CHECK_THAT(st["last_run"]["error"].get<std::string>(), Contains(c.message));
      CHECK(st["last_run"]["rows_read"] == 0);
      CHECK(st["last_run"]["rows_written"] == 0);
      CHECK(rfc3339_utc(st["last_run"]["started_at"]));
      CHECK(rfc3339_utc(st["last_run"]["finished_at"]));
      CliResult text = run_cli({"status", "-c", s.config()});
      CHECK_THAT(text.out, !Contains("never"));
      CHECK_THAT(text.out, Contains(name(s) + ": last error: "));
      const auto h = history_json(s);
      REQUIRE(h.size() == 1);
      CHECK(h[0]["status"] == "failed");
      CHECK_THAT(h[0]["error"].get<std::string>(), Contains(c.message));
      CHECK(h[0]["rows_written"] == 0);
      CliResult htext = run_cli({"history", "-c", s.config()});
      CHECK_THAT(htext.out, !Contains("no runs recorded"));
      CHECK_THAT(htext.out, Contains("failed"));
      const std::string m = tmtest::slurp(metrics);
      CHECK_THAT(m, Contains("tidemark_run_status{pipeline=\"" + name(s) + "\"} 1"));
      // A second failing run is a second record.
      CHECK(s.run().exit_code == 1);
      CHECK(history_json(s).size() == 2);
    }
  }
}

TEST_CASE("reports: a failure that cannot be recorded never hides the run's own error", "[pg][reports]") {
  Scenario s;
  items(s, 5);
  s.write_config(pipeline(s));
  s.db().exec(sub("DROP TABLE TGT.items", s));
  CHECK(s.run().exit_code == 1);  // the state schema exists now
  // The runs table cannot take the record: the run's error is still the one reported.
  s.db().exec("ALTER TABLE " + s.state() + ".runs ADD CONSTRAINT no_more CHECK (status <> 'failed') NOT VALID");
  CliResult r = s.run({"--json"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("could not record the failed run"));
  CHECK_THAT(r.json()[0]["error"].get<std::string>(), Contains("does not exist"));
}

TEST_CASE("reports: --json timestamps are RFC 3339 UTC, empty errors are null, and history --limit 0 is a short "
          "usage error",
          "[pg][reports]") {
  Scenario s;
  items(s, 5);
  s.write_config(pipeline(s));
  s.run_ok();
  const auto st = status_json(s)[0];
  CHECK(rfc3339_utc(st["state_updated_at"]));
  CHECK(rfc3339_utc(st["last_run"]["started_at"]));
  CHECK(rfc3339_utc(st["last_run"]["finished_at"]));
  CHECK(st["last_run"]["error"].is_null());
  const auto h = history_json(s)[0];
  CHECK(rfc3339_utc(h["started_at"]));
  CHECK(rfc3339_utc(h["finished_at"]));
  CHECK(h["error"].is_null());
  s.run_ok({name(s), "--from", "1", "--to", "6", "--chunk", "2"});
  CHECK(rfc3339_utc(status_json(s)[0]["backfills"][0]["last_chunk_at"]));
  // Text tables keep the plain form, to the second, in UTC.
  CliResult text = run_cli({"status", "-c", s.config()});
  CHECK_THAT(text.out, Contains(h["started_at"].get<std::string>().substr(0, 10) + " "));
  CHECK_THAT(text.out, !Contains("Z "));

  for (const char* limit : {"0", "-1"}) {
    CliResult l = run_cli({"history", "-c", s.config(), "--limit", limit});
    INFO(l.err);
    CHECK(l.exit_code == 2);
    CHECK_THAT(l.err, Contains("must be at least 1"));
    CHECK(l.err.size() < 200);
  }
}
