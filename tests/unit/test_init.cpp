// `tidemark init`: the strategy it recommends for a table, and why.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/inspect.hpp"

using namespace tidemark;

namespace {

InspectedTable table(int64_t rows, std::vector<InspectedColumn> cols, std::vector<std::string> pk = {"id"}) {
  return InspectedTable{QualifiedName{"public", "orders"}, std::move(cols), std::move(pk), rows, "d", "logical", "", false, true};
}

}  // namespace

TEST_CASE("init: a large table with an indexed last-modified column gets updated_at, and the config validates",
          "[unit][init]") {
  const auto t = table(1000000, {{"id", "bigint", true, true, "nextval('orders_id_seq'::regclass)"},
                                 {"updated_at", "timestamp with time zone", true, true, "now()"},
                                 {"note", "text", false, false, ""}});
  const std::string yaml = init_config(t, "orders", QualifiedName{"analytics", "orders"});
  CHECK_THAT(yaml, Catch::Contains("detect: {strategy: updated_at, cursor: updated_at}") &&
                       Catch::Contains("key: [id]") && !Catch::Contains("# Note:"));
  ::setenv("SOURCE_DSN", "host=a", 1);
  ::setenv("WAREHOUSE_DSN", "host=b", 1);
  const Config cfg = parse_config(yaml, "init.yaml");
  ::unsetenv("SOURCE_DSN");
  ::unsetenv("WAREHOUSE_DSN");
  CHECK(cfg.pipelines.at(0).detect.strategy == "updated_at");
}

TEST_CASE("init: the recommendation follows size, cursor and key, with notes on what is missing", "[unit][init]") {
  const QualifiedName target{"analytics", "orders"};
  // Small: reload it.
  CHECK_THAT(init_config(table(500, {{"id", "bigint", true, true, ""}}), "o", target),
             Catch::Contains("{strategy: full}") && Catch::Contains("about 500 rows"));
  // A sequence key, no modified column: id.
  CHECK_THAT(init_config(table(50000, {{"id", "bigint", true, true, "nextval('s'::regclass)"}}), "o", target),
             Catch::Contains("{strategy: id, cursor: id}"));
  // A modified column without index or default: updated_at, with the CREATE INDEX and the lookback advice.
  const std::string noted = init_config(
      table(50000, {{"id", "bigint", true, true, ""}, {"last_modified", "timestamp without time zone", false, false, ""}}),
      "o", target);
  CHECK_THAT(noted, Catch::Contains("cursor: last_modified") &&
                        Catch::Contains(R"(CREATE INDEX ON "public"."orders" ("last_modified");)") &&
                        Catch::Contains("detect.lookback") && Catch::Contains("may be NULL"));
  // No key at all: full, and a note that upserts need one.
  CHECK_THAT(init_config(table(50000, {{"v", "text", false, false, ""}}, {}), "o", target),
             Catch::Contains("{strategy: full}") && Catch::Contains("no primary key"));
}

TEST_CASE("advise: a missing cursor index, a nullable application-written cursor and a small table are called out",
          "[unit][init]") {
  PipelineConfig p;
  p.name = "orders";
  p.detect.strategy = "updated_at";
  p.detect.cursor = "updated_at";
  p.target.key = {"id"};
  auto text = [](const std::vector<Advice>& v) {
    std::string out;
    for (const auto& a : v) out += std::string(advice_kind(a.kind)) + ": " + a.text + "\n";
    return out;
  };
  const std::string risky = text(advise(
      p, table(1000000, {{"id", "bigint", true, true, ""}, {"updated_at", "timestamp with time zone", false, false, ""}})));
  CHECK_THAT(risky, Catch::Contains(R"(advice: no index leads with updated_at, so each run scans the table: CREATE INDEX ON "public"."orders" ("updated_at");)") &&
                        Catch::Contains("risk: updated_at may be NULL") && Catch::Contains("risk: updated_at has no DEFAULT now()") &&
                        Catch::Contains("watermarks cannot see deletes"));
  const std::string fine = text(advise(
      p, table(1000000, {{"id", "bigint", true, true, ""}, {"updated_at", "timestamp with time zone", true, true, "now()"}})));
  CHECK_THAT(fine, Catch::Contains("ok: an index leads with the cursor updated_at") && !Catch::Contains("risk:"));
  CHECK_THAT(text(advise(p, table(300, {{"id", "bigint", true, true, ""}, {"updated_at", "timestamp with time zone", true, true, "now()"}}))),
             Catch::Contains("strategy full would be as cheap"));
  p.detect.strategy = "cdc";
  InspectedTable no_key = table(1000000, {{"v", "text", false, false, ""}}, {});
  no_key.wal_level = "replica";
  CHECK_THAT(text(advise(p, no_key)), Catch::Contains("risk: wal_level is replica") &&
                                          Catch::Contains("risk: no replica identity") &&
                                          Catch::Contains("risk: the table has no primary key"));
}

