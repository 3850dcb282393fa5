// Backfills (--from/--to): chunked, resumable, replacing the range in the target.
#include <catch2/catch.hpp>
#include <signal.h>

#include <chrono>
#include <thread>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;

namespace {

// 1000 events, one every 36 minutes from 2024-01-01, so day boundaries fall between rows and
// some rows sit exactly at midnight.
void make_events(Scenario& s) {
  s.db().exec("CREATE TABLE " + s.src() + ".ev (id bigserial PRIMARY KEY, at timestamptz NOT NULL, v text);"
              "CREATE TABLE " + s.tgt() + ".ev (id bigint PRIMARY KEY, at timestamptz NOT NULL, v text);"
              "INSERT INTO " + s.src() + ".ev (at, v) SELECT timestamptz '2024-01-01 00:00:00+00' + "
              "(g - 1) * interval '36 minutes', 'v' || g FROM generate_series(1, 1000) g");
}

std::string events(const std::string& strategy, const std::string& extra = "") {
  return "  - name: ev\n    source: {connection: db, table: SRC.ev}\n    detect: {strategy: " + strategy +
         ", cursor: " + (strategy == "id" ? "id" : "at") + "}\n    target: {connection: db, table: TGT.ev, key: [id]}\n" +
         extra;
}

std::string in_range(Scenario& s, const std::string& schema, const std::string& where) {
  return s.db().value("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '-') FROM " + schema +
                      ".ev t WHERE " + where);
}

}  // namespace

TEST_CASE("backfill: a chunked range commits chunk by chunk, and no row is lost or doubled at a boundary",
          "[pg][backfill]") {
  auto strategy = GENERATE(as<std::string>{}, "id", "updated_at");
  INFO(strategy);
  Scenario s;
  make_events(s);
  s.write_config(events(strategy));
  std::vector<std::string> args = strategy == "id"
                                      ? std::vector<std::string>{"ev", "--from", "101", "--to", "901", "--chunk", "100"}
                                      : std::vector<std::string>{"ev", "--from", "2024-01-03", "--to", "2024-01-13",
                                                                 "--chunk", "1d"};
  const std::string where = strategy == "id" ? "id >= 101 AND id < 901"
                                             : "at >= '2024-01-03' AND at < '2024-01-13'";
  auto r = s.run_ok(args);
  CHECK(in_range(s, s.tgt(), "true") == in_range(s, s.src(), where));  // exactly the range, nothing else
  CHECK(r["rows_read"] == std::stoll(s.db().value("SELECT count(*) FROM " + s.src() + ".ev WHERE " + where)));
  CHECK(s.db().value("SELECT count(*) || '/' || count(*) FILTER (WHERE status = 'done') FROM " + s.state() +
                     ".backfill_chunks") == (strategy == "id" ? "8/8" : "10/10"));
  // The incremental watermark is untouched by a backfill.
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".pipeline_state") == "0");
}

TEST_CASE("backfill: a killed backfill resumes with the chunks not done and ends like an uninterrupted one",
          "[pg][backfill]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id", "    chunk: '100'\n"));
  const std::vector<std::string> args = {"ev", "--from", "1", "--to", "1001"};
  std::vector<std::string> run_args = {"run", "-c", s.config()};
  run_args.insert(run_args.end(), args.begin(), args.end());
  CliResult killed = tmtest::run_cli(run_args, {{"TIDEMARK_FAULT", "after_commit@3:kill"}});
  CHECK(killed.exit_code == 128 + 9);
  CHECK(s.db().count(s.tgt() + ".ev") == 300);
  CliResult st = tmtest::run_cli({"status", "-c", s.config()});
  CHECK_THAT(st.out, Catch::Contains("backfill [1, 1001): 3/10 chunks done") && Catch::Contains("rerun the same command"));
  auto js = tmtest::run_cli({"status", "-c", s.config(), "--json"}).json();
  CHECK(js[0]["backfills"][0]["chunks_done"] == 3);
  CHECK(js[0]["backfills"][0]["chunks"] == 10);
  auto r = s.run_ok(args);
  CHECK(r["rows_read"] == 700);  // only the chunks not done
  CHECK(s.same_content("ev", "ev", "id"));
  // --restart does every chunk again; the result is the same.
  auto again = s.run_ok({"ev", "--from", "1", "--to", "1001", "--restart"});
  CHECK(again["rows_read"] == 1000);
  CHECK(s.same_content("ev", "ev", "id"));
  // Another chunking of a range in progress is refused rather than mixed.
  s.db().exec("UPDATE " + s.state() + ".backfill_chunks SET status = 'pending' WHERE chunk_from = '901'");
  CliResult mixed = s.run({"ev", "--from", "1", "--to", "1001", "--chunk", "50"});
  CHECK(mixed.exit_code == 2);
  CHECK_THAT(mixed.err, Catch::Contains("with other chunks is in progress"));
}

