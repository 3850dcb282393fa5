// The database a connection is in and how a table name resolves there, for the identity of a
// pipeline's state (tidemark/identity.hpp, docs/correctness.md#identity-of-state).
#include "pg/internal.hpp"

namespace tidemark::pg {

Endpoint identify(Connection& c, const std::optional<QualifiedName>& table) {
  // The table as the server resolves it now (search_path included); a missing one keeps the
  // configured name, qualified with the schema it would be created in. Names longer than 63
  // bytes are cut by the server as it creates them (NAMEDATALEN): cast to `name` so a table
  // not created yet is named as it will be. The system identifier is readable by every role
  // on PostgreSQL 10+ unless revoked, in the same round trip; where reading it fails (some
  // managed services refuse it), the query runs again without it.
  auto query = [&](bool with_system) {
    pqxx::nontransaction tx(c.raw());
    const std::string name = table ? tx.quote(table->quoted()) : std::string("NULL");
    const std::string short_schema = table && !table->schema.empty() ? tx.quote(table->schema) + "::name" : "NULL";
    const std::string short_name = table ? tx.quote(table->name) + "::name" : "NULL";
    const std::string system =
        with_system ? "CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') THEN "
                      "(SELECT system_identifier::text FROM pg_catalog.pg_control_system()) END"
                    : "NULL::text";
    return tx.exec1("SELECT current_database(), current_schema(), n.nspname, c.relname, " + system + ", " +
                    short_schema + "::text, " + short_name + "::text FROM (SELECT to_regclass(" + name + ") AS oid) t"
                    " LEFT JOIN pg_catalog.pg_class c ON c.oid = t.oid"
                    " LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace");
  };
  try {
    pqxx::row r;
    try {
      r = query(true);
    } catch (const pqxx::sql_error&) {
      r = query(false);
    }
    Endpoint e;
    e.database.name = r[0].c_str();
    if (!r[4].is_null()) e.database.system = r[4].c_str();
    if (table) {
      e.exists = !r[2].is_null();
      const std::string cut_name = r[6].is_null() ? table->name : r[6].c_str();
      e.table = e.exists ? quote_ident(r[2].c_str()) + "." + quote_ident(r[3].c_str())
                : !table->schema.empty() ? quote_ident(r[5].c_str()) + "." + quote_ident(cut_name)
                : r[1].is_null()         ? table->quoted()
                                         : quote_ident(r[1].c_str()) + "." + quote_ident(cut_name);
    }
    return e;
  } catch (...) {
    translate("connection '" + c.name() + "'");
  }
}

}  // namespace tidemark::pg
