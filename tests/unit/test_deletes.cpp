// Soft deletes and reconcile, pure parts: the statements every write mode runs for
// detect.soft_delete, and the config rules of soft_delete and reconcile (docs/deletes.md).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/writer.hpp"
#include "unit/config_error.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

using Effect = WriteStatement::Effect;

WriteInput soft_input() {
  WriteInput in;
  in.target = QualifiedName{"analytics", "orders"};
  in.stage = "_tm_stage";
  in.columns = {"id", "amount", "deleted_at"};
  in.key = {"id"};
  in.order_column = "deleted_at";
  in.soft_delete_column = "deleted_at";
  return in;
}

const std::string kNewest =
    R"((SELECT DISTINCT ON (s."id") s."id", s."amount", s."deleted_at" FROM _tm_stage AS s )"
    R"(ORDER BY s."id", s."deleted_at" DESC NULLS LAST, s.ctid DESC) AS d)";
const std::string kDeleteTarget =
    R"(DELETE FROM "analytics"."orders" AS t USING )" + kNewest + R"( WHERE t."id" = d."id" AND d."deleted_at" IS NOT NULL)";
const std::string kDropFromStage =
    R"(DELETE FROM _tm_stage AS x USING )" + kNewest + R"( WHERE x."id" = d."id" AND d."deleted_at" IS NOT NULL)";

std::vector<WriteStatement> statements(const std::string& mode, const WriteInput& in) {
  const Writer* w = find_writer(mode);
  REQUIRE(w != nullptr);
  return w->statements(in);
}

std::string config(const std::string& detect_extra, const std::string& write = "upsert",
                   const std::string& pipeline_extra = "", const std::string& strategy = "updated_at") {
  return "connections: {db: ''}\npipelines:\n  - name: orders\n    source: {connection: db, table: public.orders}\n"
         "    detect: {strategy: " + strategy + (strategy == "full" ? "" : ", cursor: updated_at") + detect_extra +
         "}\n    target: {connection: db, table: public.orders_copy, key: [id], write: " + write + "}\n" + pipeline_extra;
}

std::string config_error(const std::string& text) { return tmtest::config_error_in(text, "p.yaml"); }

}  // namespace

TEST_CASE("deletes: with soft_delete every keyed write mode first deletes the target rows of deleted keys, counted "
          "as deleted, then drops them from the stage",
          "[unit][deletes]") {
  for (const char* mode : {"upsert", "delete_insert", "append"}) {
    INFO(mode);
    const auto out = statements(mode, soft_input());
    REQUIRE(out.size() >= 3);
    CHECK(out[0].effect == Effect::kDeleted);
    CHECK(out[0].sql.display() == kDeleteTarget);
    CHECK(out[1].effect == Effect::kNone);
    CHECK(out[1].sql.display() == kDropFromStage);
    // The mode's own statements follow, unchanged.
    WriteInput plain = soft_input();
    plain.soft_delete_column.reset();
    const auto rest = statements(mode, plain);
    REQUIRE(out.size() == rest.size() + 2);
    for (size_t i = 0; i < rest.size(); ++i) CHECK(out[i + 2].sql.display() == rest[i].sql.display());
  }
}

TEST_CASE("deletes: the newest staged row of a key decides, so a row deleted and then restored in one delta stays",
          "[unit][deletes]") {
  // The predicate is applied after DISTINCT ON (newest first), never before it.
  const auto out = statements("upsert", soft_input());
  CHECK_THAT(out[0].sql.display(), Contains(") AS d WHERE") && Contains("DESC NULLS LAST"));
  CHECK_THAT(out[0].sql.display(), !Contains("s.\"deleted_at\" IS NOT NULL"));
}

TEST_CASE("deletes: a boolean soft_delete column means deleted when true; without dedupe the stage is filtered directly",
          "[unit][deletes]") {
  WriteInput in = soft_input();
  in.columns = {"id", "amount", "is_deleted"};
  in.soft_delete_column = "is_deleted";
  in.soft_delete_boolean = true;
  in.dedupe = false;
  const auto out = statements("delete_insert", in);
  CHECK(out[0].sql.display() ==
        R"(DELETE FROM "analytics"."orders" AS t USING (SELECT s."id", s."amount", s."is_deleted" FROM _tm_stage AS s) )"
        R"(AS d WHERE t."id" = d."id" AND d."is_deleted" IS TRUE)");
  CHECK(out[1].sql.display() == R"(DELETE FROM _tm_stage AS x WHERE x."is_deleted" IS TRUE)");
}

