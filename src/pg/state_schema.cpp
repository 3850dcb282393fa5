// The state schema's version (tidemark/state_migrations.hpp): read once per connection, and
// brought to the latest in one transaction when it is behind or absent.
#include <spdlog/spdlog.h>

#include "pg/pg.hpp"
#include "pg/state_sql.hpp"
#include "tidemark/state_migrations.hpp"

namespace tidemark::pg {

using state_sql::table;

namespace {

// Which tables and columns of the migrations a schema without schema_version holds.
LegacyStateLayout legacy_layout(pqxx::transaction_base& tx, const std::string& schema) {
  const auto rel = [&](const char* t) { return "to_regclass(" + tx.quote(table(schema, t)) + ") IS NOT NULL"; };
  const auto col = [&](const char* t, const char* c) {
    return "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" + tx.quote(table(schema, t)) +
           ") AND attname = " + tx.quote(c) + " AND NOT attisdropped)";
  };
  const pqxx::row r = tx.exec1("SELECT " + rel("pipeline_state") + ", " + rel("runs") + ", " + rel("backfill_chunks") +
                               ", " + col("backfill_chunks", "attempts") + ", " + rel("backfills") + ", " +
                               rel("files") + ", " + rel("rejects") + ", " + col("pipeline_state", "identity"));
  LegacyStateLayout l;
  l.pipeline_state = r[0].as<bool>();
  l.runs = r[1].as<bool>();
  l.backfill_chunks = r[2].as<bool>();
  l.chunk_attempts = r[3].as<bool>();
  l.backfills = r[4].as<bool>();
  l.files = r[5].as<bool>();
  l.rejects = r[6].as<bool>();
  l.state_identity = r[7].as<bool>();
  return l;
}

}  // namespace

void ensure_state_schema(Connection& c, const std::string& schema) {
  if (c.state_ready(schema)) return;
  const int latest = latest_state_version();
  try {
    bool denied = false;
    try {  // the common case: one cheap query per connection
      pqxx::nontransaction tx(c.raw());
      if (tx.exec1("SELECT coalesce(max(version), -1) FROM " + table(schema, "schema_version"))[0].as<int>() >= latest) {
        c.set_state_ready(schema);
        return;
      }
    } catch (const pqxx::undefined_table&) {  // a first run, or a schema of a tidemark before versions
    } catch (const pqxx::insufficient_privilege&) {  // a role granted the tables of an earlier tidemark only
      denied = true;
    }
    {
      // A role that may use the state tables but not read the version or create its table
      // runs as it did before versions, as long as every table and column is there.
      pqxx::nontransaction tx(c.raw());
      if (legacy_state_version(legacy_layout(tx, schema)) >= latest &&
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
    int recorded = -1;  // by another process, perhaps, while this one waited for the lock
    if (tx.exec1("SELECT to_regclass(" + tx.quote(table(schema, "schema_version")) + ") IS NOT NULL")[0].as<bool>())
      recorded = tx.exec1("SELECT coalesce(max(version), -1) FROM " + table(schema, "schema_version"))[0].as<int>();
    int version = recorded;
    if (version < 0) {  // no version recorded: what the tables hold says which
      version = legacy_state_version(legacy_layout(tx, schema));
      tx.exec(state_version_table_ddl(schema));
      if (version > 0) spdlog::info("state schema {}: made by an earlier tidemark, found at version {}", schema, version);
    }
    for (const StateMigration& m : migrations_after(version, schema)) {
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
