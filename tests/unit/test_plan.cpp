// Planning: what the id / updated_at / full strategies read for a given config, source shape,
// stored watermark and request. Pure, so every window is checked as exact SQL text with its
// values kept apart.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tidemark/errors.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/strategy.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

const std::string kTs = "2024-05-01 10:00:00.123456+00";
const std::string kOrdersSelect = R"(SELECT "id", "amount", "updated_at" FROM "public"."orders")";
const std::string kEventsSelect = R"(SELECT "id", "kind" FROM "public"."events")";
const std::string kTsType = "timestamp with time zone";

PipelineConfig orders_pipeline() {
  PipelineConfig p;
  p.name = "orders";
  p.source.connection = "app";
  p.source.table = QualifiedName{"public", "orders"};
  p.detect.strategy = "updated_at";
  p.detect.cursor = "updated_at";
  p.target.connection = "warehouse";
  p.target.table = QualifiedName{"analytics", "orders"};
  p.target.key = {"id"};
  p.target.write = "upsert";
  return p;
}

SourceShape orders_shape() {
  SourceShape s;
  s.columns = {{"id", "bigint", "bigint", true}, {"amount", "numeric(12,2)"}, {"updated_at", kTsType}};
  return s;
}

PipelineConfig events_pipeline() {
  PipelineConfig p;
  p.name = "events";
  p.source.connection = "app";
  p.source.table = QualifiedName{"public", "events"};
  p.detect.strategy = "id";
  p.detect.cursor = "id";
  p.target.connection = "warehouse";
  p.target.table = QualifiedName{"analytics", "events"};
  p.target.key = {"id"};
  p.target.write = "upsert";
  return p;
}

SourceShape events_shape() {
  SourceShape s;
  s.columns = {{"id", "bigint"}, {"kind", "text"}};
  return s;
}

StoredState stored(std::vector<std::string> columns, Tuple safe, const std::string& strategy = "updated_at") {
  StoredState st;
  st.exists = true;
  st.strategy = strategy;
  st.version = 3;
  st.watermark.columns = std::move(columns);
  st.watermark.safe = safe;
  st.watermark.high = safe;
  return st;
}

ExtractPlan make_plan(const PipelineConfig& p, const SourceShape& shape, const StoredState& st = {},
                      const RunRequest& rq = {}) {
  const Strategy* s = find_strategy(p.detect.strategy);
  REQUIRE(s != nullptr);
  return s->plan(PlanInput{p, shape, st, rq});
}

RunRequest range(std::optional<std::string> from, std::optional<std::string> to) {
  RunRequest rq;
  rq.mode = RunMode::kRange;
  rq.from = std::move(from);
  rq.to = std::move(to);
  return rq;
}

RunRequest full_refresh() {
  RunRequest rq;
  rq.mode = RunMode::kFullRefresh;
  return rq;
}

bool text_mentions(const Sql& s, const std::string& needle) {
  return std::any_of(s.parts().begin(), s.parts().end(),
                     [&](const std::string& part) { return part.find(needle) != std::string::npos; });
}

// null_cursor: warn (the default) never reads rows whose cursor is NULL.
const std::string kNotNull = R"( AND "updated_at" IS NOT NULL)";

const std::string kCompoundLower =
    R"("updated_at" >= CAST($1 AS timestamp with time zone) AND ("updated_at", "id") > )"
    R"((CAST($2 AS timestamp with time zone), CAST($3 AS bigint)))";

}  // namespace

TEST_CASE("plan: a first run has no lower bound and reads every row, NULL cursors only with null_cursor include",
          "[unit][plan]") {
  // A NOT NULL cursor column: no WHERE at all.
  SourceShape not_null = orders_shape();
  not_null.cursor_nullable = false;
  const ExtractPlan everything = make_plan(orders_pipeline(), not_null);
  CHECK(everything.select.display() == kOrdersSelect);
  CHECK(everything.window == "everything (first run)");
  CHECK_FALSE(everything.null_count);
  CHECK(make_plan(orders_pipeline(), not_null, stored({"updated_at", "id"}, {kTs, "42"})).select.with_placeholders() ==
        kOrdersSelect + " WHERE " + kCompoundLower);

  // A nullable cursor column (the default of SourceShape):
  PipelineConfig include = orders_pipeline();
  include.detect.null_cursor = NullCursor::kInclude;
  const ExtractPlan all = make_plan(include, orders_shape());
  CHECK(all.select.display() == kOrdersSelect);  // no WHERE at all
  CHECK(all.select.values().empty());
  CHECK(all.window == "everything (first run)");

  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape());
  CHECK(plan.pipeline == "orders");
  CHECK(plan.mode == RunMode::kIncremental);
  CHECK(plan.select.display() == kOrdersSelect + R"( WHERE "updated_at" IS NOT NULL)");
  CHECK(plan.select.values().empty());
  CHECK(plan.window == R"("updated_at" IS NOT NULL)");
  CHECK(plan.columns == std::vector<std::string>{"id", "amount", "updated_at"});
  CHECK(plan.tuple_columns == std::vector<std::string>{"updated_at", "id"});
  CHECK(plan.tuple_types == std::vector<std::string>{kTsType, "bigint"});
  CHECK(plan.order_column == std::optional<std::string>("updated_at"));
  CHECK(plan.moves_watermark);
  CHECK_FALSE(plan.replace_target);
  CHECK_FALSE(plan.target_range);
  CHECK_FALSE(plan.batching);
  CHECK(plan.high_query.display() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");

  const ExtractPlan ids = make_plan(events_pipeline(), events_shape());
  CHECK(ids.select.display() == kEventsSelect + R"( WHERE "id" IS NOT NULL)");
  CHECK(ids.tuple_columns == std::vector<std::string>{"id"});  // the key is the cursor: a one-column tuple
  CHECK(ids.high_query.display() ==
        R"(SELECT "id" FROM "public"."events" WHERE "id" IS NOT NULL ORDER BY "id" DESC LIMIT 1)");
}

