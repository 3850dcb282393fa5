// Write mode partition_overwrite, the pure part: window arithmetic, the whole-window source
// query, the statements, partition-bound parsing and matching, and its config rules.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/partition.hpp"
#include "tidemark/writer.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

PartitionBy by(const std::string& column, PartitionBy::Granularity g) {
  PartitionBy pb;
  pb.column = column;
  pb.granularity = g;
  return pb;
}

std::vector<std::string> texts(const std::vector<WriteStatement>& out) {
  std::vector<std::string> t;
  for (const auto& s : out) t.push_back(s.sql.display());
  return t;
}

}  // namespace

TEST_CASE("partition: day windows of a date column are computed from the delta's own rows", "[unit][partition]") {
  const Sql q = window_query(by("event_date", PartitionBy::Granularity::kDay), "date", Sql("SELECT 1"));
  CHECK(q.display() ==
        R"(SELECT CAST(CAST(w.l AS date) AS text), CAST(CAST((w.l + interval '1 day') AS date) AS text) FROM )"
        R"((SELECT DISTINCT date_trunc('day', CAST(d."event_date" AS timestamp)) AS l FROM (SELECT 1) AS d) AS w ORDER BY w.l)");
}

TEST_CASE("partition: month windows of a timestamptz column are calendar months in the configured zone",
          "[unit][partition]") {
  PartitionBy pb = by("at", PartitionBy::Granularity::kMonth);
  pb.time_zone = "Europe/Berlin";
  const Sql q = window_query(pb, "timestamp with time zone", Sql("SELECT 1"));
  CHECK_THAT(q.display(), Contains(R"(date_trunc('month', (d."at" AT TIME ZONE 'Europe/Berlin')))"));
  CHECK_THAT(q.display(), Contains(R"(((w.l + interval '1 month') AT TIME ZONE 'Europe/Berlin'))"));
  // The zone is a bound value, never spliced into the text.
  CHECK(q.values().size() == 3);
}

TEST_CASE("partition: value windows are the column's distinct values, NULL included", "[unit][partition]") {
  const Sql q = window_query(by("region", PartitionBy::Granularity::kValue), "text", Sql("SELECT 1"));
  CHECK(q.display() == R"(SELECT DISTINCT CAST(d."region" AS text), CAST(NULL AS text) FROM (SELECT 1) AS d)");
  const Windows w = windows_from_rows({{std::string("EU"), std::nullopt}, {std::nullopt, std::nullopt}});
  CHECK(w.lo == std::vector<std::string>{"EU"});
  CHECK(w.null_window);
  CHECK(w.size() == 2);
}

TEST_CASE("partition: day granularity on a non-time column is refused with the fix", "[unit][partition]") {
  CHECK_FALSE(partition_type_problem(by("d", PartitionBy::Granularity::kDay), "date"));
  CHECK_FALSE(partition_type_problem(by("d", PartitionBy::Granularity::kDay), "timestamp(3) without time zone"));
  CHECK_FALSE(partition_type_problem(by("d", PartitionBy::Granularity::kValue), "integer"));
  auto why = partition_type_problem(by("d", PartitionBy::Granularity::kDay), "integer");
  REQUIRE(why);
  CHECK_THAT(*why, Contains("granularity: value"));
}

TEST_CASE("partition: the source re-read selects whole windows, NULLs in their own branch", "[unit][partition]") {
  SourceConfig src;
  src.table = QualifiedName{"app", "events"};
  const auto pb = by("event_date", PartitionBy::Granularity::kDay);
  Windows w;
  w.lo = {"2024-01-01"};
  w.hi = {"2024-01-02"};
  w.null_window = true;
  const std::string q = window_rows_select(pb, "date", w, {"id", "event_date"}, src).display();
  CHECK(q == R"(SELECT s."id", s."event_date" FROM "app"."events" AS s WHERE ((s."event_date" >= )"
             R"(CAST('2024-01-01' AS date) AND s."event_date" < CAST('2024-01-02' AS date))) UNION ALL )"
             R"(SELECT s."id", s."event_date" FROM "app"."events" AS s WHERE s."event_date" IS NULL)");
  CHECK_THAT(window_rows_select(pb, "date", Windows{}, {"id"}, src).display(), Contains("WHERE false"));
  SourceConfig query;
  query.query = "SELECT * FROM x";
  CHECK_THAT(window_rows_select(pb, "date", w, {"id"}, query).display(), Contains("FROM (SELECT * FROM x) AS s"));
}