TEST_CASE("deletes: without soft_delete the writers' statements are unchanged", "[unit][deletes]") {
  WriteInput in = soft_input();
  in.soft_delete_column.reset();
  for (const char* mode : {"upsert", "delete_insert", "append", "full_refresh"}) {
    INFO(mode);
    for (const auto& s : statements(mode, in)) CHECK_THAT(s.sql.display(), !Contains("IS NOT NULL"));
  }
  CHECK(soft_delete_statements(in).empty());
}

TEST_CASE("deletes: a direct load (no staging table) leaves soft-deleted rows out of the extract", "[unit][deletes]") {
  WriteInput in = soft_input();
  Sql select("SELECT \"id\", \"amount\", \"deleted_at\" FROM \"public\".\"orders\" WHERE \"id\" > ");
  select.value("10");
  CHECK(without_soft_deleted(select, in).display() ==
        R"(SELECT _tm_sd."id", _tm_sd."amount", _tm_sd."deleted_at" FROM (SELECT "id", "amount", "deleted_at" FROM )"
        R"("public"."orders" WHERE "id" > '10') AS _tm_sd WHERE NOT (_tm_sd."deleted_at" IS NOT NULL))");
  in.soft_delete_column.reset();
  CHECK(without_soft_deleted(select, in).display() == select.display());
}

TEST_CASE("deletes: soft_delete and reconcile parse into the typed config", "[unit][deletes][config]") {
  Config cfg = parse_config(config(", soft_delete: {column: deleted_at}", "upsert",
                                   "    reconcile: {every: 24, max_delete_ratio: 0.05}\n"),
                            "p.yaml");
  const PipelineConfig& p = cfg.pipelines[0];
  REQUIRE(p.detect.soft_delete);
  CHECK(p.detect.soft_delete->column == "deleted_at");
  CHECK(p.detect.soft_delete->mode == SoftDeleteConfig::Mode::kDelete);
  REQUIRE(p.reconcile);
  CHECK(p.reconcile->every == 24);
  CHECK(p.reconcile->max_delete_ratio == Approx(0.05));
  Config mark = parse_config(config(", soft_delete: {column: is_deleted, mode: mark}") , "p.yaml");
  CHECK(mark.pipelines[0].detect.soft_delete->mode == SoftDeleteConfig::Mode::kMark);
  Config only_ratio = parse_config(config("", "upsert", "    reconcile: {max_delete_ratio: 1}\n"), "p.yaml");
  CHECK(only_ratio.pipelines[0].reconcile->every == 0);
  CHECK_FALSE(parse_config(config(""), "p.yaml").pipelines[0].reconcile);
}

TEST_CASE("deletes: soft_delete and reconcile are refused where they cannot work, with the field named",
          "[unit][deletes][config]") {
  CHECK_THAT(config_error(config(", soft_delete: {column: deleted_at}", "full_refresh", "", "full")),
             Contains("detect.soft_delete: only for strategies id and updated_at"));
  CHECK_THAT(config_error(config(", soft_delete: {column: deleted_at, mode: hide}")),
             Contains("detect.soft_delete.mode: must be delete or mark"));
  CHECK_THAT(config_error(config(", soft_delete: {mode: mark}")), Contains("detect.soft_delete.column: required"));
  CHECK_THAT(config_error(config(", soft_delete: {column: deleted_at, colum: x}")),
             Contains("detect.soft_delete.colum: unknown key"));
  CHECK_THAT(config_error(config(", soft_delete: {column: deleted_at, mode: mark}", "append")),
             Contains("mode mark needs a write mode that updates rows"));
  CHECK_THAT(config_error(config(", soft_delete: {column: id}")), Contains("is the cursor or a key column"));
  std::string cols = config(", soft_delete: {column: deleted_at}");
  cols.replace(cols.find("table: public.orders}"), 21, "table: public.orders, columns: [id, updated_at]}");
  CHECK_THAT(config_error(cols), Contains("source.columns: the soft_delete column 'deleted_at' must be among the columns"));
  CHECK_THAT(config_error(config("", "full_refresh", "    reconcile: {every: 3}\n", "full")),
             Contains("reconcile: only for strategies id and updated_at"));
  CHECK_THAT(config_error(config("", "upsert", "    reconcile: {every: 0}\n")),
             Contains("reconcile.every: must be a positive number of runs"));
  CHECK_THAT(config_error(config("", "upsert", "    reconcile: {max_delete_ratio: 1.5}\n")),
             Contains("reconcile.max_delete_ratio: must be more than 0 and at most 1"));
  CHECK_THAT(config_error(config("", "upsert", "    reconcile: {max_delete_ratio: lots}\n")),
             Contains("reconcile.max_delete_ratio: must be a number"));
  CHECK_THAT(config_error(config("", "upsert", "    reconcile: {evry: 3}\n")),
             Contains("reconcile.evry: unknown key") && Contains("did you mean 'every'"));
}
