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

TEST_CASE("target schema: a missing schema is created before the table, and only when it is missing",
          "[unit][schema_change]") {
  TargetNamespace missing;
  missing.schema_exists = false;
  auto plan = plan_target_schema(pipeline(SchemaChange::kFail, true), kSource, std::nullopt, missing);
  REQUIRE(plan.ddl.size() == 2);
  CHECK(plan.ddl[0] == R"(CREATE SCHEMA IF NOT EXISTS "analytics")");
  CHECK_THAT(plan.ddl[1], Catch::StartsWith(R"(CREATE TABLE "analytics"."orders" ()"));
  CHECK(plan.notes == std::vector<std::string>{"created schema analytics",
                                               "created target table analytics.orders with the source's 4 column(s)"});
  // A hostile schema name is quoted in the DDL and shown as written in the note.
  auto odd = pipeline(SchemaChange::kFail, true);
  odd.target.table = QualifiedName{"Sales \"EU\"", "t"};
  auto quoted = plan_target_schema(odd, kSource, std::nullopt, missing);
  REQUIRE(quoted.ddl.size() == 2);
  CHECK(quoted.ddl[0] == R"(CREATE SCHEMA IF NOT EXISTS "Sales ""EU""")");
  CHECK(quoted.notes[0] == R"(created schema "Sales ""EU""")");
  // An existing schema is left alone: CREATE SCHEMA needs CREATE on the database even with IF NOT EXISTS.
  CHECK(plan_target_schema(pipeline(SchemaChange::kFail, true), kSource, std::nullopt).ddl.size() == 1);
  // A name without a schema goes to the first schema of search_path: nothing to create.
  auto bare = pipeline(SchemaChange::kFail, true);
  bare.target.table = QualifiedName{"", "orders"};
  CHECK(plan_target_schema(bare, kSource, std::nullopt, missing).ddl.size() == 1);
}

TEST_CASE("target schema: a role that may not create the missing schema is refused before any DDL, saying so",
          "[unit][schema_change]") {
  TargetNamespace denied{false, false, "loader", "warehouse"};
  auto plan = plan_target_schema(pipeline(SchemaChange::kFail, true), kSource, std::nullopt, denied);
  CHECK(plan.ddl.empty());
  CHECK(plan.notes.empty());
  REQUIRE(plan.error);
  CHECK_THAT(*plan.error, Catch::Contains("schema analytics does not exist") &&
                              Catch::Contains("role loader may not create schemas in database warehouse") &&
                              Catch::Contains("nothing was created") &&
                              Catch::Contains(R"(GRANT CREATE ON DATABASE "warehouse" TO "loader")"));
}