TEST_CASE("partition: adjacent windows become one range, so a backfill's days are one index scan",
          "[unit][partition]") {
  Windows w;
  w.lo = {"2024-01-01", "2024-01-02", "2024-01-03", "2024-03-01"};
  w.hi = {"2024-01-02", "2024-01-03", "2024-01-04", "2024-03-02"};
  const Sql s = in_windows(by("d", PartitionBy::Granularity::kDay), "date", w, "t");
  CHECK(s.display() == R"(((t."d" >= CAST('2024-01-01' AS date) AND t."d" < CAST('2024-01-04' AS date)) OR )"
                       R"((t."d" >= CAST('2024-03-01' AS date) AND t."d" < CAST('2024-03-02' AS date))))");
}

TEST_CASE("partition: window values with quotes and backslashes stay data", "[unit][partition]") {
  Windows w;
  w.lo = {R"(a"b\c)"};
  w.hi = {""};
  const Sql s = in_windows(by("r", PartitionBy::Granularity::kValue), "text", w, "t");
  REQUIRE(s.values().size() == 1);
  CHECK(*s.values()[0] == R"({"a\"b\\c"})");
}

TEST_CASE("partition: overwrite deletes the touched windows, rows that moved by key, then inserts",
          "[unit][partition][writers]") {
  WriteInput in;
  in.target = QualifiedName{"dw", "events"};
  in.stage = "_tm_stage";
  in.columns = {"id", "event_date"};
  in.key = {"id"};
  in.dedupe = false;
  WriteInput::Partitions part{by("event_date", PartitionBy::Granularity::kDay), "date", {}, {"\"dw\".\"events_d1\""}};
  part.windows.lo = {"2024-01-02"};
  part.windows.hi = {"2024-01-03"};
  part.windows.null_window = true;
  in.partitions = part;
  const auto out = find_writer("partition_overwrite")->statements(in);
  const auto t = texts(out);
  REQUIRE(t.size() == 5);
  CHECK(t[0] == R"(TRUNCATE "dw"."events_d1")");
  CHECK(t[1] == R"(DELETE FROM "dw"."events" AS t WHERE ((t."event_date" >= CAST('2024-01-02' AS date) AND )"
                 R"(t."event_date" < CAST('2024-01-03' AS date))))");
  CHECK(out[1].effect == WriteStatement::Effect::kDeleted);
  CHECK(t[2] == R"(DELETE FROM "dw"."events" AS t WHERE t."event_date" IS NULL)");
  CHECK(t[3] == R"(DELETE FROM "dw"."events" AS t USING _tm_stage AS s WHERE t."id" = s."id")");
  CHECK(t[4] == R"(INSERT INTO "dw"."events" ("id", "event_date") SELECT s."id", s."event_date" FROM _tm_stage AS s)");
  CHECK(out[4].effect == WriteStatement::Effect::kWritten);
  CHECK(partition_lock(in.target).display() == R"(LOCK TABLE "dw"."events" IN SHARE ROW EXCLUSIVE MODE)");
}

TEST_CASE("partition: bounds as pg_get_expr prints them are read exactly", "[unit][partition]") {
  using V = std::vector<std::string>;
  CHECK(parse_partition_bound("FOR VALUES FROM ('2024-01-01') TO ('2024-01-02')") == V{"FROM", "2024-01-01", "2024-01-02"});
  CHECK(parse_partition_bound("FOR VALUES FROM (1) TO (100)") == V{"FROM", "1", "100"});
  CHECK(parse_partition_bound("FOR VALUES IN ('it''s', NULL)") == V{"IN", "it's", "\\N"});
  CHECK(parse_partition_bound("DEFAULT") == V{"DEFAULT"});
  CHECK_FALSE(parse_partition_bound("FOR VALUES FROM ('a', 1) TO ('b', 2)"));
  CHECK_FALSE(parse_partition_bound("FOR VALUES WITH (modulus 4, remainder 0)"));
  CHECK_FALSE(parse_partition_bound("FOR VALUES FROM ('2024-01-01') TO ('2024-01-02') junk"));
  CHECK(parse_partition_bound("FOR VALUES FROM (MINVALUE) TO ('2024-01-01')") == V{"FROM", "MINVALUE", "2024-01-01"});
}

