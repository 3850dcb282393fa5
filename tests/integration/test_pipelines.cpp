// Every strategy x write mode against a real server: target compared to source by content.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Db;
using tmtest::Scenario;
using tmtest::sub;

namespace {

const char* kItemsDdl =
    "CREATE TABLE SRC.items (id bigserial PRIMARY KEY, name text, amount numeric(12,2),"
    " updated_at timestamptz NOT NULL DEFAULT now(), note text);"
    "CREATE TABLE TGT.items (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
    " updated_at timestamptz NOT NULL, note text);";

// 1000 rows; 50 distinct timestamps so many rows share each (ties at every boundary); notes
// with tabs, newlines, backslashes, quotes, unicode, empty strings and NULLs.
void seed_items(Scenario& s, int n = 1000) {
  s.db().exec(sub(kItemsDdl, s));
  s.db().exec(sub("INSERT INTO SRC.items (name, amount, updated_at, note) SELECT 'item ' || g, (g * 1.25)::numeric(12,2),"
                  " timestamptz '2024-01-01 00:00:00+00' + (g % 50) * interval '1 minute',"
                  " CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN E'tab\\there' WHEN 2 THEN E'line1\\nline2\\\\back' "
                  " WHEN 3 THEN 'quote''s \"dq\"' WHEN 4 THEN 'ünïcødé ✓' ELSE '' END"
                  " FROM generate_series(1, " + std::to_string(n) + ") g",
                  s));
}

std::string pipeline(const std::string& strategy, const std::string& write, const std::string& detect_extra = "",
                     const std::string& name = "items") {
  std::string cursor = strategy == "id" ? "id" : strategy == "updated_at" ? "updated_at" : "";
  std::string y = "  - name: " + name + "\n    source:\n      connection: db\n      table: SRC.items\n"
                  "    detect:\n      strategy: " + strategy + "\n";
  if (!cursor.empty()) y += "      cursor: " + cursor + "\n";
  y += detect_extra;
  y += "    target:\n      connection: db\n      table: TGT.items\n      key: [id]\n      write: " + write + "\n";
  return y;
}

bool same_items(Scenario& s) { return s.same_content("items", "items", "id"); }

}  // namespace

TEST_CASE("every strategy and write mode: the first run copies everything, a rerun writes nothing, new rows arrive",
          "[pg][matrix]") {
  auto combo = GENERATE(values<std::pair<std::string, std::string>>({{"id", "upsert"},
                                                                     {"id", "delete_insert"},
                                                                     {"id", "append"},
                                                                     {"updated_at", "upsert"},
                                                                     {"updated_at", "delete_insert"},
                                                                     {"updated_at", "append"},
                                                                     {"full", "full_refresh"}}));
  INFO("strategy " << combo.first << ", write " << combo.second);
  Scenario s;
  seed_items(s);
  s.write_config(pipeline(combo.first, combo.second));

  auto first = s.run_ok();
  CHECK(first["rows_read"] == 1000);
  CHECK(first["rows_written"] == 1000);
  CHECK(same_items(s));

  auto second = s.run_ok();
  if (combo.first != "full") {
    CHECK(second["rows_read"] == 0);
    CHECK(second["rows_written"] == 0);
  }
  CHECK(same_items(s));

  s.db().exec(sub("INSERT INTO SRC.items (name, amount, note) SELECT 'new ' || g, g, E'x\\ty' FROM generate_series(1, 25) g", s));
  auto third = s.run_ok();
  if (combo.first != "full") CHECK(third["rows_read"] == 25);
  CHECK(third["rows_written"] == 25 + (combo.first == "full" ? 1000 : 0));
  CHECK(same_items(s));
  CHECK(s.db().value("SELECT status FROM " + s.state() + ".runs ORDER BY run_id DESC LIMIT 1") == "succeeded");
}

TEST_CASE("updated_at: changed rows arrive, for upsert and delete_insert", "[pg][updated_at]") {
  auto write = GENERATE(as<std::string>{}, "upsert", "delete_insert");
  INFO("write " << write);
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", write));
  s.run_ok();
  s.db().exec(sub("UPDATE SRC.items SET name = name || ' (changed)', updated_at = now() WHERE id % 100 = 7", s));
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 10);
  CHECK(r["rows_written"] == 10);
  CHECK(same_items(s));
}

