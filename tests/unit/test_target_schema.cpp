// target.create and target.on_schema_change: the DDL that makes the target fit the source.
#include <catch2/catch.hpp>

#include "tidemark/target_schema.hpp"

using namespace tidemark;

namespace {

PipelineConfig pipeline(SchemaChange mode, bool create = false) {
  PipelineConfig p;
  p.name = "orders";
  p.detect.strategy = "updated_at";
  p.detect.cursor = "updated_at";
  p.target.table = QualifiedName{"analytics", "orders"};
  p.target.key = {"id"};
  p.target.create = create;
  p.target.on_schema_change = mode;
  return p;
}

const std::vector<ColumnInfo> kSource = {{"id", "bigint", "bigint", true},
                                         {"amount", "numeric", "numeric(12,2)", false},
                                         {"updated_at", "timestamp with time zone", "timestamp with time zone", true},
                                         {"note", "text", "text", false}};

}  // namespace

TEST_CASE("target schema: a missing target is created from the source's exact types and key, if asked",
          "[unit][schema_change]") {
  auto plan = plan_target_schema(pipeline(SchemaChange::kFail, true), kSource, std::nullopt);
  REQUIRE(plan.ddl.size() == 1);
  CHECK(plan.ddl[0] == R"(CREATE TABLE "analytics"."orders" ("id" bigint NOT NULL, "amount" numeric(12,2), )"
                       R"("updated_at" timestamp with time zone NOT NULL, "note" text, PRIMARY KEY ("id")))");
  CHECK_FALSE(plan.error);
  auto refused = plan_target_schema(pipeline(SchemaChange::kFail), kSource, std::nullopt);
  REQUIRE(refused.error);
  CHECK_THAT(*refused.error, Catch::Contains("does not exist") && Catch::Contains("target.create: true"));
}

TEST_CASE("target schema: a new source column fails by default, is added, ignored, or synced as configured",
          "[unit][schema_change]") {
  const std::vector<TargetColumn> target = {
      {"id", "bigint"}, {"amount", "numeric(10,2)"}, {"updated_at", "timestamp with time zone"}, {"old", "text"}};
  auto fail = plan_target_schema(pipeline(SchemaChange::kFail), kSource, target);
  REQUIRE(fail.error);
  CHECK_THAT(*fail.error, Catch::Contains("lacks source column(s): note") &&
                              Catch::Contains("on_schema_change: append_new_columns"));
  auto append = plan_target_schema(pipeline(SchemaChange::kAppendNewColumns), kSource, target);
  CHECK(append.ddl == std::vector<std::string>{R"(ALTER TABLE "analytics"."orders" ADD COLUMN "note" text)"});
  auto ignore = plan_target_schema(pipeline(SchemaChange::kIgnore), kSource, target);
  CHECK(ignore.ddl.empty());
  CHECK(ignore.ignored == std::vector<std::string>{"note"});
  auto sync = plan_target_schema(pipeline(SchemaChange::kSyncAllColumns), kSource, target);
  CHECK(sync.ddl == std::vector<std::string>{
                        R"(ALTER TABLE "analytics"."orders" ALTER COLUMN "amount" TYPE numeric(12,2) USING "amount"::numeric(12,2))",
                        R"(ALTER TABLE "analytics"."orders" ADD COLUMN "note" text)",
                        R"(ALTER TABLE "analytics"."orders" DROP COLUMN "old")"});
  // The cursor or key cannot be left out.
  auto no_cursor = plan_target_schema(pipeline(SchemaChange::kIgnore), kSource, std::vector<TargetColumn>{{"id", "bigint"}});
  REQUIRE(no_cursor.error);
  CHECK_THAT(*no_cursor.error, Catch::Contains("cursor or key"));
  // Nothing to do: nothing done.
  const std::vector<TargetColumn> same = {{"id", "bigint"}, {"amount", "numeric(12,2)"},
                                          {"updated_at", "timestamp with time zone"}, {"note", "text"}};
  auto none = plan_target_schema(pipeline(SchemaChange::kSyncAllColumns), kSource, same);
  CHECK(none.ddl.empty());
  CHECK_FALSE(none.error);
}
