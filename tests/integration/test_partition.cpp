// Write mode partition_overwrite against a real server: the windows a delta touches are
// replaced whole (source deletions inside them included), every other window is left
// untouched down to the row versions, and partitions that are exactly one window are
// swapped out by TRUNCATE.
#include <catch2/catch.hpp>

#include <string>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// 10 days x 100 events, all with updated_at in the past.
void seed_events(Scenario& s, const std::string& target_ddl) {
  s.db().exec(sub("CREATE TABLE SRC.events (id bigserial PRIMARY KEY, event_date date NOT NULL, region text,"
                  " payload text, updated_at timestamptz NOT NULL DEFAULT now());"
                  "INSERT INTO SRC.events (event_date, region, payload, updated_at)"
                  " SELECT date '2024-01-01' + (g % 10), (ARRAY['EU', 'US', 'APAC'])[1 + g % 3], 'p' || g,"
                  " timestamptz '2024-02-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 1000) g;" +
                      target_ddl,
                  s));
}

std::string pipeline(const std::string& partition_by, const std::string& strategy = "updated_at",
                     const std::string& source = "table: SRC.events") {
  return "  - name: events\n    source: {connection: db, " + source + "}\n"
         "    detect: {strategy: " + strategy + ", cursor: " + (strategy == "id" ? "id" : "updated_at") + "}\n"
         "    target: {connection: db, table: TGT.events, key: [id], write: partition_overwrite,\n"
         "             partition_by: " + partition_by + "}\n";
}

// The row versions of a window: equal before and after only if no row of it was rewritten.
std::string versions(Scenario& s, const std::string& where) {
  return s.db().value(sub("SELECT md5(string_agg(tableoid::regclass::text || ctid::text || xmin::text, ',' ORDER BY id))"
                          " FROM TGT.events WHERE " + where, s));
}

std::string window_rows(Scenario& s, const std::string& schema, const std::string& where) {
  return s.db().value("SELECT md5(coalesce(string_agg(e::text, ',' ORDER BY id), '')) FROM " + schema +
                      ".events e WHERE " + where);
}

bool same_window(Scenario& s, const std::string& where) {
  const std::string a = window_rows(s, s.src(), where), b = window_rows(s, s.tgt(), where);
  INFO("window " << where << ": source " << a << " target " << b);
  CHECK(a == b);
  return a == b;
}

const char* kPlainTarget =
    "CREATE TABLE TGT.events (id bigint PRIMARY KEY, event_date date NOT NULL, region text, payload text,"
    " updated_at timestamptz NOT NULL);";

}  // namespace

TEST_CASE("partition_overwrite: touched day windows are replaced exactly, source deletions included; untouched "
          "windows keep their row versions",
          "[pg][partition]") {
  Scenario s;
  seed_events(s, kPlainTarget);
  s.write_config(pipeline("{column: event_date, granularity: day}"));
  s.run_ok();
  REQUIRE(s.same_content("events", "events", "id"));
  const std::string day5 = versions(s, "event_date = '2024-01-05'");
  const std::string day8 = versions(s, "event_date = '2024-01-08'");

  // Day 2: rows deleted and one updated (which touches the window). Day 3: a new row. Day 8:
  // a row deleted and nothing else, so no delta row touches it. Row 6 moves from day 7 to 2.
  s.db().exec(sub("DELETE FROM SRC.events WHERE event_date = '2024-01-02' AND id IN (11, 21, 31);"
                  "UPDATE SRC.events SET payload = 'changed', updated_at = now() WHERE id = 41;"
                  "INSERT INTO SRC.events (event_date, payload) VALUES ('2024-01-03', 'new');"
                  "DELETE FROM SRC.events WHERE id = 17;"
                  "UPDATE SRC.events SET event_date = '2024-01-02', updated_at = now() WHERE id = 6;",
                  s));
  auto r = s.run_ok();
  CHECK(r["rows_read"].get<int64_t>() >= 198);  // days 2 (98 rows) and 3 (101), at least once
  for (const char* day : {"2024-01-02", "2024-01-03"}) same_window(s, std::string("event_date = '") + day + "'");
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.events WHERE id IN (11, 21, 31)", s)) == "0");
  CHECK(s.db().value(sub("SELECT event_date FROM TGT.events WHERE id = 6", s)) == "2024-01-02");  // moved, not copied
  CHECK(versions(s, "event_date = '2024-01-05'") == day5);
  CHECK(versions(s, "event_date = '2024-01-08'") == day8);
  // The deletion in day 8 touched no window: it stays until that window is touched again.
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.events WHERE id = 17", s)) == "1");
  s.db().exec(sub("UPDATE SRC.events SET updated_at = now() WHERE id = 27", s));  // day 8 touched
  s.run_ok();
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.events WHERE id = 17", s)) == "0");
  CHECK(s.same_content("events", "events", "id"));
}