TEST_CASE("plan: updated_at reads strictly after the stored safe tuple with a compound comparison led by >=",
          "[unit][plan]") {
  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  CHECK(plan.select.with_placeholders() == kOrdersSelect + " WHERE " + kCompoundLower + kNotNull);
  CHECK(plan.select.display() ==
        kOrdersSelect +
            R"( WHERE "updated_at" >= CAST('2024-05-01 10:00:00.123456+00' AS timestamp with time zone) AND )"
            R"(("updated_at", "id") > (CAST('2024-05-01 10:00:00.123456+00' AS timestamp with time zone), CAST('42' AS bigint)))"
            R"( AND "updated_at" IS NOT NULL)");
  CHECK(plan.select.values() == std::vector<SqlValue>{kTs, kTs, "42"});
  CHECK(plan.window ==
        R"("updated_at" >= CAST('2024-05-01 10:00:00.123456+00' AS timestamp with time zone) AND )"
        R"(("updated_at", "id") > (CAST('2024-05-01 10:00:00.123456+00' AS timestamp with time zone), CAST('42' AS bigint)))"
        R"( AND "updated_at" IS NOT NULL)");
  CHECK(plan.high_query.with_placeholders() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL AND )" + kCompoundLower +
            R"( ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");
  CHECK(plan.high_query.values() == std::vector<SqlValue>{kTs, kTs, "42"});
}

TEST_CASE("plan: an id cursor reads strictly after the stored id", "[unit][plan]") {
  const ExtractPlan plan = make_plan(events_pipeline(), events_shape(), stored({"id"}, {"51000"}, "id"));
  CHECK(plan.select.with_placeholders() == kEventsSelect + R"( WHERE "id" > CAST($1 AS bigint) AND "id" IS NOT NULL)");
  CHECK(plan.select.values() == std::vector<SqlValue>{"51000"});
  CHECK(plan.window == R"("id" > CAST('51000' AS bigint) AND "id" IS NOT NULL)");
}

TEST_CASE("plan: watermark values are bound as values and never pasted into the SQL text", "[unit][plan]") {
  const std::string evil = "2024-05-01'); DROP TABLE orders; --";
  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "id"}, {evil, "7"}));
  CHECK(plan.select.values() == std::vector<SqlValue>{evil, evil, "7"});
  CHECK_FALSE(text_mentions(plan.select, "DROP TABLE"));
  CHECK_FALSE(text_mentions(plan.high_query, "DROP TABLE"));
  CHECK_FALSE(text_mentions(plan.select, "2024-05-01"));
  CHECK_THAT(plan.select.with_placeholders(), !Contains("DROP"));
  // display() (dry runs only) escapes quotes.
  CHECK_THAT(plan.select.display(), Contains("CAST('2024-05-01''); DROP TABLE orders; --' AS timestamp with time zone)"));

  const ExtractPlan clean = make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  CHECK_FALSE(text_mentions(clean.select, kTs));
  CHECK_FALSE(text_mentions(clean.select, "42"));
}

TEST_CASE("plan: a timestamp lookback starts the read that far below safe, on the cursor alone, inclusive",
          "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.detect.lookback = "15m";
  const ExtractPlan plan = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  CHECK(plan.select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" >= CAST($1 AS timestamp with time zone) - CAST('900 seconds' AS interval))" +
            kNotNull);
  CHECK(plan.select.values() == std::vector<SqlValue>{kTs});
  // A first run has nothing to look back from.
  CHECK(make_plan(p, orders_shape()).select.display() == kOrdersSelect + R"( WHERE "updated_at" IS NOT NULL)");
}

TEST_CASE("plan: an id lookback subtracts a number of ids from safe", "[unit][plan]") {
  PipelineConfig p = events_pipeline();
  p.detect.lookback = "1000";
  const ExtractPlan plan = make_plan(p, events_shape(), stored({"id"}, {"51000"}, "id"));
  CHECK(plan.select.with_placeholders() == kEventsSelect + R"( WHERE "id" >= CAST($1 AS bigint) - 1000 AND "id" IS NOT NULL)");
  CHECK(plan.window == R"("id" >= CAST('51000' AS bigint) - 1000 AND "id" IS NOT NULL)");
  // A lookback of 0 still re-reads the row at the mark.
  p.detect.lookback = "0";
  CHECK(make_plan(p, events_shape(), stored({"id"}, {"51000"}, "id")).select.with_placeholders() ==
        kEventsSelect + R"( WHERE "id" >= CAST($1 AS bigint) - 0 AND "id" IS NOT NULL)");
}

