// Connections and the translation of libpqxx errors into tidemark errors.
#include <spdlog/spdlog.h>

#include "pg/pg.hpp"
#include "tidemark/util.hpp"

namespace tidemark::pg {

static std::string first_lines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s;
}

void translate(const std::string& where) {
  try {
    throw;
  } catch (const RunError&) {
    throw;
  } catch (const ConfigError&) {
    throw;
  } catch (const LockBusy&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    // libpqxx often reports a dead connection by what it could not do next ("Could not obtain
    // client encoding"), so say what usually happened.
    throw TransientError(where + ": connection lost (the server restarted, terminated this session, or the network "
                                 "failed): " + first_lines(redact_text(e.what())));
  } catch (const pqxx::sql_error& e) {
    const std::string code = e.sqlstate();
    std::string state = code.empty() ? "" : " [SQLSTATE " + code + "]";
    // Worth another try: serialization failure, deadlock, shutdown or restart in progress,
    // too many connections, connection exceptions. Never a data or constraint error.
    if (code == "40001" || code == "40P01" || code == "57P01" || code == "57P02" || code == "57P03" ||
        code == "53300" || code.rfind("08", 0) == 0)
      throw TransientError(where + ": " + first_lines(redact_text(e.what())) + state);
    throw RunError(where + ": " + first_lines(redact_text(e.what())) + state);
  } catch (const pqxx::failure& e) {
    throw RunError(where + ": " + first_lines(redact_text(e.what())));
  } catch (const std::exception& e) {
    throw RunError(where + ": " + first_lines(redact_text(e.what())));
  }
}

Connection::Connection(std::string name, const std::string& dsn, const std::string& role) : name_(std::move(name)) {
  try {
    conn_ = std::make_unique<pqxx::connection>(dsn);
    // Fixed output formats on every session, so values move between servers and into the
    // watermark exactly (UTC timestamps, ISO dates, full float precision).
    pqxx::nontransaction tx(*conn_);
    // Kept before the SET below: a plain timestamp cursor holds wall-clock time in the zone the
    // writers' sessions get, and a fresh session of this connection is the best witness of it.
    session_time_zone_ = tx.exec1("SHOW TimeZone")[0].c_str();
    tx.exec("SET application_name = " + tx.quote(role) +
            "; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'"
            "; SET extra_float_digits = 3; SET bytea_output = 'hex'");
  } catch (...) {
    translate("connection '" + name_ + "'");
  }
}

std::string Connection::render(const Sql& sql) {
  return sql.render([this](const SqlValue& v) { return v ? conn_->quote(*v) : std::string("NULL"); });
}

}  // namespace tidemark::pg
