// Strategy cdc, the pure part: wal2json records, positions, staging rows, the apply SQL.
#include <catch2/catch.hpp>

#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"

using namespace tidemark;
using namespace tidemark::cdc;

TEST_CASE("cdc: LSNs read and print in PostgreSQL's X/Y form", "[unit][cdc]") {
  CHECK(parse_lsn("16/B374D848") == 0x16B374D848ull);
  CHECK(parse_lsn("0/0") == 0ull);
  CHECK(lsn_text(0x16B374D848ull) == "16/B374D848");
  CHECK(lsn_text(*parse_lsn("2/90c14a08")) == "2/90C14A08");
  for (const char* bad : {"", "16", "/1", "1/", "G/1", "1/2/3", "123456789/1"}) CHECK_FALSE(parse_lsn(bad));
}

TEST_CASE("cdc: a wal2json record keeps exact numbers, NULLs, the old key and the commit position", "[unit][cdc]") {
  const Change b = parse_change(R"({"action":"B","xid":73602,"lsn":"2/90C149D8","nextlsn":"2/90C14A08"})");
  CHECK(b.action == 'B');
  CHECK(b.xid == 73602);
  CHECK(b.next_lsn == *parse_lsn("2/90C14A08"));
  const Change u = parse_change(
      R"({"action":"U","xid":7,"schema":"s","table":"t","columns":[{"name":"id","value":10},)"
      R"({"name":"n","value":12345678901234567890.1234567890},{"name":"v","value":null},{"name":"ok","value":true},)"
      R"({"name":"j","value":"{\"a\": [1, 2]}"}],"identity":[{"name":"id","value":1}]})");
  CHECK(u.action == 'U');
  REQUIRE(u.columns.size() == 5);
  CHECK(u.columns[1].second == "12345678901234567890.1234567890");
  CHECK_FALSE(u.columns[2].second);
  CHECK(u.columns[3].second == "true");
  CHECK(u.columns[4].second == R"({"a": [1, 2]})");
  REQUIRE(u.identity.size() == 1);
  CHECK(u.identity[0] == std::make_pair(std::string("id"), std::optional<std::string>("1")));
  CHECK_THROWS_AS(parse_change("{not json"), RunError);
  CHECK_THROWS_AS(parse_change("{}"), RunError);
}

TEST_CASE("cdc: COPY text fields are read back exactly", "[unit][cdc]") {
  CHECK(copy_unescape(R"({"v":"a\\tb"})") == R"({"v":"a\tb"})");
  CHECK(copy_unescape("x\\ty\\nz\\\\") == "x\ty\nz\\");
  CHECK(copy_unescape("\\101") == "A");
}

TEST_CASE("cdc: the position is stored as a watermark and read back", "[unit][cdc]") {
  const Position between{0x290C14A08ull, std::nullopt, 0};
  CHECK(to_watermark(between).safe == Tuple{"2/90C14A08"});
  CHECK(from_watermark(to_watermark(between)).lsn == between.lsn);
  const Position inside{0x290C14A08ull, 73602, 300};
  CHECK(to_watermark(inside).safe == Tuple{"2/90C14A08", "73602", "300"});
  const Position back = from_watermark(to_watermark(inside));
  CHECK(back.xid == 73602);
  CHECK(back.applied == 300);
  Watermark other;
  other.columns = {"updated_at", "id"};
  other.safe = Tuple{"2024-01-01", "5"};
  CHECK_THROWS_WITH(from_watermark(other), Catch::Contains("--full-refresh"));
}

TEST_CASE("cdc: a key update stages a delete of the old key before the new row; left-out columns are listed",
          "[unit][cdc]") {
  const std::vector<std::string> cols = {"id", "v", "big"}, key = {"id"};
  int64_t seq = 7;
  Change u;
  u.action = 'U';
  u.columns = {{"id", "10"}, {"v", "a\tb"}};
  u.identity = {{"id", "1"}};
  const auto lines = stage_lines(u, cols, key, seq);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "1\t\\N\t\\N\t7\tD\t{}");
  CHECK(lines[1] == "10\ta\\tb\t\\N\t8\tU\t{\"big\"}");
  CHECK(seq == 9);
  Change d;
  d.action = 'D';
  d.identity = {{"id", "3"}};
  CHECK(stage_lines(d, cols, key, seq) == std::vector<std::string>{"3\t\\N\t\\N\t9\tD\t{}"});
  Change nokey;
  nokey.action = 'D';
  nokey.identity = {{"other", "3"}};
  CHECK_THROWS_WITH(stage_lines(nokey, cols, key, seq), Catch::Contains("lacks key column \"id\""));
  CHECK(touched_keys(u, key).size() == 2);
}

TEST_CASE("cdc: a batch applies as delete, update keeping left-out columns, insert", "[unit][cdc]") {
  const auto s = apply_statements(QualifiedName{"a", "t"}, "_tm_cdc", {"id", "v"}, {"id"});
  REQUIRE(s.size() == 4);
  CHECK(s[0].sql ==
        R"(CREATE TEMP TABLE _tm_last ON COMMIT DROP AS SELECT DISTINCT ON ("id") * FROM _tm_cdc ORDER BY "id", _tm_seq DESC)");
  CHECK(s[1].effect == ApplyStatement::Effect::kDeleted);
  CHECK(s[1].sql == R"(DELETE FROM "a"."t" AS t USING _tm_last AS s WHERE t."id" = s."id" AND s._tm_op = 'D')");
  CHECK(s[2].sql == R"(UPDATE "a"."t" AS t SET "v" = CASE WHEN 'v' = ANY (s._tm_missing) THEN t."v" ELSE s."v" END )"
                    R"(FROM _tm_last AS s WHERE t."id" = s."id" AND s._tm_op <> 'D')");
  CHECK(s[3].sql == R"(INSERT INTO "a"."t" ("id", "v") SELECT s."id", s."v" FROM _tm_last AS s WHERE s._tm_op <> 'D' )"
                    R"(AND NOT EXISTS (SELECT 1 FROM "a"."t" AS t WHERE t."id" = s."id"))");
  CHECK(slot_name("Orders-EU.v2", "") == "tidemark_orders_eu_v2");
  CHECK(slot_name("x", "mine") == "mine");
}