TEST_CASE("plan: settle caps the window and the high mark below now() - settle", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.detect.settle_seconds = 30;
  const std::string settle = R"("updated_at" <= CAST(now() - CAST('30 seconds' AS interval) AS timestamp with time zone))";
  const ExtractPlan first = make_plan(p, orders_shape());
  CHECK(first.select.display() == kOrdersSelect + " WHERE " + settle + kNotNull);
  CHECK(first.window == settle + kNotNull);

  const ExtractPlan next = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  CHECK(next.select.with_placeholders() == kOrdersSelect + " WHERE " + kCompoundLower + " AND " + settle + kNotNull);
  CHECK(next.high_query.with_placeholders() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL AND )" + kCompoundLower +
            " AND " + settle + R"( ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");
}

TEST_CASE("plan: null_cursor include also reads every row whose cursor is NULL", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.detect.null_cursor = NullCursor::kInclude;
  const ExtractPlan plan = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  CHECK(plan.select.with_placeholders() == kOrdersSelect + " WHERE (" + kCompoundLower + R"() OR "updated_at" IS NULL)");
  CHECK_FALSE(plan.null_count);
  // The high mark never comes from a NULL.
  CHECK_THAT(plan.high_query.with_placeholders(), !Contains("IS NULL"));
  // A first run reads everything anyway.
  CHECK(make_plan(p, orders_shape()).select.display() == kOrdersSelect);

  p.detect.settle_seconds = 5;
  CHECK(make_plan(p, orders_shape()).select.display() ==
        kOrdersSelect +
            R"( WHERE ("updated_at" <= CAST(now() - CAST('5 seconds' AS interval) AS timestamp with time zone)) OR "updated_at" IS NULL)");
}

TEST_CASE("plan: with null_cursor warn, NULL cursors are counted where that is cheap or the run reads everything",
          "[unit][plan]") {
  const std::string count = R"(SELECT count(*) FROM "public"."orders" WHERE "updated_at" IS NULL)";
  SourceShape shape = orders_shape();
  const StoredState st = stored({"updated_at", "id"}, {kTs, "42"});
  REQUIRE(make_plan(orders_pipeline(), shape).null_count);
  CHECK(make_plan(orders_pipeline(), shape).null_count->display() == count);          // first run
  CHECK_FALSE(make_plan(orders_pipeline(), shape, st).null_count);                    // no index: too costly
  CHECK(make_plan(orders_pipeline(), shape, st, full_refresh()).null_count);          // reads everything
  shape.cursor_indexed = true;
  CHECK(make_plan(orders_pipeline(), shape, st).null_count);
  shape.cursor_nullable = false;
  CHECK_FALSE(make_plan(orders_pipeline(), shape).null_count);
}

TEST_CASE("plan: a range run reads from <= cursor < to, owns that range in the target and leaves the watermark alone",
          "[unit][plan]") {
  const StoredState st = stored({"updated_at", "id"}, {kTs, "42"});
  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape(), st, range("2024-01-01", "2024-02-01"));
  const std::string pred =
      R"("updated_at" >= CAST($1 AS timestamp with time zone) AND "updated_at" < CAST($2 AS timestamp with time zone))";
  CHECK(plan.mode == RunMode::kRange);
  CHECK(plan.select.with_placeholders() == kOrdersSelect + " WHERE " + pred);
  CHECK(plan.select.values() == std::vector<SqlValue>{"2024-01-01", "2024-02-01"});
  REQUIRE(plan.target_range);
  CHECK(plan.target_range->with_placeholders() == pred);
  CHECK(plan.target_range->values() == std::vector<SqlValue>{"2024-01-01", "2024-02-01"});
  CHECK_FALSE(plan.moves_watermark);
  CHECK_FALSE(plan.replace_target);
  CHECK(plan.window ==
        R"(range "updated_at" >= CAST('2024-01-01' AS timestamp with time zone) AND "updated_at" < CAST('2024-02-01' AS timestamp with time zone))");
  // The horizon and the range's largest tuple serve --advance-watermark at a backfill's end.
  CHECK(plan.horizon_kind == ExtractPlan::HorizonKind::kClock);
  CHECK(plan.high_query.with_placeholders() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE )" + pred + R"( ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");
  CHECK_FALSE(plan.batching);

  const ExtractPlan from_only = make_plan(orders_pipeline(), orders_shape(), st, range("2024-01-01", std::nullopt));
  CHECK(from_only.select.with_placeholders() == kOrdersSelect + R"( WHERE "updated_at" >= CAST($1 AS timestamp with time zone))");
  const ExtractPlan to_only = make_plan(orders_pipeline(), orders_shape(), st, range(std::nullopt, "2024-02-01"));
  CHECK(to_only.select.with_placeholders() == kOrdersSelect + R"( WHERE "updated_at" < CAST($1 AS timestamp with time zone))");

  const ExtractPlan ids = make_plan(events_pipeline(), events_shape(), {}, range("100", "200"));
  CHECK(ids.select.display() == kEventsSelect + R"( WHERE "id" >= CAST('100' AS bigint) AND "id" < CAST('200' AS bigint))");
}