TEST_CASE("updated_at: rows tied with the watermark timestamp are not lost", "[pg][updated_at]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert"));
  s.run_ok();
  // The watermark is (max updated_at, largest id at it). New rows carrying exactly that
  // timestamp must still be read: a plain `updated_at > watermark` would skip them.
  std::string max_ts = s.db().value(sub("SELECT max(updated_at) FROM SRC.items", s));
  s.db().exec(sub("INSERT INTO SRC.items (name, amount, updated_at) SELECT 'tie ' || g, 1, '" + max_ts +
                  "' FROM generate_series(1, 5) g", s));
  CHECK(s.db().value(sub("SELECT count(*) FROM SRC.items WHERE updated_at > '" + max_ts + "'", s)) == "0");
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 5);
  CHECK(same_items(s));
}

TEST_CASE("updated_at: a lookback window re-reads late application timestamps, which are lost without it",
          "[pg][updated_at]") {
  Scenario s;
  seed_items(s);
  s.db().exec(sub("CREATE TABLE TGT.items_nolookback (LIKE TGT.items INCLUDING ALL)", s));
  std::string a = pipeline("updated_at", "upsert", "      lookback: 10m\n", "with_lookback");
  std::string b = pipeline("updated_at", "upsert", "", "without_lookback");
  b.replace(b.find("TGT.items"), 9, "TGT.items_nolookback");
  s.write_config(a + b);
  s.run_ok();
  // An application writes a row stamped 5 minutes before the watermark (clock skew, or a
  // timestamp taken long before commit).
  s.db().exec(sub("INSERT INTO SRC.items (name, amount, updated_at) SELECT 'late', 1, max(updated_at) - interval '5 minutes'"
                  " FROM SRC.items", s));
  CliResult r = s.run({"--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(same_items(s));
  CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".items_nolookback WHERE name = 'late'") == "0");
  auto runs = r.json();
  CHECK(runs[0]["rows_written"] == 1);
  CHECK(runs[1]["rows_written"] == 0);
}

TEST_CASE("append never rewrites a row the target already has", "[pg][append]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "append"));
  s.run_ok();
  s.db().exec(sub("UPDATE SRC.items SET name = 'changed', updated_at = now() WHERE id = 3", s));
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 1);
  CHECK(r["rows_written"] == 0);
  CHECK(s.db().value(sub("SELECT name FROM TGT.items WHERE id = 3", s)) == "item 3");
}

TEST_CASE("full: rows deleted or changed at the source are deleted or changed in the target", "[pg][full]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("full", "full_refresh"));
  s.run_ok();
  s.db().exec(sub("DELETE FROM SRC.items WHERE id % 3 = 0; UPDATE SRC.items SET amount = -1 WHERE id % 7 = 0", s));
  auto r = s.run_ok();
  CHECK(r["rows_deleted"] == 1000);
  CHECK(same_items(s));
}

TEST_CASE("a failure between staging and commit leaves data and state untouched, and the next run converges",
          "[pg][faults]") {
  auto point = GENERATE(as<std::string>{}, "after_snapshot", "after_stage", "after_apply", "before_commit");
  auto write = GENERATE(as<std::string>{}, "upsert", "delete_insert", "append");
  INFO("fault at " << point << ", write " << write);
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", write));
  s.run_ok();
  const std::string wm = s.state_json("items");
  const int64_t version = s.state_version("items");
  s.db().exec(sub("UPDATE SRC.items SET name = 'v2', updated_at = now() WHERE id <= 50;"
                  "INSERT INTO SRC.items (name, amount) SELECT 'more', 2 FROM generate_series(1, 50)", s));
  const std::string target_before = s.db().fingerprint(s.tgt() + ".items", "id");

  CliResult r = s.run({}, {{"TIDEMARK_FAULT", point}});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("injected fault at " + point));
  CHECK(s.db().fingerprint(s.tgt() + ".items", "id") == target_before);
  CHECK(s.state_json("items") == wm);
  CHECK(s.state_version("items") == version);
  CHECK(s.db().value("SELECT status FROM " + s.state() + ".runs ORDER BY run_id DESC LIMIT 1") == "failed");

  auto ok = s.run_ok();
  if (write != "append") CHECK(same_items(s));
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items", s)) == "1050");
  CHECK(ok["rows_read"] == 100);
}

TEST_CASE("a run killed before commit changes nothing and the next run marks it abandoned", "[pg][faults]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("id", "upsert"));
  CliResult killed = s.run({}, {{"TIDEMARK_FAULT", "before_commit:kill"}});
  CHECK(killed.exit_code == 128 + 9);
  CHECK(s.db().count(s.tgt() + ".items") == 0);
  CHECK(s.state_version("items") == 0);
  s.run_ok();
  CHECK(same_items(s));
  CHECK(s.db().value("SELECT string_agg(status, ',' ORDER BY run_id) FROM " + s.state() + ".runs") ==
        "abandoned,succeeded");
}