TEST_CASE("partition: only partitions that are exactly one window are truncated", "[unit][partition]") {
  Windows w;
  w.lo = {"2024-01-01", "2024-01-02", "2024-02-01"};
  w.hi = {"2024-01-02", "2024-01-03", "2024-02-02"};
  w.null_window = true;
  const std::vector<PartitionInfo> parts = {
      {"p.d1", "FOR VALUES FROM ('2024-01-01') TO ('2024-01-02')"},
      {"p.jan_rest", "FOR VALUES FROM ('2024-01-02') TO ('2024-02-01')"},  // wider than the window
      {"p.d3", "FOR VALUES FROM ('2024-02-01') TO ('2024-02-02')"},
      {"p.other", "DEFAULT"}};
  const auto taken = take_partition_windows(w, parts, PartitionBy::Granularity::kDay);
  CHECK(taken == std::vector<std::string>{"p.d1", "p.d3"});
  CHECK(w.lo == std::vector<std::string>{"2024-01-02"});
  CHECK(w.null_window);  // range partitions never hold NULL windows

  Windows v;
  v.lo = {"EU", "US"};
  v.hi = {"", ""};
  v.null_window = true;
  const auto lists = take_partition_windows(
      v, {{"p.eu", "FOR VALUES IN ('EU')"}, {"p.us", "FOR VALUES IN ('US', 'CA')"}, {"p.none", "FOR VALUES IN (NULL)"}},
      PartitionBy::Granularity::kValue);
  CHECK(lists == std::vector<std::string>{"p.eu", "p.none"});
  CHECK(v.lo == std::vector<std::string>{"US"});
  CHECK_FALSE(v.null_window);
}

TEST_CASE("partition: config needs partition_by with partition_overwrite and only there", "[unit][partition][config]") {
  const std::string head = R"(
connections: {src: "dbname=a", dw: "dbname=b"}
pipelines:
  - name: events
    source: {connection: src, table: app.events}
    detect: {strategy: updated_at, cursor: updated_at}
)";
  const Config ok = parse_config(head + R"(    target: {connection: dw, table: dw.events, key: [id], write: partition_overwrite,
             partition_by: {column: event_date, granularity: month, time_zone: Europe/Berlin}}
)", "p.yaml");
  REQUIRE(ok.pipelines[0].target.partition_by);
  CHECK(ok.pipelines[0].target.partition_by->granularity == PartitionBy::Granularity::kMonth);
  CHECK(ok.pipelines[0].target.partition_by->time_zone == "Europe/Berlin");

  auto fails = [&](const std::string& target, const std::string& what) {
    try {
      parse_config(head + target, "p.yaml");
      FAIL("accepted: " << target);
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Contains(what));
    }
  };
  fails("    target: {connection: dw, table: dw.events, key: [id], write: partition_overwrite}\n",
        "target.partition_by: required by write mode partition_overwrite");
  fails("    target: {connection: dw, table: dw.events, key: [id], partition_by: {column: d, granularity: day}}\n",
        "target.partition_by: only for write partition_overwrite");
  fails("    target: {connection: dw, table: dw.events, write: partition_overwrite, partition_by: {column: d, "
        "granularity: week}}\n",
        "granularity: must be day, month or value");
  fails("    target: {connection: dw, table: dw.events, write: partition_overwrite, partition_by: {granularity: day}}\n",
        "partition_by.column: required");
}

TEST_CASE("partition: a direct overwrite only clears: no soft-delete pass, no INSERT, moved rows found by the delta's keys",
          "[unit][partition][writers]") {
  WriteInput in;
  in.target = QualifiedName{"dw", "events"};
  in.stage = "_tm_stage";
  in.columns = {"id", "event_date"};
  in.key = {"id"};
  in.soft_delete_column = "deleted_at";
  WriteInput::Partitions part{by("event_date", PartitionBy::Granularity::kDay), "date", {}, {"\"dw\".\"events_d1\""}};
  part.direct = true;
  part.moved_keys = "_tm_moved_keys";
  in.partitions = part;
  const auto t = texts(find_writer("partition_overwrite")->statements(in));
  REQUIRE(t.size() == 2);
  CHECK(t[0] == R"(TRUNCATE "dw"."events_d1")");
  CHECK(t[1] == R"(DELETE FROM "dw"."events" AS t USING _tm_moved_keys AS s WHERE t."id" = s."id")");
}