TEST_CASE("plan: an id range with a non-integer bound is a config error", "[unit][plan]") {
  CHECK_THROWS_AS(make_plan(events_pipeline(), events_shape(), {}, range("2024-01-01", "200")), ConfigError);
  CHECK_THROWS_WITH(make_plan(events_pipeline(), events_shape(), {}, range("2024-01-01", "200")),
                    "--from '2024-01-01' is not an integer, as the id cursor needs");
  CHECK_THROWS_WITH(make_plan(events_pipeline(), events_shape(), {}, range("100", "2e3")),
                    "--to '2e3' is not an integer, as the id cursor needs");
  CHECK_NOTHROW(make_plan(events_pipeline(), events_shape(), {}, range("-5", "99999999999999999999")));
}

TEST_CASE("plan: strategy full reads everything, replaces the target and refuses a range", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.name = "countries";
  p.detect.strategy = "full";
  p.detect.cursor.clear();
  p.target.write = "full_refresh";
  const ExtractPlan plan = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}, "full"));
  CHECK(plan.select.display() == kOrdersSelect);
  CHECK(plan.replace_target);
  CHECK(plan.window == "everything (strategy full)");
  CHECK(plan.high_query.empty());
  CHECK_FALSE(plan.horizon);
  CHECK(plan.tuple_columns.empty());
  CHECK(plan.columns == std::vector<std::string>{"id", "amount", "updated_at"});

  CHECK_THROWS_AS(make_plan(p, orders_shape(), {}, range("a", "b")), ConfigError);
  CHECK_THROWS_WITH(make_plan(p, orders_shape(), {}, range("a", "b")),
                    "pipeline countries: strategy full has no cursor, so --from/--to cannot select a range; run it "
                    "without them");
}

TEST_CASE("plan: a full refresh ignores the stored watermark, reads everything and replaces the target",
          "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.batch_size = 1000;
  const ExtractPlan plan = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}), full_refresh());
  CHECK(plan.mode == RunMode::kFullRefresh);
  CHECK(plan.select.display() == kOrdersSelect + R"( WHERE "updated_at" IS NOT NULL)");
  CHECK(plan.select.values().empty());
  CHECK(plan.replace_target);
  CHECK(plan.moves_watermark);
  CHECK(plan.window == "everything (full refresh)");
  CHECK(plan.high_query.display() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");
  CHECK_FALSE(plan.batching);  // one transaction replaces the target
  PipelineConfig include = p;
  include.detect.null_cursor = NullCursor::kInclude;
  CHECK(make_plan(include, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}), full_refresh()).select.display() ==
        kOrdersSelect);
}

TEST_CASE("plan: a stored watermark over other tuple columns is refused; a longer mark falls back to >= on the cursor",
          "[unit][plan]") {
  // The key changed from order_no to id since the mark was stored.
  CHECK_THROWS_AS(make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "order_no"}, {kTs, "A-7"})), RunError);
  CHECK_THROWS_WITH(make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "order_no"}, {kTs, "A-7"})),
                    R"(pipeline orders: the stored watermark is over ("updated_at", "order_no") but the cursor and key )"
                    R"(are now ("updated_at", "id"); run once with --full-refresh to start over)");
  // A full refresh starts over, whatever the stored mark.
  CHECK_NOTHROW(make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "order_no"}, {kTs, "A-7"}), full_refresh()));

  // A mark without column names that is longer than the tuple cannot be compared: the cursor
  // alone, inclusive, so rows tied with it are read again rather than lost.
  const ExtractPlan longer = make_plan(orders_pipeline(), orders_shape(), stored({}, {kTs, "42", "x"}));
  CHECK(longer.select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" >= CAST($1 AS timestamp with time zone))" + kNotNull);
  CHECK(longer.select.values() == std::vector<SqlValue>{kTs});
}

TEST_CASE("plan: a one-column safe mark (a horizon) reads strictly after the cursor value", "[unit][plan]") {
  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape(), stored({"updated_at", "id"}, {kTs}));
  CHECK(plan.select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" > CAST($1 AS timestamp with time zone))" + kNotNull);
}

TEST_CASE("plan: a timestamp cursor's horizon is the statement clock, a date cursor has none", "[unit][plan]") {
  const ExtractPlan plan = make_plan(orders_pipeline(), orders_shape());
  REQUIRE(plan.horizon);
  CHECK(plan.horizon->display() == "CAST(statement_timestamp() AS timestamp with time zone) - interval '1 microsecond'");

  SourceShape naive = orders_shape();
  naive.columns[2].type = "timestamp without time zone";
  REQUIRE(make_plan(orders_pipeline(), naive).horizon);
  // A plain timestamp: the wall clock in the cursor's zone (UTC when none is known).
  CHECK(make_plan(orders_pipeline(), naive).horizon->display() ==
        "LEAST((statement_timestamp()) AT TIME ZONE 'UTC', ((statement_timestamp()) + interval '3 hours') AT TIME ZONE "
        "'UTC' - interval '3 hours') - interval '1 microsecond'");

  SourceShape date = orders_shape();
  date.columns[2].type = "date";
  CHECK_FALSE(make_plan(orders_pipeline(), date).horizon);
}