TEST_CASE("a crash right after the commit loses nothing: the rerun finds nothing to do", "[pg][faults]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert"));
  CliResult r = s.run({}, {{"TIDEMARK_FAULT", "after_commit:kill"}});
  CHECK(r.exit_code == 128 + 9);
  CHECK(same_items(s));
  auto again = s.run_ok();
  CHECK(again["rows_read"] == 0);
}

TEST_CASE("a second run of a pipeline that is running exits 75 and touches nothing", "[pg][lock]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert"));
  s.run_ok();  // creates the state schema
  s.db().exec(sub("UPDATE SRC.items SET name = 'blocked', updated_at = now() WHERE id = 1", s));

  // The first run blocks on a table lock the test holds, in the middle of its apply.
  Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec(sub("LOCK TABLE TGT.items IN EXCLUSIVE MODE", s));
  tmtest::CliProcess first = tmtest::start_cli({"run", "-c", s.config(), "--json"});
  s.wait_until_run_blocks();  // its load waits on our table lock, holding the pipeline lock
  CliResult second = s.run();
  CHECK(second.exit_code == 75);
  CHECK_THAT(second.err, Catch::Contains("already running"));
  hold.commit();
  CliResult done = tmtest::finish(first);
  CHECK(done.exit_code == 0);
  CHECK(same_items(s));
}

TEST_CASE("in-flight safety: a row that commits after a later row was loaded is still loaded", "[pg][inflight]") {
  auto strategy = GENERATE(as<std::string>{}, "id", "updated_at");
  // The negative control: the classic max(cursor) watermark, run through the same scenario,
  // must lose the row, which proves the scenario can see a loss.
  auto naive = GENERATE(false, true);
  INFO("strategy " << strategy << (naive ? ", naive max(cursor) watermark" : ""));
  std::map<std::string, std::string> env;
  if (naive) env["TIDEMARK_NAIVE_WATERMARK"] = "1";
  Scenario s;
  seed_items(s, 100);
  s.write_config(pipeline(strategy, "upsert"));
  auto run_ok = [&] {
    CliResult r = s.run({"--json"}, env);
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r.json()[0];
  };
  run_ok();

  // A slow writer takes the next id (and now()) and stays open...
  Db slow;
  pqxx::work held(slow.conn());
  held.exec(sub("INSERT INTO SRC.items (name, amount, updated_at) VALUES ('slow', 1, now())", s));
  std::string slow_id = held.exec(sub("SELECT max(id) FROM SRC.items", s))[0][0].c_str();
  // ...while a fast writer takes a later id and commits at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s.db().exec(sub("INSERT INTO SRC.items (name, amount, updated_at) VALUES ('fast', 1, now())", s));

  auto r1 = run_ok();
  CHECK(r1["rows_read"] == 1);  // only 'fast' is visible
  std::string fast_id = s.db().value(sub("SELECT id FROM SRC.items WHERE name = 'fast'", s));
  CHECK(std::stoll(slow_id) < std::stoll(fast_id));

  held.commit();
  run_ok();
  const std::string slow_loaded = s.db().value(sub("SELECT count(*) FROM TGT.items WHERE name = 'slow'", s));
  if (naive) {
    CHECK(slow_loaded == "0");  // lost for good: the naive mark already passed it
    return;
  }
  CHECK(r1["watermark_after"]["pending"].is_object());
  CHECK(slow_loaded == "1");
  CHECK(same_items(s));
  // Once nothing is in flight any more, safe catches up with high (within a few runs: a
  // parallel test's transaction that began before our rows may still be open for a moment).
  bool caught_up = false;
  for (int i = 0; i < 10 && !caught_up; ++i) {
    auto r3 = run_ok();
    caught_up = r3["watermark_after"]["safe"] == r3["watermark_after"]["high"];
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(caught_up);
}

TEST_CASE("range runs (--from/--to) replace exactly the range with delete_insert and leave the watermark alone",
          "[pg][range]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("id", "delete_insert"));
  s.run_ok();
  const int64_t version = s.state_version("items");
  s.db().exec(sub("DELETE FROM SRC.items WHERE id IN (150, 250, 450); UPDATE SRC.items SET name = 'fixed' WHERE id BETWEEN 100 AND 299",
                  s));
  auto r = s.run_ok({"items", "--from", "100", "--to", "300"});
  CHECK(r["rows_read"] == 198);
  CHECK(r["rows_deleted"] == 200);
  CHECK(s.state_version("items") == version);
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE id IN (150, 250)", s)) == "0");
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE id = 450", s)) == "1");  // outside the range
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE name = 'fixed'", s)) == "198");
  // A range with no source rows left still replaces its range: it empties it.
  s.db().exec(sub("DELETE FROM SRC.items WHERE id >= 600 AND id < 700", s));
  r = s.run_ok({"items", "--from", "600", "--to", "700"});
  CHECK(r["rows_read"] == 0);
  CHECK(r["rows_deleted"] == 100);
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE id >= 600 AND id < 700", s)) == "0");
}

TEST_CASE("a full refresh (--full-refresh) reloads everything and restarts the watermark", "[pg][full_refresh]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert"));
  s.run_ok();
  s.db().exec(sub("DELETE FROM SRC.items WHERE id > 500", s));
  auto r = s.run_ok({"--full-refresh"});
  CHECK(r["rows_read"] == 500);
  CHECK(same_items(s));
  CHECK(s.run_ok()["rows_read"] == 0);
}

