// Write modes: the set-based statements that move the staging table into the target, and
// the config rules each mode states.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tidemark/writer.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

using Effect = WriteStatement::Effect;

WriteInput orders_input() {
  WriteInput in;
  in.target = QualifiedName{"analytics", "orders"};
  in.stage = "_tm_stage";
  in.columns = {"id", "amount", "updated_at"};
  in.key = {"id"};
  in.order_column = "updated_at";
  return in;
}

std::vector<WriteStatement> statements(const std::string& mode, const WriteInput& in) {
  const Writer* w = find_writer(mode);
  REQUIRE(w != nullptr);
  return w->statements(in);
}

const std::string kDedupedRows =
    R"(SELECT DISTINCT ON (s."id") s."id", s."amount", s."updated_at" FROM _tm_stage AS s )"
    R"(ORDER BY s."id", s."updated_at" DESC NULLS LAST, s.ctid DESC)";
const std::string kPlainRows = R"(SELECT s."id", s."amount", s."updated_at" FROM _tm_stage AS s)";
// Upsert first drops staged rows the target already holds unchanged (an anti-join).
std::string unchanged_dropped(const std::string& rows) {
  return R"(SELECT d."id", d."amount", d."updated_at" FROM ()" + rows +
         R"() AS d WHERE NOT EXISTS (SELECT 1 FROM "analytics"."orders" AS x WHERE x."id" = d."id" AND )"
         R"((x."amount", x."updated_at") IS NOT DISTINCT FROM (d."amount", d."updated_at")))";
}

PipelineConfig pipeline(const std::string& strategy, const std::string& write, std::vector<std::string> key) {
  PipelineConfig p;
  p.name = "orders";
  p.detect.strategy = strategy;
  p.detect.cursor = strategy == "full" ? "" : "id";
  p.target.connection = "warehouse";
  p.target.table = QualifiedName{"analytics", "orders"};
  p.target.key = std::move(key);
  p.target.write = write;
  return p;
}

}  // namespace