TEST_CASE("plan: an id cursor's horizon is its sequence's last value, only for a sequence with CACHE 1",
          "[unit][plan]") {
  SourceShape shape = events_shape();
  CHECK_FALSE(make_plan(events_pipeline(), shape).horizon);  // no sequence
  shape.cursor_sequence = "public.events_id_seq";
  const ExtractPlan plan = make_plan(events_pipeline(), shape);
  REQUIRE(plan.horizon);
  CHECK(plan.horizon->with_placeholders() == "pg_sequence_last_value($1::regclass)");
  CHECK(plan.horizon->values() == std::vector<SqlValue>{"public.events_id_seq"});
  shape.sequence_cache = 20;
  CHECK_FALSE(make_plan(events_pipeline(), shape).horizon);
}

TEST_CASE("plan: a cursor column of the wrong type is a run error naming the column and its type", "[unit][plan]") {
  SourceShape text_id = events_shape();
  text_id.columns[0].type = "text";
  CHECK_THROWS_AS(make_plan(events_pipeline(), text_id), RunError);
  CHECK_THROWS_WITH(make_plan(events_pipeline(), text_id),
                    "pipeline events: cursor column 'id' has type text, which strategy id cannot follow (use an "
                    "integer column, or strategy updated_at)");

  SourceShape int_ts = orders_shape();
  int_ts.columns[2].type = "bigint";
  CHECK_THROWS_WITH(make_plan(orders_pipeline(), int_ts),
                    "pipeline orders: cursor column 'updated_at' has type bigint, which strategy updated_at cannot "
                    "follow (use a timestamp or date column, or strategy id)");

  for (const char* ok : {"smallint", "integer", "bigint", "numeric", "numeric(20,0)"}) {
    SourceShape s = events_shape();
    s.columns[0].type = ok;
    INFO("type " << ok);
    CHECK_NOTHROW(make_plan(events_pipeline(), s));
  }
}

TEST_CASE("plan: a cursor or key column missing from the source is a run error with a suggestion", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.detect.cursor = "updatedat";
  CHECK_THROWS_AS(make_plan(p, orders_shape()), RunError);
  CHECK_THROWS_WITH(make_plan(p, orders_shape()),
                    "pipeline orders: the source has no column 'updatedat' (did you mean 'updated_at'?)");
  PipelineConfig k = orders_pipeline();
  k.target.key = {"order_no"};
  CHECK_THROWS_WITH(make_plan(k, orders_shape()), "pipeline orders: the source has no column 'order_no'");
}

TEST_CASE("plan: identifiers with quotes, dots and spaces are quoted everywhere in the generated SQL",
          "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.source.table = QualifiedName{"My \"S\"", "T.x"};
  p.detect.cursor = "Up\"dated";
  p.target.key = {"Order Id"};
  SourceShape shape;
  shape.columns = {{"Order Id", "bigint", "bigint", true}, {"Up\"dated", kTsType}};
  const ExtractPlan plan = make_plan(p, shape, stored({"Up\"dated", "Order Id"}, {kTs, "1"}));
  CHECK(plan.select.with_placeholders() ==
        R"(SELECT "Order Id", "Up""dated" FROM "My ""S"""."T.x" WHERE "Up""dated" >= CAST($1 AS timestamp with time zone) )"
        R"(AND ("Up""dated", "Order Id") > (CAST($2 AS timestamp with time zone), CAST($3 AS bigint)) AND "Up""dated" IS NOT NULL)");
  CHECK(plan.high_query.with_placeholders().rfind(
            R"(SELECT "Up""dated", "Order Id" FROM "My ""S"""."T.x" WHERE "Up""dated" IS NOT NULL AND )", 0) == 0);
}

TEST_CASE("plan: a query source is read as a parenthesised subquery", "[unit][plan]") {
  PipelineConfig p = events_pipeline();
  p.source.table.reset();
  p.source.query = "SELECT id, kind FROM events WHERE kind <> 'debug'";
  const ExtractPlan plan = make_plan(p, events_shape(), stored({"id"}, {"10"}, "id"));
  CHECK(plan.select.with_placeholders() ==
        R"(SELECT "id", "kind" FROM (SELECT id, kind FROM events WHERE kind <> 'debug') AS _tm_src WHERE "id" > CAST($1 AS bigint) AND "id" IS NOT NULL)");
  CHECK(plan.high_query.with_placeholders() ==
        R"(SELECT "id" FROM (SELECT id, kind FROM events WHERE kind <> 'debug') AS _tm_src WHERE "id" IS NOT NULL AND "id" > CAST($1 AS bigint) ORDER BY "id" DESC LIMIT 1)");
}

TEST_CASE("plan: the high query orders by the whole tuple descending and takes one row", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.target.key = {"region", "id"};
  SourceShape shape = orders_shape();
  shape.columns.push_back({"region", "text", "text", true});
  const ExtractPlan plan = make_plan(p, shape);
  CHECK(plan.tuple_columns == std::vector<std::string>{"updated_at", "region", "id"});
  CHECK(plan.tuple_types == std::vector<std::string>{kTsType, "text", "bigint"});
  CHECK(plan.high_query.display() ==
        R"(SELECT "updated_at", "region", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL )"
        R"(ORDER BY "updated_at" DESC, "region" DESC, "id" DESC LIMIT 1)");
}

