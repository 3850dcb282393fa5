// Unchanged pipelines checked together: which pipelines the check may decide, and the one
// boolean query that decides each (tidemark/quiet.hpp). Everything else runs on its own.
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "tidemark/quiet.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

struct Fixture {
  Config cfg;
  PipelineConfig p;
  StoredState st;
  SourceShape shape;
  std::optional<std::vector<TargetColumn>> target;
  StateIdentity now;

  explicit Fixture(const std::string& strategy = "updated_at") {
    cfg.path = "tidemark.yaml";
    p.name = "orders";
    p.source.connection = "app";
    p.source.table = QualifiedName{"public", "orders"};
    p.detect.strategy = strategy;
    p.detect.cursor = strategy == "id" ? "id" : "updated_at";
    p.target.connection = "dw";
    p.target.table = QualifiedName{"raw", "orders"};
    p.target.key = {"id"};
    p.target.write = "upsert";
    shape.columns = {{"id", "bigint", "bigint", true}, {"updated_at", "timestamp with time zone",
                                                        "timestamp with time zone", true}};
    shape.key_unique = true;
    shape.cursor_nullable = false;
    shape.cursor_indexed = true;
    target = std::vector<TargetColumn>{{"id", "bigint"}, {"updated_at", "timestamp with time zone"}};
    now.source_database = {"app", "7"};
    now.source_table = "\"public\".\"orders\"";
    now.target_database = {"dw", "7"};
    now.target_table = "\"raw\".\"orders\"";
    now.cursor = p.detect.cursor;
    st.exists = true;
    st.strategy = strategy;
    st.version = 4;
    st.identity = now;
    if (strategy == "id") {
      st.watermark.columns = {"id"};
      st.watermark.safe = st.watermark.high = Tuple{"42"};
    } else {
      st.watermark.columns = {"updated_at", "id"};
      st.watermark.safe = st.watermark.high = Tuple{"2026-12-01 10:00:00+00", "42"};
    }
  }
  std::variant<QuietPlan, std::string> plan() const { return plan_quiet({cfg, p, st, shape, target, now}); }
};

std::string why(const std::variant<QuietPlan, std::string>& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

}  // namespace

TEST_CASE("quiet check: a settled id pipeline is decided by whether any row lies beyond its mark", "[unit]") {
  const Fixture f("id");
  const auto v = f.plan();
  REQUIRE(std::holds_alternative<QuietPlan>(v));
  const QuietPlan& q = std::get<QuietPlan>(v);
  CHECK(q.check.with_placeholders().rfind("CASE WHEN EXISTS (", 0) == 0);
  CHECK_THAT(q.check.with_placeholders(), Contains("\"id\" > ") && Contains(" THEN 1 ELSE 0 END"));
  CHECK(q.next == f.st.watermark);  // nothing beyond: the same watermark
  CHECK(q.mode == "incremental");
}

TEST_CASE("quiet check: a (cursor, key) mark asks the tie probe which high-mark query decides", "[unit]") {
  const Fixture f;
  const auto v = f.plan();
  REQUIRE(std::holds_alternative<QuietPlan>(v));
  const std::string sql = std::get<QuietPlan>(v).check.with_placeholders();
  CHECK(sql.rfind("CASE WHEN (SELECT NOT EXISTS", 0) == 0);
  CHECK_THAT(sql, Contains(" THEN CASE WHEN EXISTS (") && Contains(" THEN 3 ELSE 2 END ELSE CASE WHEN EXISTS ("));
  // The window a run alone reports: the tie plan's when the probe holds.
  CHECK(std::get<QuietPlan>(v).tie_window == "\"updated_at\" > CAST('2026-12-01 10:00:00+00' AS timestamp with time zone)");
  CHECK_THAT(std::get<QuietPlan>(v).window, Contains("(\"updated_at\", \"id\") > ("));
}

TEST_CASE("quiet check: what a run would act on is left to the run", "[unit]") {
  SECTION("no state yet") {
    Fixture f;
    f.st = StoredState{};
    CHECK_THAT(why(f.plan()), Contains("first run"));
  }
  SECTION("a pending band from transactions in flight") {
    Fixture f;
    f.st.watermark.safe = Tuple{"2026-12-01 09:00:00+00", "40"};
    CHECK_THAT(why(f.plan()), Contains("in flight"));
  }
  SECTION("state of another strategy") {
    Fixture f;
    f.st.strategy = "id";
    CHECK_THAT(why(f.plan()), Contains("strategy id"));
  }
  SECTION("state without an identity (an earlier tidemark's)") {
    Fixture f;
    f.st.identity.reset();
    CHECK_THAT(why(f.plan()), Contains("identity"));
  }
  SECTION("the state is of another table") {
    Fixture f;
    f.now.source_table = "\"public\".\"orders_v2\"";
    CHECK_FALSE(why(f.plan()).empty());
  }
  SECTION("the target is missing") {
    Fixture f;
    f.target.reset();
    CHECK_THAT(why(f.plan()), Contains("does not exist"));
  }
  SECTION("a source column the target lacks (on_schema_change acts, or fails the run)") {
    Fixture f;
    f.shape.columns.push_back({"note", "text", "text", false});
    CHECK_THAT(why(f.plan()), Contains("does not fit"));
  }
  SECTION("null_cursor: include, whose empty window still reads NULL cursors") {
    Fixture f;
    f.p.detect.null_cursor = NullCursor::kInclude;
    CHECK_THAT(why(f.plan()), Contains("empty window"));
  }
  SECTION("a NULL key possible: the run probes for NULL keys") {
    Fixture f;
    f.shape.columns[0].not_null = false;
    CHECK_THAT(why(f.plan()), Contains("NULL keys"));
  }
  SECTION("the cursor changed in the config") {
    Fixture f("id");
    f.p.detect.cursor = "seq";
    f.shape.columns.push_back({"seq", "bigint", "bigint", true});
    f.target->push_back({"seq", "bigint"});
    f.now.cursor = "seq";
    CHECK_FALSE(why(f.plan()).empty());
  }
}
