// The state schema's migrations: numbered in order, which apply from a version, and the
// version a schema of a tidemark before schema_version is recognised at.
#include <catch2/catch.hpp>

#include "tidemark/state_migrations.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

std::vector<int> versions(const std::vector<StateMigration>& ms) {
  std::vector<int> out;
  for (const auto& m : ms) out.push_back(m.version);
  return out;
}

}  // namespace

TEST_CASE("state migrations are numbered 1, 2, 3 … in order and the last is the latest version", "[unit][state]") {
  const auto all = state_migrations("tidemark");
  REQUIRE_FALSE(all.empty());
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].version == static_cast<int>(i) + 1);
    CHECK_FALSE(all[i].statements.empty());
    CHECK_FALSE(all[i].what.empty());
  }
  CHECK(latest_state_version() == all.back().version);
}

TEST_CASE("the migrations after a version are the later ones, none at or past the latest", "[unit][state]") {
  const int latest = latest_state_version();
  CHECK(versions(migrations_after(0, "s")) == versions(state_migrations("s")));
  CHECK(versions(migrations_after(3, "s")) == std::vector<int>{4, 5});
  CHECK(migrations_after(latest, "s").empty());
  CHECK(migrations_after(latest + 7, "s").empty());  // a newer tidemark's schema is used as it is
}

TEST_CASE("migration DDL names the schema's tables quoted and creates today's state tables", "[unit][state]") {
  std::string ddl;
  for (const auto& m : state_migrations("my state"))
    for (const auto& s : m.statements) ddl += s + ";\n";
  for (const char* t : {"pipeline_state", "runs", "backfill_chunks", "backfills", "files", "rejects"})
    CHECK_THAT(ddl, Contains(std::string("\"my state\".\"") + t + "\""));
  CHECK_THAT(ddl, Contains("ADD COLUMN IF NOT EXISTS identity jsonb"));
  CHECK_THAT(ddl, Contains("ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0"));
  CHECK_THAT(state_version_table_ddl("my state"), Contains("\"my state\".\"schema_version\""));
  CHECK_THAT(set_state_version_sql("my state", 5), Contains("VALUES (5)"));
}

TEST_CASE("a schema without a version table is at the version of the migrations it holds, in order", "[unit][state]") {
  LegacyStateLayout l;
  CHECK(legacy_state_version(l) == 0);  // nothing: a first run
  l.pipeline_state = l.runs = true;
  CHECK(legacy_state_version(l) == 1);
  l.backfill_chunks = true;
  CHECK(legacy_state_version(l) == 2);
  l.chunk_attempts = l.backfills = true;
  CHECK(legacy_state_version(l) == 3);
  l.files = l.rejects = true;
  CHECK(legacy_state_version(l) == 4);
  l.state_identity = true;
  CHECK(legacy_state_version(l) == latest_state_version());  // the layout of the tidemark before versions
  // A gap stops the count: the later migrations are harmless on what is there already.
  l.backfills = false;
  CHECK(legacy_state_version(l) == 2);
  l = LegacyStateLayout{};
  l.pipeline_state = true;  // runs missing
  l.backfill_chunks = true;
  CHECK(legacy_state_version(l) == 0);
}

TEST_CASE("migrating starts at the recorded version unless a table or column of an earlier one is missing",
          "[unit][state]") {
  LegacyStateLayout all;
  all.pipeline_state = all.runs = all.backfill_chunks = all.chunk_attempts = all.backfills = all.files = all.rejects =
      all.state_identity = true;
  const int latest = latest_state_version();
  CHECK(state_version_to_migrate_from(latest, all) == latest);  // the common case: nothing to do
  CHECK(state_version_to_migrate_from(latest + 2, all) == latest + 2);
  CHECK(state_version_to_migrate_from(3, all) == 3);  // recorded behind: from there
  CHECK(state_version_to_migrate_from(-1, all) == legacy_state_version(all));  // no version table
  CHECK(state_version_to_migrate_from(-1, LegacyStateLayout{}) == 0);          // a first run
  // A column dropped by hand (or a table) is added again: from the migration that adds it.
  LegacyStateLayout no_identity = all;
  no_identity.state_identity = false;
  CHECK(state_version_to_migrate_from(latest, no_identity) == 4);
  LegacyStateLayout no_files = all;
  no_files.files = false;
  CHECK(state_version_to_migrate_from(latest, no_files) == 3);
  CHECK(state_version_to_migrate_from(2, no_files) == 2);
}