TEST_CASE("advise: strategy id on a text cursor is a risk, and a plain timestamp cursor's zone is named with its origin",
          "[unit][init][tz]") {
  auto text = [](const std::vector<Advice>& v) {
    std::string out;
    for (const auto& a : v) out += std::string(advice_kind(a.kind)) + ": " + a.text + "\n";
    return out;
  };
  PipelineConfig p;
  p.name = "codes";
  p.detect.strategy = "id";
  p.detect.cursor = "code";
  p.target.key = {"code"};
  const std::string id_text = text(advise(p, table(1000000, {{"code", "text", true, true, ""}}, {"code"})));
  CHECK_THAT(id_text, Catch::Contains("risk: code has type text: strategy id follows an integer column"));
  CHECK_THAT(text(advise(p, table(1000000, {{"code", "bigint", true, true, "nextval('s'::regclass)"}}, {"code"}))),
             !Catch::Contains("has type"));

  p.detect.strategy = "updated_at";
  p.detect.cursor = "upd";
  p.target.key = {"id"};
  InspectedTable t = table(1000000, {{"id", "bigint", true, true, ""},
                                     {"upd", "timestamp without time zone", true, true, "now()"}});
  t.session_time_zone = "America/Chicago";
  CHECK_THAT(text(advise(p, t)),
             Catch::Contains("advice: upd is a timestamp without time zone: its values are read as wall-clock time in "
                             "America/Chicago (the TimeZone a fresh session of the source connection gets)"));
  p.detect.time_zone = "Asia/Tokyo";
  CHECK_THAT(text(advise(p, t)), Catch::Contains("wall-clock time in Asia/Tokyo (detect.time_zone)"));
  t.columns[1].type = "timestamp with time zone";
  CHECK_THAT(text(advise(p, t)), !Catch::Contains("wall-clock"));
}

namespace {

// Catalog names a user may really have, each hostile to naive YAML or SQL quoting.
const std::vector<std::string> kHostile = {
    "My Table", "Order \"Lines\"", "Sales EU", "a.b", "a.b.c", ".", "..", "\"", "\"\"", "Größe", "注文", "ü\u2028x",
    ": # [ ] { } , & * ! | > ' % @", "a: b", "a:b", "#x", "x #y", "[x]", "{x}", "a,b", "&a", "*a", "!t", "!!str",
    "|p", ">f", "'q", "q'", "%p", "@a", "`b", "?q", "-lead", "- x", "-", "---", "...", "yes", "no", "Y", "on", "OFF",
    "null", "Null", "~", "true", "False", "123", "-1", "1e3", "0x1f", "0o17", ".5", ".inf", "12:30", "2024-01-01",
    " lead", "trail ", "a\nb", "tab\tx", "cr\rx", "a\\b", "$HOME", "${SOURCE_DSN}", "$$", "${", "a$", "<<", "=",
    std::string(63, 'x'), std::string(80, 'y') + " z"};

}  // namespace