TEST_CASE("writers: upsert inserts new keys and updates only rows whose values changed", "[unit][writers]") {
  const auto out = statements("upsert", orders_input());
  REQUIRE(out.size() == 1);
  CHECK(out[0].effect == Effect::kWritten);
  CHECK(out[0].sql.values().empty());
  CHECK(out[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" AS t ("id", "amount", "updated_at") )" + unchanged_dropped(kDedupedRows) +
            R"( ON CONFLICT ("id") DO UPDATE SET "amount" = EXCLUDED."amount", "updated_at" = EXCLUDED."updated_at" )"
            R"(WHERE (t."amount", t."updated_at") IS DISTINCT FROM (EXCLUDED."amount", EXCLUDED."updated_at"))");
}

TEST_CASE("writers: without dedupe the staged rows are read as they are, with no DISTINCT ON", "[unit][writers]") {
  WriteInput in = orders_input();
  in.dedupe = false;
  const auto out = statements("upsert", in);
  REQUIRE(out.size() == 1);
  CHECK(out[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" AS t ("id", "amount", "updated_at") )" + unchanged_dropped(kPlainRows) +
            R"( ON CONFLICT ("id") DO UPDATE SET "amount" = EXCLUDED."amount", "updated_at" = EXCLUDED."updated_at" )"
            R"(WHERE (t."amount", t."updated_at") IS DISTINCT FROM (EXCLUDED."amount", EXCLUDED."updated_at"))");
  CHECK_THAT(out[0].sql.display(), !Contains("DISTINCT ON"));
}

TEST_CASE("writers: deduplication keeps the newest row per key by load order when there is no order column",
          "[unit][writers]") {
  WriteInput in = orders_input();
  in.order_column.reset();
  in.key = {"region", "id"};
  in.columns = {"region", "id", "amount"};
  const auto out = statements("upsert", in);
  CHECK(out[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" AS t ("region", "id", "amount") SELECT d."region", d."id", d."amount" FROM )"
        R"((SELECT DISTINCT ON (s."region", s."id") s."region", s."id", s."amount" FROM _tm_stage AS s )"
        R"(ORDER BY s."region", s."id", s.ctid DESC) AS d WHERE NOT EXISTS (SELECT 1 FROM "analytics"."orders" AS x )"
        R"(WHERE x."region" = d."region" AND x."id" = d."id" AND (x."amount") IS NOT DISTINCT FROM (d."amount")) )"
        R"(ON CONFLICT ("region", "id") DO UPDATE SET "amount" = EXCLUDED."amount" )"
        R"(WHERE (t."amount") IS DISTINCT FROM (EXCLUDED."amount"))");
}

TEST_CASE("writers: upsert does nothing on conflict when every column is a key column", "[unit][writers]") {
  WriteInput in = orders_input();
  in.columns = {"id", "tag"};
  in.key = {"id", "tag"};
  in.order_column.reset();
  const auto out = statements("upsert", in);
  REQUIRE(out.size() == 1);
  CHECK(out[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" AS t ("id", "tag") SELECT d."id", d."tag" FROM )"
        R"((SELECT DISTINCT ON (s."id", s."tag") s."id", s."tag" FROM _tm_stage AS s ORDER BY s."id", s."tag", s.ctid DESC) )"
        R"(AS d ON CONFLICT ("id", "tag") DO NOTHING)");
}

TEST_CASE("writers: delete_insert deletes the staged keys, then inserts the staged rows", "[unit][writers]") {
  const auto out = statements("delete_insert", orders_input());
  REQUIRE(out.size() == 2);
  CHECK(out[0].effect == Effect::kNone);  // replaced rows are not counted as deleted
  CHECK(out[0].sql.display() ==
        R"(DELETE FROM "analytics"."orders" AS t USING _tm_stage AS s WHERE t."id" = s."id")");
  CHECK(out[1].effect == Effect::kWritten);
  CHECK(out[1].sql.display() == R"(INSERT INTO "analytics"."orders" ("id", "amount", "updated_at") )" + kDedupedRows);

  WriteInput two = orders_input();
  two.key = {"region", "id"};
  CHECK(statements("delete_insert", two)[0].sql.display() ==
        R"(DELETE FROM "analytics"."orders" AS t USING _tm_stage AS s WHERE t."region" = s."region" AND t."id" = s."id")");
}

TEST_CASE("writers: delete_insert first deletes the whole range of a range run, counted as deleted",
          "[unit][writers]") {
  WriteInput in = orders_input();
  Sql range(R"("updated_at" >= CAST()");
  range.value(std::string("2024-01-01")).text(R"( AS timestamp with time zone) AND "updated_at" < CAST()");
  range.value(std::string("2024-02-01")).text(" AS timestamp with time zone)");
  in.target_range = range;
  const auto out = statements("delete_insert", in);
  REQUIRE(out.size() == 3);
  CHECK(out[0].effect == Effect::kDeleted);
  CHECK(out[0].sql.with_placeholders() ==
        R"(DELETE FROM "analytics"."orders" WHERE "updated_at" >= CAST($1 AS timestamp with time zone) AND "updated_at" < CAST($2 AS timestamp with time zone))");
  CHECK(out[0].sql.values() == std::vector<SqlValue>{"2024-01-01", "2024-02-01"});
  CHECK(out[1].effect == Effect::kNone);
  CHECK_THAT(out[1].sql.display(), Contains("USING _tm_stage AS s"));
  CHECK(out[2].effect == Effect::kWritten);
  CHECK_THAT(out[2].sql.display(), Contains("INSERT INTO"));
}

TEST_CASE("writers: append inserts only keys the target lacks, through a NOT EXISTS anti-join", "[unit][writers]") {
  const auto out = statements("append", orders_input());
  REQUIRE(out.size() == 1);
  CHECK(out[0].effect == Effect::kWritten);
  CHECK(out[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" ("id", "amount", "updated_at") )"
        R"(SELECT DISTINCT ON (s."id") s."id", s."amount", s."updated_at" FROM _tm_stage AS s )"
        R"(WHERE NOT EXISTS (SELECT 1 FROM "analytics"."orders" AS t WHERE t."id" = s."id") )"
        R"(ORDER BY s."id", s."updated_at" DESC NULLS LAST, s.ctid DESC)");
  WriteInput plain = orders_input();
  plain.dedupe = false;
  CHECK(statements("append", plain)[0].sql.display() ==
        R"(INSERT INTO "analytics"."orders" ("id", "amount", "updated_at") SELECT s."id", s."amount", s."updated_at" )"
        R"(FROM _tm_stage AS s WHERE NOT EXISTS (SELECT 1 FROM "analytics"."orders" AS t WHERE t."id" = s."id"))");
}

TEST_CASE("writers: full_refresh empties the target, then inserts every staged row", "[unit][writers]") {
  WriteInput in = orders_input();
  in.key.clear();
  in.order_column.reset();
  const auto out = statements("full_refresh", in);
  REQUIRE(out.size() == 2);
  CHECK(out[0].effect == Effect::kDeleted);
  CHECK(out[0].sql.display() == R"(DELETE FROM "analytics"."orders")");
  CHECK(out[1].effect == Effect::kWritten);
  CHECK(out[1].sql.display() == R"(INSERT INTO "analytics"."orders" ("id", "amount", "updated_at") )" + kPlainRows);
  // With a key, duplicates are dropped.
  CHECK(statements("full_refresh", orders_input())[1].sql.display() ==
        R"(INSERT INTO "analytics"."orders" ("id", "amount", "updated_at") )" + kDedupedRows);
}

TEST_CASE("writers: quoted target names and columns stay quoted in every statement", "[unit][writers]") {
  WriteInput in;
  in.target = QualifiedName{"Sales EU", "or\"ders"};
  in.stage = "_tm_stage";
  in.columns = {"Order Id", "x"};
  in.key = {"Order Id"};
  in.dedupe = false;
  CHECK(statements("upsert", in)[0].sql.display() ==
        R"(INSERT INTO "Sales EU"."or""ders" AS t ("Order Id", "x") SELECT d."Order Id", d."x" FROM )"
        R"((SELECT s."Order Id", s."x" FROM _tm_stage AS s) AS d WHERE NOT EXISTS (SELECT 1 FROM "Sales EU"."or""ders" AS x )"
        R"(WHERE x."Order Id" = d."Order Id" AND (x."x") IS NOT DISTINCT FROM (d."x")) ON CONFLICT ("Order Id") DO UPDATE SET "x" = EXCLUDED."x" WHERE (t."x") IS DISTINCT FROM (EXCLUDED."x"))");
  CHECK(statements("delete_insert", in)[0].sql.display() ==
        R"(DELETE FROM "Sales EU"."or""ders" AS t USING _tm_stage AS s WHERE t."Order Id" = s."Order Id")");
}

TEST_CASE("writers: upsert, delete_insert and append require a key", "[unit][writers]") {
  for (const char* mode : {"upsert", "delete_insert", "append"}) {
    INFO("mode " << mode);
    const Writer* w = find_writer(mode);
    REQUIRE(w);
    CHECK(w->check(pipeline("id", mode, {"id"}), true).empty());
    const FieldProblems problems = w->check(pipeline("id", mode, {}), true);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].first == "target.key");
    CHECK(problems[0].second == std::string("required by write mode ") + mode + " (the columns that identify a row)");
  }
}

TEST_CASE("writers: append refuses state outside the target database; the other modes accept it", "[unit][writers]") {
  const FieldProblems append = find_writer("append")->check(pipeline("id", "append", {"id"}), false);
  REQUIRE(append.size() == 1);
  CHECK(append[0].first == "target.write");
  CHECK(append[0].second ==
        "append needs the state in the target database, so one transaction guards rows and watermark");
  CHECK(find_writer("append")->check(pipeline("id", "append", {}), false).size() == 2);
  CHECK(find_writer("upsert")->check(pipeline("id", "upsert", {"id"}), false).empty());
  CHECK(find_writer("delete_insert")->check(pipeline("id", "delete_insert", {"id"}), false).empty());
}

TEST_CASE("writers: full_refresh belongs to strategy full and needs no key", "[unit][writers]") {
  const Writer* w = find_writer("full_refresh");
  REQUIRE(w);
  CHECK(w->check(pipeline("full", "full_refresh", {}), true).empty());
  CHECK(w->check(pipeline("full", "full_refresh", {}), false).empty());
  const FieldProblems problems = w->check(pipeline("updated_at", "full_refresh", {"id"}), true);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].first == "target.write");
  CHECK_THAT(problems[0].second, Contains("run `tidemark run --full-refresh`"));
}

TEST_CASE("writers: write modes and strategies are listed and found by exact name", "[unit][writers]") {
  CHECK(writer_names() == std::vector<std::string>{"upsert", "delete_insert", "append", "full_refresh", "partition_overwrite"});
  CHECK(strategy_names() == std::vector<std::string>{"id", "updated_at", "full", "files", "cdc"});
  for (const auto& name : writer_names()) {
    const Writer* w = find_writer(name);
    REQUIRE(w);
    CHECK(w->name() == name);
  }
  CHECK(find_writer("merge") == nullptr);
  CHECK(find_writer("Upsert") == nullptr);
  CHECK(find_writer("") == nullptr);
}

TEST_CASE("writers: upsert compares columns without an equality operator as text", "[unit][writers]") {
  WriteInput in = orders_input();
  in.columns = {"id", "doc", "amount"};
  in.text_compare = {"doc"};
  const auto st = statements("upsert", in);
  REQUIRE(st.size() == 1);
  CHECK_THAT(st[0].sql.display(),
             Contains(R"(WHERE (t."doc"::text, t."amount") IS DISTINCT FROM (EXCLUDED."doc"::text, EXCLUDED."amount"))"));
}

TEST_CASE("writers: upsert probes for unchanged rows only among possible re-reads", "[unit][writers]") {
  WriteInput in = orders_input();
  in.dedupe = false;
  in.reread = WriteInput::Reread::kNone;  // a first run: nothing can be a re-read
  CHECK_THAT(statements("upsert", in)[0].sql.display(), !Contains("NOT EXISTS"));
  in.reread = WriteInput::Reread::kUpToBound;  // only rows at or below the stored high
  in.reread_bound = Sql("CAST(").value("2024-05-01 10:00:00+00").text(" AS timestamp with time zone)");
  const auto st = statements("upsert", in);
  CHECK_THAT(st[0].sql.display(),
             Contains(R"(WHERE d."updated_at" > CAST('2024-05-01 10:00:00+00' AS timestamp with time zone) OR NOT EXISTS)"));
  CHECK(st[0].sql.values().size() == 1);  // the bound is a value, never pasted into the text
}
