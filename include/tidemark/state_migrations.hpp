// The layout history of the state schema (docs/operations.md#state-tables): numbered
// migrations applied in order, and the version recorded in <schema>.schema_version (pure; the
// Postgres layer runs them, src/pg/state_schema.cpp).
#pragma once
#include <string>
#include <vector>

namespace tidemark {

struct StateMigration {
  int version = 0;                      // the schema's version once it is applied
  std::string what;                     // for the log
  std::vector<std::string> statements;  // DDL, names quoted and schema-qualified
};

// Every migration of state schema `schema`, in order; the last one's version is the latest.
std::vector<StateMigration> state_migrations(const std::string& schema);
int latest_state_version();

// The migrations that take a schema at `version` to the latest, in order: none when it is
// there already, or newer (migrations only add, so an older tidemark keeps working).
std::vector<StateMigration> migrations_after(int version, const std::string& schema);

// What a state schema made before schema_version existed has: which of the tables and columns
// the migrations add are there.
struct LegacyStateLayout {
  bool pipeline_state = false, runs = false;  // 1
  bool backfill_chunks = false;               // 2
  bool chunk_attempts = false, backfills = false;  // 3: backfill_chunks.attempts (with worker, lease_until)
  bool files = false, rejects = false;        // 4
  bool state_identity = false;                // 5: pipeline_state.identity
};
// The version such a schema is at: how many migrations, from the first, find everything they
// add already there. The later ones are written to be harmless on what a partial earlier
// layout may hold (IF NOT EXISTS), so starting there loses nothing.
int legacy_state_version(const LegacyStateLayout& found);
// The version to migrate from, given the one schema_version records (-1: none) and what the
// schema holds: the recorded one, unless a table or column of the layouts before versions is
// missing (a schema of an earlier tidemark, or one changed by hand), then from there. Every
// migration is harmless on what it finds there already, so applying it again loses nothing.
int state_version_to_migrate_from(int recorded, const LegacyStateLayout& found);

// The version table: one row, the schema's version. Created by the first migration run (also
// on a legacy schema, which has none).
std::string state_version_table_ddl(const std::string& schema);
std::string set_state_version_sql(const std::string& schema, int version);

}  // namespace tidemark
