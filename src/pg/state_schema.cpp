// The state schema's version (tidemark/state_migrations.hpp): read once per connection, and
// brought to the latest in one transaction when it is behind or absent.
#include <spdlog/spdlog.h>

#include <optional>

#include "pg/internal.hpp"
#include "pg/state_sql.hpp"
#include "tidemark/state_migrations.hpp"

namespace tidemark::pg {

using state_sql::table;

namespace {

// The catalog lookups of what a schema holds (no privilege on the tables needed), as columns
// of a SELECT, in LegacyStateLayout's order.
std::string layout_columns(pqxx::transaction_base& tx, const std::string& schema) {
  const auto rel = [&](const char* t) { return "to_regclass(" + tx.quote(table(schema, t)) + ") IS NOT NULL"; };
  const auto col = [&](const char* t, const char* c) {
    return "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" + tx.quote(table(schema, t)) +
           ") AND attname = " + tx.quote(c) + " AND NOT attisdropped)";
  };
  return rel("pipeline_state") + ", " + rel("runs") + ", " + rel("backfill_chunks") + ", " +
         col("backfill_chunks", "attempts") + ", " + rel("backfills") + ", " + rel("files") + ", " + rel("rejects") +
         ", " + col("pipeline_state", "identity");
}

LegacyStateLayout layout_from(const pqxx::row& r, int first) {
  LegacyStateLayout l;
  bool* fields[] = {&l.pipeline_state, &l.runs,  &l.backfill_chunks, &l.chunk_attempts,
                    &l.backfills,      &l.files, &l.rejects,         &l.state_identity};
  for (bool* f : fields) *f = r[first++].as<bool>();
  return l;
}

LegacyStateLayout layout_of(pqxx::transaction_base& tx, const std::string& schema) {
  return layout_from(tx.exec1("SELECT " + layout_columns(tx, schema)), 0);
}

std::string version_query(const std::string& schema) {
  return "(SELECT coalesce(max(version), -1) FROM " + table(schema, "schema_version") + ")";
}

}  // namespace

void ensure_state_schema(Connection& c, const std::string& schema) {
  if (c.state_ready(schema)) return;
  const int latest = latest_state_version();
  try {
    {
      pqxx::nontransaction tx(c.raw());
      int recorded = -1;  // none, or not readable
      bool denied = false;
      std::optional<LegacyStateLayout> found;
      try {  // the common case: one cheap query per connection
        const pqxx::row r = tx.exec1("SELECT " + version_query(schema) + ", " + layout_columns(tx, schema));
        recorded = r[0].as<int>();
        found = layout_from(r, 1);
      } catch (const pqxx::undefined_table&) {  // a first run, or a schema of a tidemark before versions
      } catch (const pqxx::insufficient_privilege&) {  // a role granted the tables of an earlier tidemark only
        denied = true;
      }
      if (!found) found = layout_of(tx, schema);
      if (recorded >= 0 && state_version_to_migrate_from(recorded, *found) >= latest) {
        c.set_state_ready(schema);
        return;
      }
      // A role that may use the state tables but not read the version or create its table
      // runs as it did before versions, as long as every table and column is there.
      if (recorded < 0 && legacy_state_version(*found) >= latest &&
          (denied || !tx.exec1("SELECT coalesce((SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace WHERE "
                               "nspname = " + tx.quote(schema) + "), false)")[0].as<bool>())) {
        c.set_state_ready(schema);
        return;
      }
    }
    pqxx::work tx(c.raw());
    // Serialise concurrent first runs (the key of every tidemark since the first, so one of an
    // earlier version is kept out too): CREATE … IF NOT EXISTS races on the catalog otherwise.
    tx.exec("SELECT pg_advisory_xact_lock(hashtextextended(" + tx.quote("tidemark-schema:" + schema) + ", 0))");
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema));
    // Looked at again under the lock: another process may have migrated meanwhile.
    int recorded = -1;
    if (tx.exec1("SELECT to_regclass(" + tx.quote(table(schema, "schema_version")) + ") IS NOT NULL")[0].as<bool>())
      recorded = tx.exec1("SELECT " + version_query(schema))[0].as<int>();
    const int from = state_version_to_migrate_from(recorded, layout_of(tx, schema));
    if (recorded < 0) {
      tx.exec(state_version_table_ddl(schema));
      if (from > 0) spdlog::info("state schema {}: made by an earlier tidemark, found at version {}", schema, from);
    } else if (from < recorded) {
      spdlog::debug("state schema {}: at version {} but without tables or columns of version {}; migrating again from it",
                   schema, recorded, from + 1);
    }
    for (const StateMigration& m : migrations_after(from, schema)) {
      spdlog::debug("state schema {}: migration {}: {}", schema, m.version, m.what);
      for (const auto& s : m.statements) tx.exec(s);
    }
    if (recorded < latest) tx.exec(set_state_version_sql(schema, latest));
    tx.commit();
    c.set_state_ready(schema);
  } catch (...) {
    translate("state store '" + c.name() + "' (schema " + schema + ")");
  }
}

}  // namespace tidemark::pg