TEST_CASE("plan: batch_size splits an incremental delta into batches ordered by the cursor tuple", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  p.batch_size = 1000;
  const ExtractPlan plan = make_plan(p, orders_shape(), stored({"updated_at", "id"}, {kTs, "42"}));
  REQUIRE(plan.batching);
  CHECK(plan.batching->size == 1000);
  CHECK(plan.batching->from == R"("public"."orders")");
  CHECK(plan.batching->base.display() == kOrdersSelect);
  REQUIRE(plan.batching->lower);
  CHECK(plan.batching->lower->with_placeholders() == kCompoundLower);
  CHECK_FALSE(plan.batching->settle);
  CHECK_FALSE(plan.batching->include_null);

  CHECK(batch_bound_query(plan, std::nullopt).with_placeholders() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE )" + kCompoundLower +
            R"( AND "updated_at" IS NOT NULL ORDER BY "updated_at", "id" OFFSET 999 LIMIT 1)");
  const Tuple after = {"2024-05-02 00:00:00+00", "7"};
  const Tuple upto = {"2024-05-03 00:00:00+00", "9"};
  const Sql batch = batch_select(plan, after, upto);
  CHECK(batch.with_placeholders() ==
        kOrdersSelect +
            R"( WHERE "updated_at" >= CAST($1 AS timestamp with time zone) AND ("updated_at", "id") > (CAST($2 AS timestamp with time zone), CAST($3 AS bigint)))"
            R"( AND "updated_at" <= CAST($4 AS timestamp with time zone) AND ("updated_at", "id") <= (CAST($5 AS timestamp with time zone), CAST($6 AS bigint)))" +
            kNotNull);
  CHECK(batch.values() == std::vector<SqlValue>{after[0], after[0], "7", upto[0], upto[0], "9"});
  // The last batch has no upper end; the first starts at the stored mark.
  CHECK(batch_select(plan, std::nullopt, std::nullopt).with_placeholders() ==
        kOrdersSelect + " WHERE " + kCompoundLower + kNotNull);

  // A first run with NULL cursors included: the first batch also takes the NULLs, the bound query never does.
  PipelineConfig n = p;
  n.detect.null_cursor = NullCursor::kInclude;
  const ExtractPlan first = make_plan(n, orders_shape());
  REQUIRE(first.batching);
  CHECK(first.batching->include_null);
  CHECK(batch_select(first, std::nullopt, std::nullopt).display() == kOrdersSelect + " WHERE true");
  CHECK(batch_bound_query(first, std::nullopt).display() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL ORDER BY "updated_at", "id" OFFSET 999 LIMIT 1)");
  CHECK(batch_select(first, std::nullopt, Tuple{"2024-05-03 00:00:00+00", "9"}).with_placeholders() ==
        kOrdersSelect +
            R"( WHERE ("updated_at" <= CAST($1 AS timestamp with time zone) AND ("updated_at", "id") <= (CAST($2 AS timestamp with time zone), CAST($3 AS bigint))) OR "updated_at" IS NULL)");

  // Range runs are not batched.
  CHECK_FALSE(make_plan(p, orders_shape(), {}, range("2024-01-01", "2024-02-01")).batching);
}

TEST_CASE("plan: strategies are found by name and describe themselves", "[unit][plan]") {
  CHECK(strategy_names() == std::vector<std::string>{"id", "updated_at", "full", "files", "cdc"});
  CHECK(find_strategy("CDC") == nullptr);
  CHECK(find_strategy("debezium") == nullptr);
  CHECK(find_strategy("cdc")->default_write() == "upsert");
  CHECK_FALSE(find_strategy("cdc")->has_range());
  CHECK(find_strategy("ID") == nullptr);
  REQUIRE(find_strategy("id"));
  CHECK(find_strategy("id")->name() == "id");
  CHECK(find_strategy("id")->default_write() == "upsert");
  CHECK(find_strategy("id")->has_cursor());
  CHECK(find_strategy("updated_at")->default_write() == "upsert");
  CHECK(find_strategy("updated_at")->has_cursor());
  CHECK(find_strategy("full")->default_write() == "full_refresh");
  CHECK_FALSE(find_strategy("full")->has_cursor());
  CHECK_FALSE(find_strategy("full")->has_range());
  CHECK(find_strategy("files")->default_write() == "delete_insert");
  CHECK_FALSE(find_strategy("files")->has_cursor());
  CHECK(find_strategy("files")->has_range());  // files by date
}

TEST_CASE("plan: each strategy states its own config rules", "[unit][plan]") {
  PipelineConfig p = orders_pipeline();
  CHECK(find_strategy("updated_at")->check(p).empty());
  p.target.key.clear();
  p.detect.cursor.clear();
  p.detect.lookback = "soon";
  const FieldProblems problems = find_strategy("updated_at")->check(p);
  REQUIRE(problems.size() == 3);
  CHECK(problems[0] == std::make_pair(std::string("detect.cursor"), std::string("required by strategy updated_at")));
  CHECK(problems[1].first == "target.key");
  CHECK(problems[2] == std::make_pair(std::string("detect.lookback"),
                                      std::string("'soon' is not a duration like 30s, 15m, 2h, 1d")));
  PipelineConfig f = events_pipeline();
  f.target.write = "full_refresh";
  f.detect.cursor.clear();
  CHECK(find_strategy("full")->check(f).empty());
}

