// Strategy cdc on the source: preflight, the logical replication slot, peeking its changes.
#include "pg/internal.hpp"
#include "tidemark/cdc.hpp"

namespace tidemark::pg {
namespace {

// wal2json's add-tables takes schema.table with , . space ' and \ escaped by a backslash.
std::string wal2json_table(const QualifiedName& t) {
  auto esc = [](const std::string& s) {
    std::string out;
    for (char ch : s) {
      if (ch == ',' || ch == '.' || ch == ' ' || ch == '\'' || ch == '\\') out += '\\';
      out += ch;
    }
    return out;
  };
  return esc(t.schema.empty() ? "public" : t.schema) + "." + esc(t.name);
}

uint64_t lsn_of(const pqxx::field& f) {
  auto v = cdc::parse_lsn(f.is_null() ? "" : f.c_str());
  return v ? *v : 0;
}

}  // namespace

std::vector<std::string> ChangeSource::preflight(const QualifiedName& table) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<std::string> out;
    pqxx::row r = tx.exec1(
        "SELECT current_setting('wal_level'), (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = "
        "current_user), current_user, c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
        "i.indisprimary) FROM (SELECT to_regclass(" + tx.quote(table.quoted()) + ") AS oid) x LEFT JOIN pg_class c ON c.oid = x.oid");
    if (std::string(r[0].c_str()) != "logical")
      out.push_back("wal_level is " + std::string(r[0].c_str()) +
                    ", CDC needs logical decoding: ALTER SYSTEM SET wal_level = logical; then restart the server");
    if (!r[1].as<bool>())
      out.push_back("role " + std::string(r[2].c_str()) + " may not use replication slots: ALTER ROLE " +
                    quote_ident(r[2].c_str()) + " REPLICATION (or connect as a role that has it)");
    if (r[3].is_null()) {
      out.push_back("table " + table.display() + " does not exist");
    } else {
      const std::string ident = r[3].c_str();
      const bool pk = r[4].as<bool>();
      if (ident == "n" || (ident == "d" && !pk))
        out.push_back("table " + table.display() +
                      " has no primary key and no replica identity, so updates and deletes cannot be told apart: "
                      "add a primary key, or ALTER TABLE " + table.quoted() + " REPLICA IDENTITY FULL");
    }
    return out;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

ChangeSource::SlotInfo ChangeSource::info() {
  try {
    pqxx::nontransaction tx(c_.raw());
    pqxx::result r = tx.exec(
        "SELECT plugin, database, coalesce(wal_status, ''), confirmed_flush_lsn::text,"
        " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, active"
        " FROM pg_replication_slots WHERE slot_name = " + tx.quote(slot_));
    SlotInfo s;
    if (r.empty()) return s;
    s.exists = true;
    s.plugin = r[0][0].is_null() ? "" : r[0][0].c_str();
    s.database = r[0][1].is_null() ? "" : r[0][1].c_str();
    s.wal_status = r[0][2].c_str();
    s.confirmed_flush = lsn_of(r[0][3]);
    s.retained_bytes = r[0][4].as<int64_t>();
    s.active = r[0][5].as<bool>();
    return s;
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

uint64_t ChangeSource::create() {
  try {
    pqxx::nontransaction tx(c_.raw());
    return lsn_of(tx.exec1("SELECT lsn::text FROM pg_create_logical_replication_slot(" + tx.quote(slot_) +
                           ", 'wal2json')")[0]);
  } catch (const pqxx::sql_error& e) {
    const std::string msg = e.what();
    if (msg.find("output plugin") != std::string::npos || msg.find("wal2json") != std::string::npos)
      throw RunError("source '" + c_.name() + "': cannot create slot " + slot_ +
                     " with the wal2json output plugin: install postgresql-15-wal2json on the source server (and, "
                     "where the server has the setting output_plugin_libraries, add wal2json to it): " +
                     msg.substr(0, msg.find('\n')));
    translate("source '" + c_.name() + "'");
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

void ChangeSource::drop() {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("SELECT pg_drop_replication_slot(" + tx.quote(slot_) + ")");
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

void ChangeSource::advance(uint64_t lsn) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("SELECT pg_replication_slot_advance(" + tx.quote(slot_) + ", " + tx.quote(cdc::lsn_text(lsn)) + "::pg_lsn)");
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

uint64_t ChangeSource::current_wal() {
  try {
    pqxx::nontransaction tx(c_.raw());
    return lsn_of(tx.exec1("SELECT pg_current_wal_lsn()::text")[0]);
  } catch (...) {
    translate("source '" + c_.name() + "'");
  }
}

int64_t ChangeSource::peek(const QualifiedName& table, int64_t max_changes,
                           const std::function<void(const std::string&)>& sink) {
  try {
    pqxx::work tx(c_.raw());
    // Streamed through COPY: a large transaction never sits in this process's memory.
    pqxx::stream_from in(tx, "(SELECT data FROM pg_logical_slot_peek_changes(" + tx.quote(slot_) + ", NULL, " +
                                 std::to_string(max_changes) +
                                 ", 'format-version', '2', 'include-xids', '1', 'include-lsn', '1',"
                                 " 'include-types', '0', 'add-tables', " + tx.quote(wal2json_table(table)) + "))");
    std::string line;
    int64_t n = 0;
    while (in.get_raw_line(line)) {
      sink(cdc::copy_unescape(line));
      ++n;
    }
    in.complete();
    tx.commit();
    return n;
  } catch (...) {
    translate("source '" + c_.name() + "' (slot " + slot_ + ")");
  }
}

}  // namespace tidemark::pg
