// The reconcile descent: differing ranges are split until small, equal ones pruned, then their
// keys read; and the guard rails that refuse a delete (docs/deletes.md#reconcile).
#include <catch2/catch.hpp>

#include "tidemark/reconcile_descent.hpp"

using namespace tidemark;
using namespace tidemark::reconcile;
using Catch::Contains;

namespace {

RangeStats root(int64_t count, const std::string& hash, int64_t min, int64_t max) {
  return RangeStats{count, hash, min, max};
}
RangeStats stats(int64_t count, const std::string& hash = "h") { return RangeStats{count, hash, {}, {}}; }

using Buckets = std::vector<std::pair<uint64_t, RangeStats>>;

}  // namespace

TEST_CASE("reconcile descent: ranges are equal when count and hash are", "[unit][reconcile]") {
  CHECK(same(stats(3, "10"), stats(3, "10")));
  CHECK_FALSE(same(stats(3, "10"), stats(3, "11")));
  CHECK_FALSE(same(stats(3, "10"), stats(4, "10")));
}

TEST_CASE("reconcile descent: a small differing root has its keys read at once", "[unit][reconcile]") {
  Descent d(root(100, "1", 1, 100), root(101, "2", 1, 120));
  CHECK_FALSE(d.next_level());
  CHECK(d.levels() == 0);
  REQUIRE(d.fetches().size() == 1);
  CHECK(d.fetches()[0] == std::vector<ValueRange>{{1, 120}});
}

TEST_CASE("reconcile descent: differing ranges are split 64-way until small, equal ones are pruned",
          "[unit][reconcile]") {
  Descent d(root(10000, "1", 1, 10000), root(10001, "2", 1, 10000));
  // 2^14 > 9999: the root is one bucket of width 2^14; the first level has width 2^8.
  auto level = d.next_level();
  REQUIRE(level);
  CHECK(level->lo == 1);
  CHECK(level->shift == 8);
  CHECK(level->within == std::vector<ValueRange>{{1, 10000}});
  Buckets s, t;
  for (uint64_t id = 0; id < 39; ++id) {
    s.push_back({id, stats(256)});
    t.push_back({id, stats(256)});
  }
  t[3].second = stats(255);          // small: read
  t[5].second = stats(600, "other");  // large: split again
  s[5].second = stats(600);
  t.push_back({39, stats(16)});       // only in the target
  CHECK(d.compared(s, t) == 40);
  CHECK(d.to_split() == 1);
  CHECK(d.to_read() == 2);
  level = d.next_level();
  REQUIRE(level);
  CHECK(level->shift == 2);
  CHECK(level->within == std::vector<ValueRange>{{1 + 5 * 256, 1 + 6 * 256 - 1}});
  CHECK(d.compared({{322, stats(4)}, {323, stats(4)}}, {{322, stats(3)}, {323, stats(4)}}) == 2);
  CHECK_FALSE(d.next_level());
  CHECK(d.levels() == 2);
  REQUIRE(d.fetches().size() == 1);
  // The last bucket is clipped to the root's upper end.
  CHECK(d.fetches()[0] == std::vector<ValueRange>{{769, 1024}, {9985, 10000}, {1289, 1292}});
}

TEST_CASE("reconcile descent: a range of one value is read however many keys it holds", "[unit][reconcile]") {
  Descent d(root(1000, "1", 0, 63), root(1001, "2", 0, 63));
  auto level = d.next_level();
  REQUIRE(level);
  CHECK(level->shift == 0);
  d.compared({{5, stats(600)}}, {{5, stats(601)}});
  CHECK_FALSE(d.next_level());
  CHECK(d.fetches()[0] == std::vector<ValueRange>{{5, 5}});
}

TEST_CASE("reconcile descent: leaf ranges are read 256 per statement", "[unit][reconcile]") {
  Descent d(root(100000, "1", 0, 1 << 20), root(100001, "2", 0, 1 << 20));
  REQUIRE(d.next_level());
  Buckets s, t;
  for (uint64_t id = 0; id < 300; ++id) t.push_back({id, stats(1)});
  d.compared(s, t);
  const auto f = d.fetches();
  REQUIRE(f.size() == 2);
  CHECK(f[0].size() == 256);
  CHECK(f[1].size() == 44);
}

TEST_CASE("reconcile: keys to delete are the target's that neither the filtered nor the whole source holds, "
          "in a reader's order",
          "[unit][reconcile]") {
  const std::vector<Tuple> target = {{"10"}, {"9"}, {"2"}, {"b"}, {"a"}};
  const auto c = candidates(target, {{"2"}});
  CHECK(c == std::vector<Tuple>{{"10"}, {"9"}, {"b"}, {"a"}});
  CHECK(doomed(c, {{"b"}}) == std::vector<Tuple>{{"9"}, {"10"}, {"a"}});
  CHECK(key_order({"1", "x"}, {"1", "y"}));
  CHECK_FALSE(key_order({"10"}, {"9"}));
}

TEST_CASE("reconcile guard rails: an empty source beside a non-empty target is refused", "[unit][reconcile]") {
  const auto why = empty_source_refusal(stats(0), stats(7), "(100)");
  REQUIRE(why);
  CHECK_THAT(*why, Contains("refused: the source returned no keys at or below the safe mark (100) while the target "
                            "has 7") &&
                       Contains("Nothing was deleted"));
  CHECK_FALSE(empty_source_refusal(stats(0), stats(0), "(100)"));
  CHECK_FALSE(empty_source_refusal(stats(1), stats(7), "(100)"));
}

TEST_CASE("reconcile guard rails: with an immutable cursor, too many keys missing is refused before reading keys",
          "[unit][reconcile]") {
  const auto why = lower_bound_refusal(stats(80), stats(100), true, 0.1);
  REQUIRE(why);
  CHECK(*why == "refused: at least 20 of 100 target rows (20.0%) would be deleted, more than max_delete_ratio 10.0%. "
                "Nothing was deleted; check the source, or rerun with --max-delete-ratio");
  CHECK_FALSE(lower_bound_refusal(stats(80), stats(100), false, 0.1));  // rows may have moved above safe
  CHECK_FALSE(lower_bound_refusal(stats(90), stats(100), true, 0.1));   // exactly the ratio is allowed
}

TEST_CASE("reconcile guard rails: deleting more than max_delete_ratio of the target is refused", "[unit][reconcile]") {
  const auto why = delete_ratio_refusal(3, 10, 0.25);
  REQUIRE(why);
  CHECK(*why == "refused: 3 of 10 target rows (30.0%) would be deleted, more than max_delete_ratio 25.0%. "
                "Nothing was deleted; check the source, or rerun with --max-delete-ratio");
  CHECK_FALSE(delete_ratio_refusal(2, 10, 0.25));
  CHECK_FALSE(delete_ratio_refusal(0, 0, 0));
}
