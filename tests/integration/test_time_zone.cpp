// `timestamp without time zone` cursors hold wall-clock time in the writers' zone
// (docs/correctness.md#time-zones): the horizon, the in-flight bound and the DST rule,
// against the real server. The writers' zone is set per connection (options=-c TimeZone=…),
// never on the shared test database.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include "integration/harness.hpp"
#include "pg/pg.hpp"
#include "strategy/cursor.hpp"

using tmtest::CliResult;
using tmtest::Db;
using tmtest::Scenario;
using tmtest::sub;

namespace {

// The test DSN with a session default time zone, as ALTER ROLE/DATABASE … SET would give.
std::string dsn_in_zone(const std::string& zone) {
  const std::string dsn = tmtest::test_dsn();
  if (dsn.find("://") == std::string::npos) return dsn + " options='-c TimeZone=" + zone + "'";
  std::string enc;
  for (char c : zone) enc += c == '/' ? std::string("%2F") : std::string(1, c);
  return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "options=-c%20TimeZone%3D" + enc;
}

// A writer session in the zone of `dsn` (the harness's Db sets UTC; RESET restores the
// session default, as an application connecting with that DSN has it).
std::unique_ptr<Db> writer_in(const std::string& dsn, const std::string& zone) {
  auto db = std::make_unique<Db>(dsn);
  db->exec("RESET TimeZone");
  REQUIRE(db->value("SHOW TimeZone") == zone);
  return db;
}

const char* kDdl =
    "CREATE TABLE SRC.nt2 (id serial PRIMARY KEY, v text, upd timestamp NOT NULL DEFAULT now());"
    "CREATE TABLE TGT.nt2 (id integer PRIMARY KEY, v text, upd timestamp NOT NULL);";

std::string pipeline(const std::string& detect_extra = "") {
  return "  - name: nt2\n    source: {connection: db, table: SRC.nt2}\n"
         "    detect:\n      strategy: updated_at\n      cursor: upd\n" +
         detect_extra + "    target: {connection: db, table: TGT.nt2, key: [id], write: upsert}\n";
}

}  // namespace