TEST_CASE("backfill: rows deleted at the source inside the range disappear from the target, rows outside stay",
          "[pg][backfill]") {
  Scenario s;
  make_events(s);
  s.write_config(events("updated_at"));  // write: upsert for incremental runs
  s.run_ok();
  s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id IN (100, 200, 700); UPDATE " + s.src() +
              ".ev SET v = 'fixed' WHERE id BETWEEN 150 AND 160");
  auto r = s.run_ok({"ev", "--from", "2024-01-02", "--to", "2024-01-06", "--chunk", "1d"});
  CHECK(r["rows_deleted"].get<int64_t>() > 0);
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".ev WHERE id IN (100, 200)") == "0");
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".ev WHERE id = 700") == "1");  // outside the range
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".ev WHERE v = 'fixed'") == "11");
}

TEST_CASE("backfill: --dry-run lists the chunks and writes nothing", "[pg][backfill]") {
  Scenario s;
  make_events(s);
  s.write_config(events("updated_at"));
  CliResult r = s.run({"ev", "--from", "2024-01-01", "--to", "2024-01-04", "--chunk", "1d", "--dry-run"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("in 3 chunk(s) of 1d") &&
                        Catch::Contains("chunk [2024-01-03 00:00:00+00, 2024-01-04 00:00:00+00)"));
  CHECK(s.db().count(s.tgt() + ".ev") == 0);
}

TEST_CASE("backfill: a range value the cursor's type cannot read is a usage error naming it (exit 2)",
          "[pg][backfill]") {
  Scenario s;
  make_events(s);
  s.write_config(events("updated_at"));
  for (const auto& chunk : {std::vector<std::string>{}, std::vector<std::string>{"--chunk", "1d"}}) {
    std::vector<std::string> args = {"ev", "--from", "2024-13-45", "--to", "2024-02-01"};
    args.insert(args.end(), chunk.begin(), chunk.end());
    CliResult r = s.run(args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--from '2024-13-45' is not a valid timestamp with time zone for cursor at"));
  }
  // PostgreSQL's special input values work as range bounds.
  CHECK(s.run({"ev", "--from", "-infinity", "--to", "today"}).exit_code == 0);
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("backfill: two processes sharing one backfill, or --jobs 3, do every chunk exactly once",
          "[pg][backfill]") {
  auto mode = GENERATE(as<std::string>{}, "two processes", "--jobs 3");
  INFO(mode);
  Scenario s;
  make_events(s);
  s.write_config(events("id", "    chunk: '50'\n"));
  std::vector<std::string> args = {"run", "-c", s.config(), "ev", "--from", "1", "--to", "1001"};
  if (mode == "two processes") {
    tmtest::CliProcess a = tmtest::start_cli(args), b = tmtest::start_cli(args);
    CliResult ra = tmtest::finish(a), rb = tmtest::finish(b);
    INFO(ra.err << rb.err);
    CHECK(ra.exit_code == 0);
    CHECK(rb.exit_code == 0);
  } else {
    args.push_back("--jobs");
    args.push_back("3");
    CliResult r = tmtest::run_cli(args);
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  CHECK(s.same_content("ev", "ev", "id"));
  CHECK(s.db().value("SELECT count(*) FILTER (WHERE status = 'done') || '/' || count(*) FROM " + s.state() +
                     ".backfill_chunks") == "20/20");
  // Exactly once: one successful range run per chunk.
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE mode = 'range' AND status = 'succeeded'") == "20");
  CHECK(s.db().value("SELECT count(DISTINCT run_id) FROM " + s.state() + ".backfill_chunks") == "20");
}

TEST_CASE("backfill: an incremental run never runs beside a backfill chunk", "[pg][backfill][lock]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id", "    chunk: '500'\n"));
  s.run_ok();  // the incremental state exists
  tmtest::Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + s.tgt() + ".ev IN EXCLUSIVE MODE");  // the chunk will wait here, holding its shared lock
  tmtest::CliProcess chunk = tmtest::start_cli({"run", "-c", s.config(), "ev", "--from", "1", "--to", "1001"});
  s.wait_until_run_blocks();  // the chunk's load waits on our table lock, holding its shared lock
  CliResult incremental = s.run();
  CHECK(incremental.exit_code == 75);
  hold.commit();
  CHECK(tmtest::finish(chunk).exit_code == 0);
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("backfill: relative bounds like -7d are resolved once on the source's clock", "[pg][backfill]") {
  Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".ev (id bigserial PRIMARY KEY, at timestamptz NOT NULL, v text);"
              "CREATE TABLE " + s.tgt() + ".ev (id bigint PRIMARY KEY, at timestamptz NOT NULL, v text);"
              "INSERT INTO " + s.src() + ".ev (at, v) SELECT now() - g * interval '1 day', 'v' FROM generate_series(1, 20) g");
  s.write_config(events("updated_at"));
  auto r = s.run_ok({"ev", "--from", "-7d", "--to", "now", "--chunk", "1d"});
  CHECK(r["rows_read"] == 6);  // days 1..6 ago; 7 days ago lies just before the bound
  CHECK(s.db().count(s.tgt() + ".ev") == 6);
  auto plain = s.run_ok({"ev", "--from", "-10d", "--to", "now"});
  CHECK(plain["rows_read"] == 9);
}

TEST_CASE("backfill: a frozen worker's chunk is taken over once its lease runs out", "[pg][backfill]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id", "    chunk: '250'\n"));
  const std::vector<std::string> args = {"run", "-c", s.config(), "ev", "--from", "1", "--to", "1001", "--lease", "2s"};
  // Worker A claims the first chunk and freezes (SIGSTOP: its threads stop, its sessions stay
  // open on the server, as when a host hangs), so only its lease can free the chunk.
  tmtest::CliProcess a = tmtest::start_cli(args, {{"TIDEMARK_FAULT", "chunk_claimed:stop"}});
  auto running = [&s] {
    try {
      return s.db().value("SELECT count(*) FROM " + s.state() + ".backfill_chunks WHERE status = 'running'");
    } catch (const pqxx::sql_error&) {  // not made yet
      return std::string("0");
    }
  };
  for (int i = 0; i < 200 && running() != "1"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(s.db().value("SELECT worker FROM " + s.state() + ".backfill_chunks WHERE status = 'running'").find(
              ":" + std::to_string(a.pid)) != std::string::npos);
  CliResult b = tmtest::run_cli(args);
  INFO(b.err);
  CHECK(b.exit_code == 0);
  CHECK(b.err.find("taken over from worker") != std::string::npos);
  kill(a.pid, SIGKILL);
  tmtest::finish(a);
  CHECK(s.same_content("ev", "ev", "id"));
  CHECK(s.db().value("SELECT string_agg(chunk_from || ':' || status || ':' || attempts, ',' ORDER BY seq) FROM " + s.state() +
                     ".backfill_chunks") == "1:done:2,251:done:1,501:done:1,751:done:1");
}

