// The comparison SQL shared by verify (whole rows) and reconcile (keys): one summary of count
// and hash sum, and the filters reconcile compares under.
#include <catch2/catch.hpp>

#include "tidemark/compare.hpp"

using namespace tidemark;
using namespace tidemark::compare;

TEST_CASE("compare sql: verify and reconcile summarise a set by the same count and hash sum", "[unit][compare]") {
  CHECK(count_and_hash("v::text") == "count(*), coalesce(sum(hashtextextended(v::text, 0)), 0)::text");
  const RowSet rows{R"("s"."t")", {"id", "v"}, Sql("\"id\" > ").value("5")};
  CHECK(summary(rows).display() ==
        R"(SELECT count(*), coalesce(sum(hashtextextended(v::text, 0)), 0)::text FROM (SELECT "id", "v" FROM "s"."t" WHERE "id" > '5') AS v)");
  KeySet keys{R"("s"."t")", {"id"}, Sql(), false, true};
  CHECK(key_root(keys).display().find(count_and_hash("q.\"id\"::text")) != std::string::npos);
}

TEST_CASE("compare sql: verify lists each row's key and md5, ordered by the key", "[unit][compare]") {
  const RowSet rows{"(SELECT 1 AS a) AS _tm_src", {"a", "b"}, std::nullopt};
  CHECK(keyed_hashes(rows, {"a"}).display() ==
        R"(SELECT v."a", md5(v::text) FROM (SELECT "a", "b" FROM (SELECT 1 AS a) AS _tm_src) AS v ORDER BY v."a")");
}

TEST_CASE("compare sql: reconcile ranges an integer key by its value and any other key by its hash",
          "[unit][compare]") {
  KeySet ints{R"("s"."t")", {"id"}, Sql("\"at\" <= ").value("9"), false, true};
  CHECK(key_root(ints).display() ==
        R"(SELECT count(*), coalesce(sum(hashtextextended(q."id"::text, 0)), 0)::text, min(q."id")::int8, )"
        R"(max(q."id")::int8 FROM (SELECT "id" FROM "s"."t" WHERE "at" <= '9') AS q)");
  CHECK(key_buckets(ints, -5, 6, {{-5, 58}, {100, 163}}).display() ==
        R"(SELECT div(q."id"::numeric - -5, 64)::text, count(*), coalesce(sum(hashtextextended(q."id"::text, 0)), 0)::text )"
        R"(FROM (SELECT "id" FROM "s"."t" WHERE "at" <= '9') AS q WHERE (q."id" BETWEEN '-5'::int8 AND '58'::int8 OR )"
        R"(q."id" BETWEEN '100'::int8 AND '163'::int8) GROUP BY 1)");
  KeySet pair{"(q) AS _tm_src", {"a", "b"}, Sql(), true, false};
  CHECK(key_values(pair, {{1, 2}}).display() ==
        R"(SELECT q."a"::text, q."b"::text FROM (SELECT DISTINCT "a", "b" FROM (q) AS _tm_src) AS q WHERE )"
        R"((hashtextextended(ROW(q."a", q."b")::text, 0) BETWEEN '1'::int8 AND '2'::int8))");
  CHECK(key_values(pair, {}).display().find("WHERE false") != std::string::npos);
}

TEST_CASE("compare sql: only one integer key column is its own partition value", "[unit][compare]") {
  CHECK(integer_partition({"id"}, std::string("bigint")));
  CHECK(integer_partition({"id"}, std::string("smallint")));
  CHECK_FALSE(integer_partition({"id"}, std::string("numeric")));
  CHECK_FALSE(integer_partition({"id", "b"}, std::string("integer")));
  CHECK_FALSE(integer_partition({"id"}, std::nullopt));
}

TEST_CASE("compare sql: reconcile compares the rows at or below the safe mark, alive ones on the source",
          "[unit][compare]") {
  Watermark one;
  one.columns = {"id"};
  one.safe = Tuple{"42"};
  CHECK(settled(one, {"bigint"}, false).display() == R"(("id" <= CAST('42' AS bigint)))");
  Watermark two;
  two.columns = {"updated_at", "id"};
  two.safe = Tuple{"2024-01-01", "7"};
  CHECK(settled(two, {"timestamptz", "int"}, true).display() ==
        R"((ROW("updated_at", "id") <= ROW(CAST('2024-01-01' AS timestamptz), CAST('7' AS int)) OR "updated_at" IS NULL))");
  CHECK(alive("deleted", "boolean").display() == R"("deleted" IS NOT TRUE)");
  CHECK(alive("deleted_at", "timestamp with time zone").display() == R"("deleted_at" IS NULL)");
  CHECK(both(Sql("a"), Sql("b")).display() == "(a AND b)");
  SourceConfig q;
  q.query = "SELECT 1";
  CHECK(source_relation(q) == "(SELECT 1) AS _tm_src");
  SourceConfig t;
  t.table = QualifiedName{"s", "t"};
  CHECK(source_relation(t) == R"("s"."t")");
}