TEST_CASE("plan: a key column that may be NULL keeps NULL-key rows out of the load, the high mark and the batch "
          "bounds, and probes the window for them",
          "[unit][plan][keys]") {
  PipelineConfig p = orders_pipeline();
  p.batch_size = 2;
  SourceShape shape = orders_shape();
  shape.columns[0].not_null = false;
  const ExtractPlan first = make_plan(p, shape);
  CHECK(first.select.with_placeholders() ==
        R"(SELECT "id", "amount", "updated_at" FROM "public"."orders" WHERE ("updated_at" IS NOT NULL) AND "id" IS NOT NULL)");
  CHECK(first.window == R"("updated_at" IS NOT NULL (rows with a NULL key left out))");
  REQUIRE(first.null_key_probe);
  CHECK(first.null_key_probe->with_placeholders() ==
        R"(SELECT count(*), min("updated_at")::text FROM "public"."orders" WHERE ("updated_at" IS NOT NULL) AND ("id" IS NULL))");
  CHECK_THAT(first.high_query.with_placeholders(), Contains(R"(AND "id" IS NOT NULL ORDER BY)"));
  CHECK_THAT(batch_bound_query(first, std::nullopt).with_placeholders(), Contains(R"("id" IS NOT NULL)"));
  CHECK_THAT(batch_select(first, std::nullopt, Tuple{kTs, "2"}).with_placeholders(), Contains(R"(AND "id" IS NOT NULL)"));

  const ExtractPlan later = make_plan(p, shape, stored({"updated_at", "id"}, {kTs, "1"}));
  CHECK_THAT(later.null_key_probe->with_placeholders(), Contains(R"(AND ("id" IS NULL))"));
  CHECK_THAT(later.null_key_probe->with_placeholders(), Contains(R"(("updated_at", "id") > )"));

  // A key declared NOT NULL at the source costs nothing.
  CHECK_FALSE(make_plan(p, orders_shape()).null_key_probe);
  // Strategy full too.
  PipelineConfig full = p;
  full.detect.strategy = "full";
  full.detect.cursor.clear();
  full.batch_size = 0;
  full.target.write = "full_refresh";
  const ExtractPlan f = find_strategy("full")->plan(PlanInput{full, shape, StoredState{}, RunRequest{}});
  CHECK(f.select.with_placeholders() == R"(SELECT "id", "amount", "updated_at" FROM "public"."orders" WHERE "id" IS NOT NULL)");
  REQUIRE(f.null_key_probe);
  CHECK(f.null_key_probe->with_placeholders() ==
        R"(SELECT count(*), NULL::text FROM "public"."orders" WHERE ("id" IS NULL))");
}

TEST_CASE("plan: --from/--to on an id cursor may be any whole number, beyond 64 bits too", "[unit][plan][range]") {
  PipelineConfig p = events_pipeline();
  const std::string big = "1" + std::string(39, '0');
  const RunRequest rq{RunMode::kRange, big, big + "0", std::nullopt};
  const ExtractPlan plan = find_strategy("id")->plan(PlanInput{p, events_shape(), StoredState{}, rq});
  CHECK(plan.select.values().at(0) == big);
  const RunRequest bad{RunMode::kRange, std::string("1e5"), std::nullopt, std::nullopt};
  CHECK_THROWS_WITH(find_strategy("id")->plan(PlanInput{p, events_shape(), StoredState{}, bad}),
                    Contains("is not an integer"));
}

namespace {

SourceShape naive_shape(const std::string& type = "timestamp without time zone", const std::string& zone = "America/Chicago") {
  SourceShape s = orders_shape();
  s.columns[2].type = type;
  s.time_zone = zone;
  s.time_zone_from = "detect.time_zone";
  return s;
}

}  // namespace

TEST_CASE("plan: a plain timestamp cursor's horizon is the wall clock in its zone, held back before a fall-back hour",
          "[unit][plan][tz]") {
  const ExtractPlan plan = make_plan(orders_pipeline(), naive_shape());
  REQUIRE(plan.horizon);
  CHECK(plan.horizon_kind == ExtractPlan::HorizonKind::kClock);
  CHECK(plan.horizon->with_placeholders() ==
        "LEAST((statement_timestamp()) AT TIME ZONE $1, ((statement_timestamp()) + interval '3 hours') AT TIME ZONE $2"
        " - interval '3 hours') - interval '1 microsecond'");
  CHECK(plan.horizon->values() == std::vector<SqlValue>{"America/Chicago", "America/Chicago"});
  CHECK(plan.cursor_zone == "America/Chicago");
  CHECK(plan.cursor_zone_from == "detect.time_zone");
  // A timestamptz cursor denotes instants: no zone is involved.
  CHECK(make_plan(orders_pipeline(), orders_shape()).cursor_zone.empty());
  // A date cursor has no horizon but its days are days in the zone.
  CHECK(make_plan(orders_pipeline(), naive_shape("date")).cursor_zone == "America/Chicago");
}