TEST_CASE("a dry run (--dry-run) prints the plan and writes nothing, not even the state schema", "[pg][dry_run]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert"));
  CliResult r = s.run({"--dry-run"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("COPY (SELECT") && Catch::Contains("ON CONFLICT (\"id\")"));
  CHECK(s.db().count(s.tgt() + ".items") == 0);
  CHECK(s.db().value("SELECT count(*) FROM pg_namespace WHERE nspname = '" + s.state() + "'") == "0");
}

TEST_CASE("a pipeline whose strategy changed refuses to reuse the old watermark", "[pg][state]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("id", "upsert"));
  s.run_ok();
  s.write_config(pipeline("updated_at", "upsert"));
  CliResult r = s.run();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("--full-refresh"));
  s.run_ok({"--full-refresh"});
  CHECK(s.run_ok()["rows_read"] == 0);
}

TEST_CASE("names with quotes, spaces and unicode are identifiers, and every value type round-trips exactly",
          "[pg][quoting]") {
  Scenario s;
  const std::string cols =
      "(\"Key\" bigint PRIMARY KEY, \"sp ace\" text, \"ünï\" text, \"; drop table x; --\" int,"
      " ts timestamptz, tsz timestamp, d date, n numeric, f float8, r real, j jsonb, arr int[], u uuid,"
      " iv interval, b bytea, bo boolean, tx text[])";
  s.db().exec(sub("CREATE TABLE SRC.\"we\"\"ird tåble\" " + cols + "; CREATE TABLE TGT.\"we\"\"ird tåble\" " + cols, s));
  s.db().exec(sub(
      "INSERT INTO SRC.\"we\"\"ird tåble\" VALUES"
      " (1, E'tab\\t nl\\n cr\\r bs\\\\ q'' dq\"', '✓ ünïcødé 漢字', 1, '2024-03-31 01:59:59.999999+00',"
      " '2024-10-27 02:30:00.000001', 'infinity', 123456789012345678901234567890.123456789, 1.0000000000000002,"
      " 3.4028235e38, '{\"a\": [1, 2.50, null], \"b\": \"x\\\\ny\"}', '{1,NULL,3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
      " '1 year 2 mons 3 days 04:05:06.789', '\\x00ff5c0a', true, '{\"a,b\",\"\",NULL}'),"
      " (2, '', NULL, NULL, '-infinity', '0001-01-01 00:00:00 BC', '2000-02-29', 'NaN', '-Infinity', 'NaN',"
      " 'null', '{}', NULL, '-178000000 years', '\\x', false, '{}'),"
      " (3, NULL, '', -2147483648, 'epoch', NULL, NULL, -0.000000000000000001, -0.0, 1e-45, '[]', NULL, NULL,"
      " NULL, NULL, NULL, NULL)",
      s));
  s.write_config("  - name: weird\n    source:\n      connection: db\n      table: 'SRC.\"we\"\"ird tåble\"'\n"
                 "    detect:\n      strategy: id\n      cursor: Key\n"
                 "    target:\n      connection: db\n      table: 'TGT.\"we\"\"ird tåble\"'\n      key: [Key]\n");
  auto r = s.run_ok();
  CHECK(r["rows_written"] == 3);
  CHECK(s.same_content("\"we\"\"ird tåble\"", "\"we\"\"ird tåble\"", "\"Key\""));
  CHECK(s.db().value(sub("SELECT count(*) FROM SRC.\"we\"\"ird tåble\" s JOIN TGT.\"we\"\"ird tåble\" t USING (\"Key\")"
                         " WHERE (s.*)::text IS DISTINCT FROM (t.*)::text", s)) == "0");
}