TEST_CASE("time zones: a plain timestamp cursor written in Chicago wall time never moves safe past an open insert",
          "[pg][tz][inflight]") {
  // Where tidemark learns the writers' zone: the source session's default, or detect.time_zone
  // (with the source connection's own sessions in UTC).
  const bool from_config = GENERATE(false, true);
  INFO((from_config ? "detect.time_zone: America/Chicago" : "source session default America/Chicago"));
  const std::string chicago = dsn_in_zone("America/Chicago");
  Scenario s;
  s.db().exec(sub(kDdl, s));
  s.write_config(pipeline(from_config ? "      time_zone: America/Chicago\n" : ""));
  std::map<std::string, std::string> env;
  if (!from_config) env["TIDEMARK_TEST_DSN"] = chicago;
  auto run_ok = [&] {
    CliResult r = s.run({"--json"}, env);
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r.json()[0];
  };

  auto writer = writer_in(chicago, "America/Chicago");
  writer->exec(sub("INSERT INTO SRC.nt2 (v) VALUES ('seed')", s));
  // Until safe has caught up with high: another test's open transaction (ctest -j2) may hold
  // the safe mark back for a moment, and the run below would then re-read 'seed' too.
  for (int i = 0; i < 50; ++i) {
    const auto r = run_ok();
    if (r["watermark_after"]["safe"] == r["watermark_after"]["high"]) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  // Session A takes now() (Chicago wall time) and stays open...
  auto slow = writer_in(chicago, "America/Chicago");
  pqxx::work held(slow->conn());
  held.exec(sub("INSERT INTO SRC.nt2 (v) VALUES ('late')", s));
  const std::string late_upd = held.exec1(sub("SELECT upd::text FROM SRC.nt2 WHERE v = 'late'", s))[0].c_str();
  // ...while session B writes a later row and commits.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  writer->exec(sub("INSERT INTO SRC.nt2 (v) VALUES ('fast')", s));

  auto r1 = run_ok();
  CHECK(r1["rows_read"] == 1);  // only 'fast' is visible
  const auto& safe = r1["watermark_after"]["safe"];
  if (safe.is_array() && !safe.empty()) {
    INFO("safe " << safe.dump() << ", the open row's upd " << late_upd);
    CHECK(s.db().value("SELECT CAST('" + safe[0].get<std::string>() + "' AS timestamp) < CAST('" + late_upd +
                       "' AS timestamp)") == "t");
  }

  held.commit();
  run_ok();
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.nt2 WHERE v = 'late'", s)) == "1");
  CHECK(s.same_content("nt2", "nt2", "id"));
}

TEST_CASE("time zones: east of UTC the safe mark catches up with rows written in Tokyo wall time, no re-reads",
          "[pg][tz]") {
  const std::string tokyo = dsn_in_zone("Asia/Tokyo");
  Scenario s;
  s.db().exec(sub(kDdl, s));
  s.write_config(pipeline());
  const std::map<std::string, std::string> env{{"TIDEMARK_TEST_DSN", tokyo}};
  auto run_ok = [&] {
    CliResult r = s.run({"--json"}, env);
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    return r.json()[0];
  };
  auto writer = writer_in(tokyo, "Asia/Tokyo");
  writer->exec(sub("INSERT INTO SRC.nt2 (v) SELECT 'row ' || g FROM generate_series(1, 20) g", s));
  CHECK(run_ok()["rows_read"] == 20);
  // Safe reaches high once nothing that began before the rows is open (a parallel test's
  // transaction may be, for a moment); with a UTC horizon it stayed 9 hours behind for ever.
  bool caught_up = false;
  for (int i = 0; i < 10 && !caught_up; ++i) {
    auto r = run_ok();
    caught_up = r["watermark_after"]["safe"] == r["watermark_after"]["high"];
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  CHECK(caught_up);
  CHECK(run_ok()["rows_read"] == 0);  // nothing of the last 9 hours is read again
  CHECK(s.same_content("nt2", "nt2", "id"));
}

TEST_CASE("time zones: plan and advise name the zone assumed for a plain timestamp cursor and where it came from",
          "[pg][tz]") {
  Scenario s;
  s.db().exec(sub(kDdl, s));
  s.write_config(pipeline());
  const std::map<std::string, std::string> env{{"TIDEMARK_TEST_DSN", dsn_in_zone("America/Chicago")}};
  CliResult plan = tmtest::run_cli({"plan", "-c", s.config()}, env);
  INFO("stderr: " << plan.err);
  CHECK(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("time zone: America/Chicago (from the TimeZone of a fresh session of source "
                                       "connection 'db')"));
  CliResult advice = tmtest::run_cli({"advise", "-c", s.config()}, env);
  CHECK_THAT(advice.out, Catch::Contains("wall-clock time in America/Chicago (the TimeZone a fresh session"));

  s.write_config(pipeline("      time_zone: Asia/Tokyo\n"));
  CHECK_THAT(tmtest::run_cli({"plan", "-c", s.config()}, env).out,
             Catch::Contains("time zone: Asia/Tokyo (from detect.time_zone)"));
}

TEST_CASE("time zones: a detect.time_zone the server does not know stops the run with exit 2, naming it",
          "[pg][tz]") {
  Scenario s;
  s.db().exec(sub(kDdl, s));
  s.write_config(pipeline("      time_zone: Mars/Olympus_Mons\n"));
  CliResult r = s.run();
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("detect.time_zone 'Mars/Olympus_Mons' is not a time zone the source server knows"));
  CHECK(s.db().value(sub("SELECT count(*) FROM TGT.nt2", s)) == "0");
}

TEST_CASE("time zones: around a fall-back hour the horizon never lies in a local hour that is still to repeat",
          "[pg][tz][dst]") {
  // America/Chicago falls back on 2026-11-01 at 07:00 UTC (02:00 CDT -> 01:00 CST): local
  // 01:00-02:00 happens twice. The horizon is evaluated at fixed instants, not today's date.
  tidemark::pg::Connection c("src", tmtest::test_dsn(), "tidemark-test");
  tidemark::pg::Source src(c);
  const std::string type = "timestamp without time zone", zone = "America/Chicago";
  auto horizon_at = [&](const std::string& instant) {
    tidemark::Sql at("CAST(");
    at.value(instant).text(" AS timestamp with time zone)");
    tidemark::Sql q("SELECT (");
    q.append(tidemark::strategy::clock_horizon(at, type, zone)).text(")::text");
    return src.query_rows(q).at(0).at(0);
  };
  CHECK(horizon_at("2026-10-31 12:00:00+00") == "2026-10-31 06:59:59.999999");  // plain local time
  CHECK(horizon_at("2026-11-01 05:30:00+00") == "2026-10-31 23:29:59.999999");  // 00:30 CDT, held back 1 h
  CHECK(horizon_at("2026-11-01 06:30:00+00") == "2026-11-01 00:29:59.999999");  // 01:30 CDT: not into the hour
  CHECK(horizon_at("2026-11-01 07:30:00+00") == "2026-11-01 01:29:59.999999");  // 01:30 CST: the hour is over
  CHECK(horizon_at("2026-11-01 12:00:00+00") == "2026-11-01 05:59:59.999999");
  CHECK(horizon_at("2026-03-08 08:30:00+00") == "2026-03-08 03:29:59.999999");  // spring forward: monotone

  // The property, minute by minute across both transitions: no local reading at or after an
  // instant lies below that instant's horizon. A horizon of plain local time breaks it (the
  // negative control), which proves the check can see the repeated hour.
  auto violations = [&](const tidemark::Sql& horizon) {
    tidemark::Sql q("SELECT count(*)::text FROM generate_series(timestamptz '2026-11-01 02:00+00', "
                    "timestamptz '2026-11-01 11:00+00', interval '1 minute') AS s(t) WHERE (");
    q.append(horizon).text(") >= (SELECT min(u.t AT TIME ZONE ").value(zone).text(
        ") FROM generate_series(s.t, s.t + interval '4 hours', interval '1 minute') AS u(t))");
    return src.query_rows(q).at(0).at(0);
  };
  CHECK(violations(tidemark::strategy::clock_horizon(tidemark::Sql("s.t"), type, zone)) == "0");
  tidemark::Sql naive("(s.t AT TIME ZONE ");
  naive.value(zone).text(") - interval '1 microsecond'");
  CHECK(violations(naive) != "0");
}

TEST_CASE("time zones: an ambiguous or skipped local time is read as the later instant, for the in-flight bound",
          "[pg][tz][dst]") {
  tidemark::pg::Connection c("src", tmtest::test_dsn(), "tidemark-test");
  tidemark::pg::Source src(c);
  const std::string type = "timestamp without time zone", zone = "America/Chicago";
  auto epoch = [&](const std::string& utc) {
    return std::stoll(src.query_rows(tidemark::Sql("SELECT (extract(epoch FROM CAST(")
                                         .value(utc)
                                         .text(" AS timestamptz)) * 1000000)::bigint::text"))
                          .at(0)
                          .at(0));
  };
  // 01:30 on the fall-back day happens at 06:30 UTC (CDT) and 07:30 UTC (CST): the later one, so
  // every session whose now() read 01:30 either time began at or before it.
  CHECK(src.epoch_us("2026-11-01 01:30:00", type, zone) == epoch("2026-11-01 07:30:00+00"));
  // 02:30 on the spring-forward day never happens: read with the offset before the gap, which is
  // the instant after it (03:30 CDT).
  CHECK(src.epoch_us("2026-03-08 02:30:00", type, zone) == epoch("2026-03-08 08:30:00+00"));
  CHECK(src.epoch_us("2026-07-01 12:00:00", type, zone) == epoch("2026-07-01 17:00:00+00"));
  // A timestamptz cursor is an instant already.
  CHECK(src.epoch_us("2026-07-01 12:00:00+00", "timestamp with time zone", zone) == epoch("2026-07-01 12:00:00+00"));
}

TEST_CASE("time zones: a relative --from on a plain timestamp cursor counts back from the wall clock in its zone",
          "[pg][tz][range]") {
  const std::string chicago = dsn_in_zone("America/Chicago");
  Scenario s;
  s.db().exec(sub(kDdl, s));
  s.write_config(pipeline());
  auto writer = writer_in(chicago, "America/Chicago");
  // Chicago wall time 20 and 30 hours ago: inside and outside "the last day" there, while
  // 20 hours ago in Chicago is 26 (or 25) hours ago on a UTC wall clock.
  writer->exec(sub("INSERT INTO SRC.nt2 (v, upd) VALUES ('recent', localtimestamp - interval '20 hours'),"
                   " ('old', localtimestamp - interval '30 hours')", s));
  CliResult r = s.run({"nt2", "--from", "-1d", "--to", "2100-01-01"}, {{"TIDEMARK_TEST_DSN", chicago}});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(s.db().value(sub("SELECT string_agg(v, ',' ORDER BY id) FROM TGT.nt2", s)) == "recent");
}