TEST_CASE("partition_overwrite: a source that may repeat a key goes through the staging table, with the same result",
          "[pg][partition]") {
  Scenario s;
  seed_events(s, kPlainTarget);
  // A query source promises no unique key, so rows are deduplicated in the stage.
  s.write_config(pipeline("{column: event_date, granularity: day}", "updated_at",
                          "query: \"SELECT * FROM SRC.events\""));
  s.run_ok();
  const std::string day5 = versions(s, "event_date = '2024-01-05'");
  s.db().exec(sub("DELETE FROM SRC.events WHERE id IN (11, 21); UPDATE SRC.events SET payload = 'x', updated_at = now()"
                  " WHERE id = 31; UPDATE SRC.events SET event_date = '2024-01-02', updated_at = now() WHERE id = 6;",
                  s));
  CliResult r = s.run({"-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("loading through the staging table"));
  CHECK(s.same_content("events", "events", "id"));
  CHECK(versions(s, "event_date = '2024-01-05'") == day5);
}

TEST_CASE("partition_overwrite: partitions that are exactly one window are replaced by TRUNCATE, others by DELETE",
          "[pg][partition]") {
  Scenario s;
  std::string ddl =
      "CREATE TABLE TGT.events (id bigint NOT NULL, event_date date NOT NULL, region text, payload text,"
      " updated_at timestamptz NOT NULL, PRIMARY KEY (id, event_date)) PARTITION BY RANGE (event_date);";
  for (int d = 1; d <= 8; ++d)
    ddl += "CREATE TABLE TGT.events_d" + std::to_string(d) + " PARTITION OF TGT.events FOR VALUES FROM ('2024-01-0" +
           std::to_string(d) + "') TO ('2024-01-0" + std::to_string(d + 1) + "');";
  ddl += "CREATE TABLE TGT.events_rest PARTITION OF TGT.events FOR VALUES FROM ('2024-01-09') TO ('2024-02-01');";
  seed_events(s, ddl);
  s.write_config(pipeline("{column: event_date, granularity: day}"));
  s.run_ok();
  REQUIRE(s.same_content("events", "events", "id"));
  auto filenode = [&](const std::string& part) {
    return s.db().value("SELECT pg_relation_filenode('" + s.tgt() + "." + part + "')");
  };
  const std::string d2 = filenode("events_d2"), d4 = filenode("events_d4"), rest = filenode("events_rest");
  const std::string day4 = versions(s, "event_date = '2024-01-04'");

  s.db().exec(sub("DELETE FROM SRC.events WHERE id IN (11, 21, 19);"  // days 2, 2 and 10
                  "UPDATE SRC.events SET payload = 'changed', updated_at = now() WHERE id IN (31, 29);",
                  s));
  CliResult r = s.run({"-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("1 window(s) replaced by TRUNCATE of their partitions, 1 by DELETE"));
  CHECK_THAT(r.err, Catch::Contains("loading directly into the target"));  // no staging table
  CHECK(filenode("events_d2") != d2);  // truncated: a new relation file
  CHECK(filenode("events_d4") == d4);
  CHECK(filenode("events_rest") == rest);  // two windows wide: rows deleted, never truncated
  CHECK(versions(s, "event_date = '2024-01-04'") == day4);
  CHECK(s.same_content("events", "events", "id"));

  // Idempotent: rerunning the windows of a range (days 1 and 2) gives the same partitions.
  const std::vector<std::string> range = {"events", "--from", "2024-02-01 00:00:40+00", "--to", "2024-02-01 00:00:42+00"};
  REQUIRE(s.run(range).exit_code == 0);
  const std::string once = window_rows(s, s.tgt(), "true"), d2_once = filenode("events_d2");
  REQUIRE(s.run(range).exit_code == 0);
  CHECK(window_rows(s, s.tgt(), "true") == once);
  CHECK(filenode("events_d2") != d2_once);
  CHECK(s.same_content("events", "events", "id"));
}

TEST_CASE("partition_overwrite: value windows on a list-partitioned target, and --from/--to replaces the windows the "
          "range touches",
          "[pg][partition][range]") {
  Scenario s;
  seed_events(s,
              "CREATE TABLE TGT.events (id bigint NOT NULL, event_date date NOT NULL, region text, payload text,"
              " updated_at timestamptz NOT NULL) PARTITION BY LIST (region);"
              "CREATE TABLE TGT.events_eu PARTITION OF TGT.events FOR VALUES IN ('EU');"
              "CREATE TABLE TGT.events_us PARTITION OF TGT.events FOR VALUES IN ('US');"
              "CREATE TABLE TGT.events_other PARTITION OF TGT.events DEFAULT;");
  s.write_config(pipeline("{column: region, granularity: value}", "id"));
  s.run_ok();
  REQUIRE(s.same_content("events", "events", "id"));
  const std::string us = versions(s, "region = 'US'");

  // Rows of region EU (ids = 0 mod 3) deleted and changed without moving the cursor; a range
  // run over ids 299 (APAC) and 300 (EU) replaces those two windows whole.
  s.db().exec(sub("DELETE FROM SRC.events WHERE id IN (3, 600, 999); UPDATE SRC.events SET payload = 'fixed' WHERE id = 6",
                  s));
  CliResult r = s.run({"events", "--from", "299", "--to", "301", "-v"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("replaced by TRUNCATE of their partitions"));
  CHECK_THAT(r.err, Catch::Contains("1 by DELETE"));  // APAC lives in the DEFAULT partition
  same_window(s, "region = 'EU'");
  same_window(s, "region = 'APAC'");
  CHECK(versions(s, "region = 'US'") == us);
  CHECK(s.same_content("events", "events", "id"));
  const std::string eu = window_rows(s, s.tgt(), "true");
  CHECK(s.run({"events", "--from", "299", "--to", "301"}).exit_code == 0);
  CHECK(window_rows(s, s.tgt(), "true") == eu);
}

TEST_CASE("partition_overwrite: a month window of a timestamptz column follows the configured time zone",
          "[pg][partition]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, payload text);"
                  "CREATE TABLE TGT.events (id bigint PRIMARY KEY, at timestamptz NOT NULL, payload text);"
                  // 2024-01-31 23:30 UTC is already February in Berlin.
                  "INSERT INTO SRC.events (at, payload) VALUES ('2024-01-31 23:30:00+00', 'feb in berlin'),"
                  " ('2024-01-15 12:00:00+00', 'jan'), ('2024-02-10 12:00:00+00', 'feb');",
                  s));
  s.write_config("  - name: events\n    source: {connection: db, table: SRC.events}\n"
                 "    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.events, key: [id], write: partition_overwrite,\n"
                 "             partition_by: {column: at, granularity: month, time_zone: Europe/Berlin}}\n");
  s.run_ok();
  s.db().exec(sub("DELETE FROM SRC.events WHERE payload IN ('feb', 'feb in berlin'); INSERT INTO SRC.events (at, payload) VALUES "
                  "('2024-02-20 00:00:00+00', 'feb 2')",
                  s));
  s.run_ok();
  // February in Berlin was replaced whole, with the row from late January UTC; in UTC that
  // row's window (January) would not have been touched and the row would have stayed.
  CHECK(s.db().value(sub("SELECT string_agg(payload, ',' ORDER BY id) FROM TGT.events", s)) == "jan,feb 2");
}

TEST_CASE("orchestrator recipes: the interval strings Airflow and Dagster render drive --from/--to, and --json "
          "carries what the recipes read",
          "[pg][partition][orchestrators]") {
  Scenario s;
  s.db().exec(sub("CREATE TABLE SRC.daily (id bigserial PRIMARY KEY, event_date date NOT NULL, v text);"
                  "CREATE TABLE TGT.daily (id bigint NOT NULL, event_date date NOT NULL, v text, PRIMARY KEY (id, event_date))"
                  " PARTITION BY RANGE (event_date);"
                  "CREATE TABLE TGT.daily_0101 PARTITION OF TGT.daily FOR VALUES FROM ('2024-01-01') TO ('2024-01-02');"
                  "CREATE TABLE TGT.daily_0102 PARTITION OF TGT.daily FOR VALUES FROM ('2024-01-02') TO ('2024-01-03');"
                  "INSERT INTO SRC.daily (event_date, v) SELECT date '2024-01-01' + g % 2, 'v' || g FROM generate_series(1, 100) g;",
                  s));
  // The docs' Dagster asset: event_date is both the cursor and the partition column.
  s.write_config("  - name: daily\n    source: {connection: db, table: SRC.daily}\n"
                 "    detect: {strategy: updated_at, cursor: event_date}\n"
                 "    target: {connection: db, table: TGT.daily, key: [id], write: partition_overwrite,\n"
                 "             partition_by: {column: event_date, granularity: day}}\n");
  s.db().exec(sub("DELETE FROM SRC.daily WHERE id IN (2, 4)", s));  // both on 2024-01-01
  // `{{ data_interval_start }}` in Airflow and `window.start.isoformat()` in Dagster.
  auto r = s.run_ok({"daily", "--from", "2024-01-01T00:00:00+00:00", "--to", "2024-01-02T00:00:00+00:00", "-v"});
  CHECK(r["status"] == "succeeded");
  CHECK(r["rows_read"] == 48);
  for (const char* key : {"rows_written", "rows_deleted", "seconds", "watermark_before", "watermark_after", "run_id"})
    CHECK(r.contains(key));
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.daily_0101", s)) == "48");
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.daily_0102", s)) == "0");  // outside the interval
  // A retried task (Airflow's retries) gives the same partition.
  const std::string once = s.db().value(sub("SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM TGT.daily d", s));
  s.run_ok({"daily", "--from", "2024-01-01T00:00:00+00:00", "--to", "2024-01-02T00:00:00+00:00"});
  CHECK(s.db().value(sub("SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM TGT.daily d", s)) == once);
}