TEST_CASE("state in another database: data commits first, then state, and a crash between them is absorbed",
          "[pg][state]") {
  Scenario s;
  seed_items(s);
  const std::string dsn = tmtest::test_dsn();
  if (dsn.rfind("postgres", 0) == 0) {
    WARN("TIDEMARK_TEST_DSN is a URI; this test needs a key=value DSN to point at a second database");
    return;
  }
  const std::string other = "tm_state_db_" + s.state();
  s.db().exec("CREATE DATABASE " + other);
  struct Drop {
    Db& db;
    std::string name;
    ~Drop() {
      try {
        db.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      } catch (...) {
      }
    }
  } drop{s.db(), other};
  setenv("TM_STATE_DSN", (dsn + " dbname=" + other).c_str(), 1);
  const std::string top = "state:\n  connection: statedb\n  schema: STATE\n";
  std::string cfg_pipelines = pipeline("updated_at", "upsert");
  s.write_config(cfg_pipelines, top);
  // The connections block of write_config has db and db2; add the state database.
  {
    std::string path = s.config();
    std::string text;
    {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    text.insert(text.find("  db2:"), "  statedb: \"${TM_STATE_DSN}\"\n");
    std::ofstream(path) << text;
  }
  CliResult crash = s.run({}, {{"TIDEMARK_FAULT", "after_commit:kill"}});
  CHECK(crash.exit_code == 128 + 9);
  CHECK(same_items(s));  // the data committed...
  Db state_db(dsn + " dbname=" + other);
  CHECK(state_db.value("SELECT count(*) FROM " + s.state() + ".pipeline_state") == "0");  // ...the state did not
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 1000);  // re-read, absorbed by the idempotent upsert
  CHECK(r["rows_written"] == 0);
  CHECK(same_items(s));
  CHECK(state_db.value("SELECT count(*) FROM " + s.state() + ".pipeline_state") == "1");

  s.write_config(pipeline("updated_at", "append"), top);
  CliResult refused = tmtest::run_cli({"validate", "-c", s.config()});
  CHECK(refused.exit_code == 2);
}

TEST_CASE("one failing pipeline does not stop the others, and the exit status says a run failed", "[pg][runner]") {
  Scenario s;
  seed_items(s);
  std::string broken = pipeline("id", "upsert", "", "broken");
  broken.replace(broken.find("TGT.items"), 9, "TGT.does_not_exist");
  s.write_config(broken + pipeline("id", "upsert", "", "good"));
  CliResult r = s.run({"--json"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("does_not_exist") && Catch::Contains("does not exist"));
  auto j = r.json();
  CHECK(j[0]["status"] == "failed");
  CHECK(j[1]["status"] == "succeeded");
  CHECK(same_items(s));
}

TEST_CASE("status shows each pipeline's watermark and last run", "[pg][status]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("id", "upsert") + pipeline("updated_at", "upsert", "", "never_run"));
  s.run_ok({"items"});
  CliResult st = tmtest::run_cli({"status", "-c", s.config()});
  CHECK(st.exit_code == 0);
  CHECK_THAT(st.out, Catch::Contains("items") && Catch::Contains("1000") && Catch::Contains("succeeded") &&
                         Catch::Contains("never"));
  CliResult js = tmtest::run_cli({"status", "-c", s.config(), "--json"});
  auto j = js.json();
  CHECK(j[0]["watermark"]["high"][0] == "1000");
  CHECK(j[1]["last_run"].is_null());
}

TEST_CASE("batch_size: the delta commits in batches, ties across batch boundaries are kept", "[pg][batch]") {
  auto strategy = GENERATE(as<std::string>{}, "id", "updated_at");
  INFO("strategy " << strategy);
  Scenario s;
  seed_items(s);  // 20 rows share each timestamp, so batches of 7 split ties
  std::string y = pipeline(strategy, "upsert");
  s.write_config(y + "    batch_size: 7\n");
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 1000);
  CHECK(same_items(s));
  CHECK(s.state_version("items") == 1000 / 7 + 1);
  s.db().exec(sub("INSERT INTO SRC.items (name, amount) SELECT 'b', g FROM generate_series(1, 30) g", s));
  auto again = s.run_ok();
  CHECK(again["rows_read"] == 30);
  CHECK(same_items(s));
}

TEST_CASE("batch_size: a run killed after some batches resumes after the last committed batch", "[pg][batch]") {
  Scenario s;
  seed_items(s);
  s.write_config(pipeline("updated_at", "upsert") + "    batch_size: 100\n");
  CliResult killed = s.run({}, {{"TIDEMARK_FAULT", "after_commit@3:kill"}});
  CHECK(killed.exit_code == 128 + 9);
  CHECK(s.db().count(s.tgt() + ".items") == 300);
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 700);
  CHECK(same_items(s));
}

