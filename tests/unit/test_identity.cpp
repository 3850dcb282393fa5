// The identity of state, pure (tidemark/identity.hpp): its stored form, the comparison, the
// messages of a refusal, and the state document carrying it.
#include <catch2/catch.hpp>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/identity.hpp"
#include "tidemark/state_file.hpp"

using namespace tidemark;
using Catch::Contains;

namespace {

StateIdentity orders() {
  StateIdentity id;
  id.source_database = {"src", "7714505423274551714"};
  id.source_table = "\"public\".\"orders\"";
  id.target_database = {"dw", "7714505423274551714"};
  id.target_table = "\"analytics\".\"orders\"";
  id.cursor = "updated_at";
  return id;
}

PipelineConfig pipeline() {
  PipelineConfig p;
  p.name = "orders";
  return p;
}

}  // namespace

TEST_CASE("identity: the stored form round-trips and a malformed one names its field", "[unit][identity]") {
  const StateIdentity id = orders();
  CHECK(StateIdentity::from_json(id.to_json()) == id);
  StateIdentity q = id;
  q.source_table.clear();
  q.source_query = query_fingerprint("select 1");
  q.source_database.system.clear();
  CHECK(StateIdentity::from_json(q.to_json()) == q);
  CHECK_THROWS_WITH(StateIdentity::from_json(nlohmann::json::parse(R"({"source": {"database": "a", "table": 1},
                                             "target": {"database": "b", "table": "t"}})")),
                    "'identity.source.table' must be a string");
  CHECK_THROWS_WITH(StateIdentity::from_json(nlohmann::json::parse(R"({"source": {"database": "a"},
                                             "target": {"database": "b", "table": "t"}})")),
                    "'identity.source.table' or 'query' is required, not both");
  CHECK_THROWS_WITH(StateIdentity::from_json(nlohmann::json::parse(R"({"target": {"database": "b", "table": "t"}})")),
                    "'identity.source' is missing");
  CHECK_THROWS_WITH(StateIdentity::from_json(nlohmann::json::parse(R"({"source": {"database": "a", "table": "t"},
                                             "target": {"database": "b", "table": "t"}, "colour": "red"})")),
                    "'identity.colour' is not a field of a state identity");
}

TEST_CASE("identity: a query's fingerprint ignores whitespace and a trailing semicolon, nothing else",
          "[unit][identity]") {
  CHECK(query_fingerprint("SELECT id, v\n  FROM t\tWHERE x = 1;") == query_fingerprint("  SELECT id, v FROM t WHERE x = 1"));
  CHECK(query_fingerprint("SELECT id FROM t") != query_fingerprint("SELECT id FROM u"));
  CHECK(query_fingerprint("select id from t") != query_fingerprint("SELECT id FROM t"));
  CHECK(query_fingerprint("x").rfind("sha256:", 0) == 0);
  CHECK(query_fingerprint("x").size() == 7 + 64);
}

TEST_CASE("identity: what differs is listed; an unknown system identifier is no difference", "[unit][identity]") {
  const StateIdentity a = orders();
  StateIdentity b = a;
  CHECK(identity_differences(a, b, true).empty());
  b.source_database.system.clear();
  CHECK(identity_differences(a, b, true).empty());
  b.source_database.system = "1";
  b.source_table = "\"public\".\"items\"";
  const auto d = identity_differences(a, b, true);
  REQUIRE(d.size() == 2);
  CHECK(d[0] == "source server (system identifier): 7714505423274551714 -> 1");
  CHECK(d[1] == "source table: \"public\".\"orders\" -> \"public\".\"items\"");
  // The target database counts only when the state lives outside it.
  StateIdentity moved = a;
  moved.target_database = {"dw2", "42"};
  CHECK(identity_differences(a, moved, false).empty());
  CHECK(identity_differences(a, moved, true).size() == 2);
  StateIdentity query = a;
  query.source_table.clear();
  query.source_query = query_fingerprint("SELECT 1");
  CHECK_THAT(identity_differences(a, query, false).at(0), Contains("source: \"public\".\"orders\" -> query sha256:"));
}

TEST_CASE("identity: a mismatch is refused with both identities and the ways out, except under --full-refresh",
          "[unit][identity]") {
  const PipelineConfig p = pipeline();
  StateIdentity now = orders();
  CHECK(judge_identity(p, orders(), now, false, false, "a.yaml") == IdentityVerdict::kSame);
  CHECK(judge_identity(p, std::nullopt, now, false, false, "a.yaml") == IdentityVerdict::kAdoptLegacy);
  now.source_table = "\"public\".\"items\"";
  now.target_table = "\"analytics\".\"items_b\"";
  CHECK(judge_identity(p, orders(), now, true, false, "b.yaml") == IdentityVerdict::kReplace);
  try {
    judge_identity(p, orders(), now, false, false, "b.yaml");
    FAIL("no refusal");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Contains("pipeline orders: the stored state of this name is not this pipeline's"));
    CHECK_THAT(m, Contains("nothing was written"));
    CHECK_THAT(m, Contains("Stored: \"public\".\"orders\" in database src -> \"analytics\".\"orders\" in database dw, "
                           "cursor updated_at"));
    CHECK_THAT(m, Contains("This config: \"public\".\"items\" in database src"));
    CHECK_THAT(m, Contains("`tidemark run -c b.yaml --full-refresh orders`"));
    CHECK_THAT(m, Contains("`tidemark state adopt -c b.yaml orders`"));
    CHECK_THAT(m, Contains("state.schema"));
  }
}

TEST_CASE("identity: the source table as the target table is a problem only in the same database", "[unit][identity]") {
  const PipelineConfig p = pipeline();
  StateIdentity id = orders();
  CHECK(!same_table_problem(p, id));
  id.target_table = id.source_table;
  CHECK(!same_table_problem(p, id));  // another database
  id.target_database = id.source_database;
  REQUIRE(same_table_problem(p, id));
  CHECK_THAT(*same_table_problem(p, id), Contains("its source and target are the same table, \"public\".\"orders\""));
  id.target_database.system.clear();  // unknown: assumed the same
  CHECK(same_table_problem(p, id));
}

TEST_CASE("identity: the state document carries the identity, and an entry without one reads as before",
          "[unit][identity][state_file]") {
  StateDocument doc;
  StateEntry e;
  e.state = StoredState{true, "updated_at", 3, Watermark{}, orders()};
  doc.pipelines["orders"] = e;
  StateEntry legacy;
  legacy.state = StoredState{true, "id", 1, Watermark{}};
  doc.pipelines["old"] = legacy;
  const StateDocument back = parse_state_document(render_state_document(doc), "W", true);
  REQUIRE(back.pipelines.at("orders").state.identity);
  CHECK(*back.pipelines.at("orders").state.identity == orders());
  CHECK(!back.pipelines.at("old").state.identity);
  CHECK_THROWS_WITH(parse_state_document(R"({"format": "tidemark-state", "version": 1, "pipelines": {"o": {"strategy":
                                         "id", "version": 1, "watermark": null, "identity": 3}}})",
                                         "W", false),
                    "W: 'pipelines.o.identity' must be an object");
}