TEST_CASE("plan: settle and lookback on a plain timestamp cursor are computed in its zone", "[unit][plan][tz]") {
  PipelineConfig p = orders_pipeline();
  p.detect.settle_seconds = 30;
  const std::string floor_30s =
      "LEAST((now() - CAST('30 seconds' AS interval)) AT TIME ZONE $1, ((now() - CAST('30 seconds' AS interval)) + "
      "interval '3 hours') AT TIME ZONE $2 - interval '3 hours')";
  CHECK(make_plan(p, naive_shape()).select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" <= )" + floor_30s + kNotNull);
  CHECK(make_plan(p, naive_shape("date")).select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" <= CAST()" + floor_30s + " AS date)" + kNotNull);

  p.detect.settle_seconds.reset();
  p.detect.lookback = "15m";
  const std::string mark = "2024-05-01 10:00:00.123456";
  const ExtractPlan plan = make_plan(p, naive_shape(), stored({"updated_at", "id"}, {mark, "42"}));
  // The mark's instant in the zone, 15 real minutes back, as the earliest wall-clock reading from then on.
  const std::string instant = "(CAST($1 AS timestamp without time zone)::timestamp without time zone AT TIME ZONE $2)";
  CHECK(plan.select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" >= LEAST(()" + instant +
            " - CAST('900 seconds' AS interval)) AT TIME ZONE $3, ((" +
            "(CAST($4 AS timestamp without time zone)::timestamp without time zone AT TIME ZONE $5)" +
            " - CAST('900 seconds' AS interval)) + interval '3 hours') AT TIME ZONE $6 - interval '3 hours')" + kNotNull);
  CHECK(plan.select.values() == std::vector<SqlValue>{mark, "America/Chicago", "America/Chicago", mark,
                                                      "America/Chicago", "America/Chicago"});
}

TEST_CASE("plan: a (cursor, key) safe mark carries a tie probe: no key above the mark's, for a unique key", "[unit][plan][ties]") {
  SourceShape shape = orders_shape();
  shape.key_unique = true;
  const ExtractPlan plan = make_plan(orders_pipeline(), shape, stored({"updated_at", "id"}, {kTs, "42"}));
  REQUIRE(plan.tie_probe);
  CHECK(plan.tie_probe->with_placeholders() ==
        R"(SELECT NOT EXISTS (SELECT 1 FROM "public"."orders" WHERE "id" > CAST($1 AS bigint)))");
  CHECK(plan.tie_probe->values() == std::vector<SqlValue>{"42"});
  // The window itself still re-reads the tie group when the probe does not hold.
  CHECK(plan.select.with_placeholders() == kOrdersSelect + " WHERE " + kCompoundLower + kNotNull);
}

TEST_CASE("plan: no tie probe without a unique key, with a lookback, from a prefix mark, or for a query source",
          "[unit][plan][ties]") {
  SourceShape unique = orders_shape();
  unique.key_unique = true;
  const StoredState st = stored({"updated_at", "id"}, {kTs, "42"});
  CHECK_FALSE(make_plan(orders_pipeline(), orders_shape(), st).tie_probe);  // no index to answer it at once
  PipelineConfig lookback = orders_pipeline();
  lookback.detect.lookback = "5m";
  CHECK_FALSE(make_plan(lookback, unique, st).tie_probe);
  CHECK_FALSE(make_plan(orders_pipeline(), unique, stored({"updated_at", "id"}, {kTs})).tie_probe);
  PipelineConfig query = orders_pipeline();
  query.source.table.reset();
  query.source.query = "SELECT id, amount, updated_at FROM public.orders";
  CHECK_FALSE(make_plan(query, unique, st).tie_probe);
  CHECK_FALSE(make_plan(orders_pipeline(), unique, st, full_refresh()).tie_probe);
}

TEST_CASE("plan: once the tie group is read the window and the high mark start strictly after its timestamp",
          "[unit][plan][ties]") {
  SourceShape shape = orders_shape();
  shape.key_unique = true;
  const StoredState st = stored({"updated_at", "id"}, {kTs, "42"});
  const StoredState read = tie_group_read(st);
  REQUIRE(read.watermark.safe);
  CHECK(*read.watermark.safe == Tuple{kTs});
  CHECK(read.watermark.high == st.watermark.high);  // only the plan's start moves, not the stored marks
  CHECK(read.version == st.version);
  const ExtractPlan plan = make_plan(orders_pipeline(), shape, read);
  CHECK(plan.select.with_placeholders() ==
        kOrdersSelect + R"( WHERE "updated_at" > CAST($1 AS timestamp with time zone))" + kNotNull);
  CHECK(plan.high_query.with_placeholders() ==
        R"(SELECT "updated_at", "id" FROM "public"."orders" WHERE "updated_at" IS NOT NULL AND )"
        R"("updated_at" > CAST($1 AS timestamp with time zone) ORDER BY "updated_at" DESC, "id" DESC LIMIT 1)");
  CHECK_FALSE(plan.tie_probe);
  // A mark that is already a prefix (a horizon candidate) is left as it is.
  CHECK(*tie_group_read(stored({"updated_at", "id"}, {kTs})).watermark.safe == Tuple{kTs});
}