TEST_CASE("in-flight safety: a sequence value taken before the transaction has an xid is not skipped",
          "[pg][inflight]") {
  Scenario s;
  seed_items(s, 10);
  s.write_config(pipeline("id", "upsert"));
  s.run_ok();
  // nextval() assigns no transaction id: only pg_stat_activity shows this transaction.
  Db slow;
  pqxx::work held(slow.conn());
  std::string slow_id = held.exec(sub("SELECT nextval(pg_get_serial_sequence('SRC.items', 'id'))", s))[0][0].c_str();
  CHECK(held.exec("SELECT pg_current_xact_id_if_assigned() IS NULL")[0][0].as<bool>());
  s.db().exec(sub("INSERT INTO SRC.items (name, amount) VALUES ('fast', 1)", s));
  s.run_ok();
  held.exec(sub("INSERT INTO SRC.items (id, name, amount) VALUES (" + slow_id + ", 'slow', 1)", s));
  held.commit();
  s.run_ok();
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE name = 'slow'", s)) == "1");
  CHECK(same_items(s));
}

TEST_CASE("updated_at: microseconds, timestamp without time zone and the client's time zone never shift the watermark",
          "[pg][updated_at]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.ev (id int PRIMARY KEY, at timestamp NOT NULL, v text);"
                  "CREATE TABLE TGT.ev (id int PRIMARY KEY, at timestamp NOT NULL, v text);"
                  // around the 2024 US spring-forward gap, to the microsecond
                  "INSERT INTO SRC.ev VALUES (1, '2024-03-10 01:59:59.999998', 'a'), (2, '2024-03-10 02:30:00.000001', 'b')",
                  s));
  s.write_config("  - name: ev\n    source: {connection: db, table: SRC.ev}\n"
                 "    detect: {strategy: updated_at, cursor: at}\n    target: {connection: db, table: TGT.ev, key: [id]}\n");
  std::map<std::string, std::string> zone = {{"PGTZ", "America/New_York"}, {"TZ", "Asia/Tokyo"}};
  CliResult r1 = s.run({"--json"}, zone);
  REQUIRE(r1.exit_code == 0);
  CHECK(r1.json()[0]["watermark_after"]["high"][0] == "2024-03-10 02:30:00.000001");
  // One microsecond later is new; the same instant with a smaller key is not.
  s.db().exec(sub("INSERT INTO SRC.ev VALUES (3, '2024-03-10 02:30:00.000002', 'c'), (4, '2024-03-10 02:30:00.000001', 'd')", s));
  CliResult r2 = s.run({"--json"}, {{"PGTZ", "Pacific/Chatham"}, {"TZ", "UTC"}});
  REQUIRE(r2.exit_code == 0);
  CHECK(r2.json()[0]["rows_read"] == 2);
  CHECK(s.same_content("ev", "ev", "id"));
}

TEST_CASE("NULL cursors are counted and warned about, or loaded every run with null_cursor: include",
          "[pg][updated_at]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.n (id int PRIMARY KEY, at timestamptz, v text); CREATE INDEX ON SRC.n (at);"
                  "CREATE TABLE TGT.n (id int PRIMARY KEY, at timestamptz, v text);"
                  "CREATE TABLE TGT.n2 (id int PRIMARY KEY, at timestamptz, v text);"
                  "INSERT INTO SRC.n VALUES (1, '2024-01-01', 'a'), (2, NULL, 'b')",
                  s));
  s.write_config(
      "  - name: warn\n    source: {connection: db, table: SRC.n}\n"
      "    detect: {strategy: updated_at, cursor: at}\n    target: {connection: db, table: TGT.n, key: [id]}\n"
      "  - name: include\n    source: {connection: db, table: SRC.n}\n"
      "    detect: {strategy: updated_at, cursor: at, null_cursor: include}\n"
      "    target: {connection: db, table: TGT.n2, key: [id]}\n");
  REQUIRE(s.run().exit_code == 0);
  s.db().exec(sub("INSERT INTO SRC.n VALUES (3, NULL, 'c')", s));
  CliResult r = s.run();
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("2 source row(s) have a NULL at"));
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.n WHERE id = 3", s)) == "0");
  CHECK(s.same_content("n", "n2", "id"));
}