TEST_CASE("init: the config it prints passes validation and reads back unchanged for hostile identifiers",
          "[unit][init]") {
  ::setenv("SOURCE_DSN", "host=a", 1);
  ::setenv("WAREHOUSE_DSN", "host=b", 1);
  for (const auto& h : kHostile) {
    for (int shape = 0; shape < 3; ++shape) {
      INFO("identifier [" << h << "], shape " << shape);
      // 0: updated_at on a hostile cursor and key; 1: id on a hostile sequence key; 2: full, no key.
      InspectedTable t;
      t.table = shape == 1 ? QualifiedName{"", h} : QualifiedName{h, h};
      t.estimated_rows = 1000000;
      t.columns = {{h, "bigint", true, true, shape == 1 ? "nextval('s'::regclass)" : ""},
                   {"updated " + h, shape == 0 ? "timestamp with time zone" : "text", true, true, "now()"}};
      if (shape < 2) t.primary_key = {h};
      const QualifiedName target{h + " target", h};
      const std::string name = default_pipeline_name(t.table);
      std::string yaml;
      REQUIRE_NOTHROW(yaml = init_config(t, name, target));
      INFO(yaml);
      Config cfg;
      REQUIRE_NOTHROW(cfg = parse_config(yaml, "init.yaml"));
      const PipelineConfig& p = cfg.pipelines.at(0);
      CHECK(p.name == name);
      REQUIRE(p.source.table);
      CHECK(p.source.table->schema == t.table.schema);
      CHECK(p.source.table->name == h);
      CHECK(p.target.table.schema == target.schema);
      CHECK(p.target.table.name == h);
      CHECK(p.target.key == t.primary_key);
      CHECK(p.detect.strategy == (shape == 0 ? "updated_at" : shape == 1 ? "id" : "full"));
      CHECK(p.detect.cursor == (shape == 0 ? "updated " + h : shape == 1 ? h : ""));
      CHECK(p.target.create);
    }
  }
  ::unsetenv("SOURCE_DSN");
  ::unsetenv("WAREHOUSE_DSN");
}

TEST_CASE("init: the default pipeline name is a valid one derived from the table's name", "[unit][init]") {
  CHECK(default_pipeline_name(QualifiedName{"", "orders"}) == "orders");
  CHECK(default_pipeline_name(QualifiedName{"", "My Table"}) == "My_Table");
  CHECK(default_pipeline_name(QualifiedName{"Sales EU", "Order \"Lines\""}) == "Order_Lines");
  CHECK(default_pipeline_name(QualifiedName{"", "-lead"}) == "lead");
  CHECK(default_pipeline_name(QualifiedName{"", "注文"}) == "pipeline");
  CHECK(default_pipeline_name(QualifiedName{"", std::string(80, 'y')}).size() == 63);
  for (const auto& h : kHostile) {
    INFO(h);
    CHECK(valid_pipeline_name(default_pipeline_name(QualifiedName{"", h})));
  }
  // A name the validator would reject is refused, not printed.
  CHECK_THROWS_AS(init_config(table(50000, {{"id", "bigint", true, true, ""}}), "My Table", QualifiedName{"a", "o"}),
                  ConfigError);
}

TEST_CASE("init: a table that was never analysed is never called empty", "[unit][init]") {
  InspectedTable never = table(200000, {{"id", "bigint", true, true, "nextval('s'::regclass)"}});
  never.analysed = false;
  CHECK_THAT(init_config(never, "o", QualifiedName{"a", "o"}),
             Catch::Contains("about 200000 rows (the planner's estimate") && Catch::Contains("not been analysed") &&
                 !Catch::Contains("about 0 rows") && !Catch::Contains("{strategy: full}"));
  InspectedTable empty = table(0, {{"id", "bigint", true, true, ""}});
  empty.rows_exact = true;
  empty.analysed = false;
  CHECK_THAT(init_config(empty, "o", QualifiedName{"a", "o"}), Catch::Contains(", 0 rows.") && !Catch::Contains("about"));
  InspectedTable unknown = table(-1, {{"id", "bigint", true, true, ""}});
  unknown.analysed = false;
  CHECK_THAT(init_config(unknown, "o", QualifiedName{"a", "o"}), Catch::Contains("an unknown number of rows (not yet analysed)"));
}
