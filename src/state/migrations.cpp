// The state schema's migrations (tidemark/state_migrations.hpp). Versions 1 to 5 are the
// layouts tidemark made before schema_version existed, in the order they appeared; their DDL
// keeps IF NOT EXISTS because a legacy schema may hold part of a later one. A new migration
// appends a version, never edits an earlier one, and is harmless on a schema that already
// has what it adds (state_version_to_migrate_from may start below it).
#include "tidemark/state_migrations.hpp"

#include <algorithm>

#include "tidemark/sql.hpp"

namespace tidemark {

namespace {

std::string table(const std::string& schema, const std::string& t) { return quote_ident(schema) + "." + quote_ident(t); }

}  // namespace

std::vector<StateMigration> state_migrations(const std::string& schema) {
  const auto t = [&schema](const char* name) { return table(schema, name); };
  return {
      {1,
       "pipeline state and run records",
       {"CREATE TABLE IF NOT EXISTS " + t("pipeline_state") +
            " (pipeline text PRIMARY KEY, strategy text NOT NULL, watermark jsonb,"
            " version bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS " + t("runs") +
            " (run_id bigserial PRIMARY KEY, pipeline text NOT NULL, mode text NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,"
            " status text NOT NULL, rows_read bigint, rows_written bigint, rows_deleted bigint,"
            " watermark_before jsonb, watermark_after jsonb, error text, host text, pid integer)",
        "CREATE INDEX IF NOT EXISTS runs_pipeline_run_id ON " + t("runs") + " (pipeline, run_id DESC)"}},
      {2,
       "backfill chunks",
       {"CREATE TABLE IF NOT EXISTS " + t("backfill_chunks") +
        " (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL, chunk_from text NOT NULL,"
        " chunk_to text NOT NULL, seq integer NOT NULL, status text NOT NULL, rows_read bigint, rows_written bigint,"
        " rows_deleted bigint, run_id bigint, finished_at timestamptz,"
        " PRIMARY KEY (pipeline, range_from, range_to, chunk_from))"}},
      {3,
       "chunk claims (worker, lease, attempts) and the backfills they belong to",
       {"ALTER TABLE " + t("backfill_chunks") +
            " ADD COLUMN IF NOT EXISTS worker text, ADD COLUMN IF NOT EXISTS lease_until timestamptz,"
            " ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0",
        "CREATE TABLE IF NOT EXISTS " + t("backfills") +
            " (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL,"
            " registered_at timestamptz NOT NULL DEFAULT clock_timestamp(), advance_blocker text,"
            " PRIMARY KEY (pipeline, range_from, range_to))"}},
      {4,
       "the files manifest and quarantined rows (strategy files)",
       {"CREATE TABLE IF NOT EXISTS " + t("files") +
            " (pipeline text NOT NULL, path text NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,"
            " checksum text NOT NULL, rows bigint NOT NULL, rejected bigint NOT NULL DEFAULT 0, run_id bigint,"
            " loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (pipeline, path))",
        "CREATE TABLE IF NOT EXISTS " + t("rejects") +
            " (reject_id bigserial PRIMARY KEY, pipeline text NOT NULL, path text NOT NULL, line bigint NOT NULL,"
            " reason text NOT NULL, raw text, run_id bigint, rejected_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        "CREATE INDEX IF NOT EXISTS rejects_pipeline_path ON " + t("rejects") + " (pipeline, path)"}},
      // docs/correctness.md#identity-of-state: rows of an earlier tidemark have none until
      // their next run records it.
      {5,
       "what each state is of (pipeline_state.identity)",
       {"ALTER TABLE " + t("pipeline_state") + " ADD COLUMN IF NOT EXISTS identity jsonb"}},
  };
}

int latest_state_version() { return state_migrations("tidemark").back().version; }

std::vector<StateMigration> migrations_after(int version, const std::string& schema) {
  std::vector<StateMigration> out;
  for (auto& m : state_migrations(schema))
    if (m.version > version) out.push_back(std::move(m));
  return out;
}

int legacy_state_version(const LegacyStateLayout& f) {
  const bool has[] = {f.pipeline_state && f.runs, f.backfill_chunks, f.chunk_attempts && f.backfills,
                      f.files && f.rejects, f.state_identity};
  int version = 0;
  while (version < static_cast<int>(sizeof has / sizeof has[0]) && has[version]) ++version;
  return version;
}

int state_version_to_migrate_from(int recorded, const LegacyStateLayout& found) {
  constexpr int kBeforeVersions = 5;  // the last version legacy_state_version can tell
  const int legacy = legacy_state_version(found);
  if (recorded < 0 || legacy < kBeforeVersions) return recorded < 0 ? legacy : std::min(recorded, legacy);
  return recorded;
}

// `single` keeps it to one row: every migration run updates that row.
std::string state_version_table_ddl(const std::string& schema) {
  return "CREATE TABLE IF NOT EXISTS " + table(schema, "schema_version") +
         " (single boolean PRIMARY KEY DEFAULT true CHECK (single), version integer NOT NULL,"
         " migrated_at timestamptz NOT NULL DEFAULT clock_timestamp())";
}

std::string set_state_version_sql(const std::string& schema, int version) {
  return "INSERT INTO " + table(schema, "schema_version") + " (version) VALUES (" + std::to_string(version) +
         ") ON CONFLICT (single) DO UPDATE SET version = EXCLUDED.version, migrated_at = EXCLUDED.migrated_at";
}

}  // namespace tidemark