TEST_CASE("a query source that repeats a key keeps the newest row per key, and merges into existing target rows",
          "[pg][upsert]") {
  auto write = GENERATE(as<std::string>{}, "upsert", "delete_insert", "append");
  INFO("write " << write);
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.h (id int, at timestamptz NOT NULL, v text);"
                  "CREATE TABLE TGT.cur (id int PRIMARY KEY, at timestamptz NOT NULL, v text);"
                  "INSERT INTO SRC.h VALUES (1, '2024-01-01', 'old'), (1, '2024-01-03', 'newest'), (1, '2024-01-02', 'mid'),"
                  " (2, '2024-01-01', 'two');"
                  "INSERT INTO TGT.cur VALUES (3, '2023-01-01', 'kept'), (2, '2023-01-01', 'stale')",
                  s));
  s.write_config("  - name: cur\n    source:\n      connection: db\n      query: 'SELECT id, at, v FROM SRC.h'\n"
                 "    detect: {strategy: updated_at, cursor: at}\n"
                 "    target: {connection: db, table: TGT.cur, key: [id], write: " + write + "}\n");
  s.run_ok();
  CHECK(s.db().value(sub("SELECT v FROM TGT.cur WHERE id = 1", s)) == "newest");
  CHECK(s.db().value(sub("SELECT v FROM TGT.cur WHERE id = 3", s)) == "kept");
  CHECK(s.db().value(sub("SELECT v FROM TGT.cur WHERE id = 2", s)) == (write == "append" ? "stale" : "two"));
}

TEST_CASE("batch_size: a batch below the stored high never promotes the pending mark, even if the run then fails",
          "[pg][batch][inflight]") {
  Scenario s;
  seed_items(s, 10);
  s.write_config(pipeline("id", "upsert") + "    batch_size: 2\n");
  s.run_ok();
  s.db().exec(sub("INSERT INTO SRC.items (name, amount) SELECT 'early', g FROM generate_series(1, 3) g", s));
  Db slow;
  pqxx::work held(slow.conn());
  held.exec(sub("INSERT INTO SRC.items (name, amount) VALUES ('slow', 1)", s));
  s.db().exec(sub("INSERT INTO SRC.items (name, amount) VALUES ('fast', 1)", s));
  s.run_ok();  // reads early + fast; slow is in flight, so safe stays behind
  held.commit();
  CliResult failed = s.run({}, {{"TIDEMARK_FAULT", "before_commit@2"}});
  CHECK(failed.exit_code == 1);
  s.run_ok();
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.items WHERE name = 'slow'", s)) == "1");
  CHECK(same_items(s));
}

TEST_CASE("schema changes: target.create makes a missing target schema too, and says so only after it committed",
          "[pg][schema_change]") {
  tmtest::Scenario s;
  const std::string fresh = s.tgt() + " new";  // a schema that does not exist yet, with a name that needs quoting
  struct Drop {
    Db& db;
    std::string schema;
    ~Drop() {
      try {
        db.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
      } catch (...) {
      }
    }
  } drop{s.db(), fresh};
  s.db().exec("CREATE TABLE " + s.src() + ".o (id bigserial PRIMARY KEY, amount numeric(12,2) NOT NULL, "
              "updated_at timestamptz NOT NULL DEFAULT now());"
              "INSERT INTO " + s.src() + ".o (amount) SELECT g FROM generate_series(1, 50) g");
  s.write_config("  - name: o\n    source: {connection: db, table: SRC.o}\n    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: '\"" + fresh + "\".o', key: [id], create: true}\n");
  // A dry run only says what it would do.
  CliResult dry = s.run({"--dry-run"});
  CHECK_THAT(dry.err, Catch::Contains("would have created schema \"" + fresh + "\"") &&
                          !Catch::Contains("] created"));
  CHECK(s.db().value("SELECT count(*) FROM pg_namespace WHERE nspname = '" + fresh + "'") == "0");
  CliResult r = s.run();
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("created schema \"" + fresh + "\"") &&
                        Catch::Contains("created target table \"" + fresh + "\".o with the source's 3 column(s)"));
  CHECK(s.db().fingerprint(s.src() + ".o", "id") == s.db().fingerprint("\"" + fresh + "\".o", "id"));
  // The next run finds both and creates nothing.
  CliResult again = s.run();
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.err, !Catch::Contains("created"));
}