TEST_CASE("backfill: --advance-watermark moves the watermark to the range's end, and the incremental run goes on from there",
          "[pg][backfill][advance]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id"));
  s.run_ok({"ev", "--from", "1", "--to", "601", "--chunk", "200", "--advance-watermark"});
  CHECK(s.db().value("SELECT watermark->'safe' FROM " + s.state() + ".pipeline_state") == "[\"600\"]");
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE mode = 'advance' AND status = 'succeeded'") == "1");
  auto r = s.run_ok();  // reads only what the backfill did not cover
  CHECK(r["rows_read"] == 400);
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("backfill: --advance-watermark never skips rows below --from that the incremental run has not loaded",
          "[pg][backfill][advance]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id", "    batch_size: 100\n"));
  // A first run killed after its first batch: safe is 100.
  CHECK(s.run({}, {{"TIDEMARK_FAULT", "before_commit@2:kill"}}).exit_code != 0);
  REQUIRE(s.db().value("SELECT watermark->'safe' FROM " + s.state() + ".pipeline_state") == "[\"100\"]");
  CliResult r = s.run({"ev", "--from", "301", "--to", "601", "--advance-watermark"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("rows between the watermark's safe mark 100 and --from 301 were never loaded") != std::string::npos);
  CHECK(s.db().value("SELECT watermark->'safe' FROM " + s.state() + ".pipeline_state") == "[\"100\"]");
  s.run_ok();
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("backfill: --advance-watermark leaves the watermark when a transaction open at the start could still write below --to",
          "[pg][backfill][advance]") {
  Scenario s;
  make_events(s);
  s.write_config(events("id"));
  // A writer took id 1001 before the backfill began and commits only after it read its chunks.
  tmtest::Db writer;
  pqxx::work slow(writer.conn());
  slow.exec("INSERT INTO " + s.src() + ".ev (at, v) VALUES (now(), 'slow')");
  s.db().exec("INSERT INTO " + s.src() + ".ev (at, v) SELECT now(), 'later' FROM generate_series(1, 10)");
  CliResult r = s.run({"ev", "--from", "1", "--to", "1011", "--chunk", "500", "--advance-watermark"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("transaction(s) open when the backfill began could still write rows below --to") != std::string::npos);
  slow.commit();
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".pipeline_state") == "0");
  s.run_ok();  // the slow writer's row 1001 is loaded, not skipped
  CHECK(s.same_content("ev", "ev", "id"));
}
