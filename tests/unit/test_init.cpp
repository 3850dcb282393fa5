// `tidemark init`: the strategy it recommends for a table, and why.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "tidemark/config.hpp"
#include "tidemark/inspect.hpp"

using namespace tidemark;

namespace {

InspectedTable table(int64_t rows, std::vector<InspectedColumn> cols, std::vector<std::string> pk = {"id"}) {
  return InspectedTable{QualifiedName{"public", "orders"}, std::move(cols), std::move(pk), rows};
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