TEST_CASE("schema changes: a role that may not create the target's schema or table is told so, and nothing is created",
          "[pg][schema_change]") {
  tmtest::Scenario s;
  const std::string role = "tm_loader_" + s.src().substr(4);
  const std::string fresh = s.tgt() + "_new";
  struct Drop {
    Db& db;
    std::string role, schema;
    ~Drop() {
      try {
        db.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        db.exec("DROP OWNED BY " + role + "; DROP ROLE IF EXISTS " + role);
      } catch (...) {
      }
    }
  } drop{s.db(), role, fresh};
  s.db().exec("CREATE ROLE " + role + " NOLOGIN; GRANT USAGE ON SCHEMA " + s.src() + " TO " + role +
              "; CREATE TABLE " + s.src() + ".o (id int PRIMARY KEY, v text); INSERT INTO " + s.src() +
              ".o SELECT g, 'v' FROM generate_series(1, 10) g; GRANT SELECT ON " + s.src() + ".o TO " + role);
  // The target connection acts as the role (the same server, so no password is needed).
  const std::string dsn = tmtest::test_dsn();
  const std::string as_role = dsn.rfind("postgres", 0) == 0
                                  ? dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "options=-crole%3D" + role
                                  : dsn + " options='-crole=" + role + "'";
  std::ofstream(s.dir() + "/p.yaml") << "version: 1\nconnections:\n  src: \"${TIDEMARK_TEST_DSN}\"\n  dst: \"" << as_role
                                     << "\"\nstate:\n  file: " << s.dir() << "/p.state.json\npipelines:\n  - name: o\n"
                                     << "    source: {connection: src, table: " << s.src() << ".o}\n"
                                     << "    detect: {strategy: full}\n"
                                     << "    target: {connection: dst, table: " << fresh << ".o, key: [id], create: true}\n";
  CliResult no_schema = tmtest::run_cli({"run", "-c", s.dir() + "/p.yaml"});
  INFO(no_schema.err);
  CHECK(no_schema.exit_code == 1);
  CHECK_THAT(no_schema.err, Catch::Contains("schema " + fresh + " does not exist and role " + role +
                                            " may not create schemas") &&
                                Catch::Contains("nothing was created") && !Catch::Contains("created target table"));
  CHECK(s.db().value("SELECT count(*) FROM pg_namespace WHERE nspname = '" + fresh + "'") == "0");
  // The schema exists but the role may not create tables in it: the server's refusal, and nothing created.
  s.db().exec("CREATE SCHEMA " + fresh + "; GRANT USAGE ON SCHEMA " + fresh + " TO " + role);
  CliResult no_table = tmtest::run_cli({"run", "-c", s.dir() + "/p.yaml"});
  INFO(no_table.err);
  CHECK(no_table.exit_code == 1);
  CHECK_THAT(no_table.err, Catch::Contains("permission denied for schema " + fresh) &&
                               Catch::Contains("nothing was created or changed") && !Catch::Contains("created target table"));
  CHECK(s.db().value("SELECT count(*) FROM pg_tables WHERE schemaname = '" + fresh + "'") == "0");
  // Given CREATE on the schema, the same config creates the table and loads it.
  s.db().exec("GRANT CREATE ON SCHEMA " + fresh + " TO " + role);
  CliResult ok = tmtest::run_cli({"run", "-c", s.dir() + "/p.yaml"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(s.db().fingerprint(s.src() + ".o", "id") == s.db().fingerprint(fresh + ".o", "id"));
}

TEST_CASE("schema changes: target.create makes the table; a new source column fails, or is added or ignored",
          "[pg][schema_change]") {
  auto mode = GENERATE(as<std::string>{}, "fail", "append_new_columns", "ignore");
  INFO(mode);
  tmtest::Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".o (id bigserial PRIMARY KEY, amount numeric(12,2) NOT NULL, "
              "updated_at timestamptz NOT NULL DEFAULT now());"
              "INSERT INTO " + s.src() + ".o (amount) SELECT g FROM generate_series(1, 50) g");
  s.write_config("  - name: o\n    source: {connection: db, table: SRC.o}\n    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: TGT.o, key: [id], create: true, on_schema_change: " + mode + "}\n");
  s.run_ok();
  CHECK(s.same_content("o", "o", "id"));
  CHECK(s.db().value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '" + s.tgt() +
                     ".o'::regclass AND attname = 'amount'") == "numeric(12,2)");
  s.db().exec("ALTER TABLE " + s.src() + ".o ADD COLUMN note text; UPDATE " + s.src() +
              ".o SET note = 'n' || id, updated_at = now() WHERE id <= 10");
  tmtest::CliResult r = s.run();
  if (mode == "fail") {
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("lacks source column(s): note"));
  } else if (mode == "append_new_columns") {
    CHECK(r.exit_code == 0);
    CHECK(s.same_content("o", "o", "id"));
  } else {
    CHECK(r.exit_code == 0);
    CHECK(s.db().value("SELECT count(*) FROM information_schema.columns WHERE table_schema = '" + s.tgt() +
                       "' AND column_name = 'note'") == "0");
    CHECK(s.db().value("SELECT count(*) FROM " + s.tgt() + ".o") == "50");
  }
}
