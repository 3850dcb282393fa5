// Connections and the translation of libpqxx errors into tidemark errors.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>

#include <poll.h>

#include "pg/internal.hpp"
#include "tidemark/dsn.hpp"
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
    // An open connection that died (a failure to open one is told apart in Connection's
    // constructor). libpqxx often reports a dead connection by what it could not do next ("Could not obtain
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

namespace {

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// A connection that could not be opened, told by what libpq says (it gives no SQLSTATE for a
// failed connection; the server's part is in its lc_messages, English unless changed). With
// several hosts libpq reports each attempt, so one permanent reason makes the whole permanent.
[[noreturn]] void connect_failed(const std::string& where, const std::string& msg) {
  for (const char* auth : {"authentication failed for user", "no pg_hba.conf entry", "pg_hba.conf rejects connection",
                           "no password supplied", "SCRAM", "channel binding", "requirepeer"})
    if (has(msg, auth))
      throw ConnectError(where + ": authentication failed: " + msg +
                         "; check the user and password of the connection (its dsn, PGPASSWORD or ~/.pgpass) and the "
                         "server's pg_hba.conf; not retried (repeated failed logins can lock the account)");
  const bool missing = has(msg, "\" does not exist") && (has(msg, "role \"") || has(msg, "database \""));
  if (missing || has(msg, "is not permitted to log in") || has(msg, "permission denied for database"))
    throw ConnectError(where + ": the server refused the login: " + msg +
                       "; check the user and database names of the connection and the role's privileges; not retried");
  const std::string resolve = "could not translate host name \"";
  if (auto at = msg.find(resolve); at != std::string::npos) {
    const size_t from = at + resolve.size();
    const std::string host = msg.substr(from, msg.find('"', from) - from);
    throw ConnectError(where + ": host name \"" + host + "\" could not be resolved: " + msg +
                       "; check the host of the connection and the DNS; not retried");
  }
  // Refused, unreachable, timed out, starting up, shutting down, too many clients: may pass.
  throw ConnectTransientError(where + ": could not connect: " + msg);
}

}  // namespace

namespace {
void close_connection(pqxx::connection_base* c) { delete static_cast<pqxx::connection*>(c); }
}  // namespace

// The round-trip counter: libpq's protocol trace (PQtrace, which libpqxx 6.4 exposes as
// connection_base::trace) written into a stdio stream of our own that reads it line by line
// and counts the messages after which the client waits for the server: Query (simple
// protocol, one per statement string, BEGIN/COMMIT and COPY included) and Sync (the end of
// an extended-protocol exchange). libpq traces CopyData without its contents, so a COPY of
// many rows costs one short line per row.
struct Connection::Counter {
  int64_t round_trips = 0;
  std::string partial;  // the unfinished last line
  std::FILE* file = nullptr;

  Counter() {
    cookie_io_functions_t io{};
    io.write = [](void* self, const char* buf, size_t size) -> ssize_t {
      static_cast<Counter*>(self)->take(buf, size);
      return static_cast<ssize_t>(size);
    };
    file = fopencookie(this, "w", io);
    if (file) setvbuf(file, nullptr, _IOLBF, 4096);
  }
  ~Counter() {
    if (file) std::fclose(file);
  }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void take(const char* buf, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      if (buf[i] != '\n') {
        if (partial.size() < 96) partial.push_back(buf[i]);  // the message name is near the start
        continue;
      }
      line(partial);
      partial.clear();
    }
  }
  // "<timestamp>\tF\t<length>\t<message>\t…": a message the client (F, frontend) sent.
  void line(const std::string& l) {
    const size_t f = l.find("\tF\t");
    if (f == std::string::npos) return;
    const size_t name = l.find('\t', f + 3);
    if (name == std::string::npos) return;
    const char* m = l.c_str() + name + 1;
    if (std::strncmp(m, "Query", 5) == 0 || std::strncmp(m, "Sync", 4) == 0) ++round_trips;
  }
};

int64_t Connection::round_trips() const {
  if (counter_->file) std::fflush(counter_->file);
  return counter_->round_trips;
}

Connection::~Connection() = default;

bool Connection::is_open() const { return conn_ && conn_->is_open(); }

bool Connection::responds() {
  if (!is_open()) return false;
  // Without a round trip first: an idle session has nothing to read, while one the server
  // ended (a restart, pg_terminate_backend) has its last message and the end of the stream
  // waiting on the socket. Only a session with something to read is asked.
  const int fd = conn_->sock();
  if (fd < 0) return false;
  pollfd ready{fd, POLLIN, 0};
  const int n = ::poll(&ready, 1, 0);
  if (n == 0) return true;
  if (n > 0 && (ready.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) return false;
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {  // lost: the server restarted, or ended the session
    return false;
  }
}

Connection::Connection(std::string name, const std::string& dsn, const std::string& role)
    : name_(std::move(name)), counter_(std::make_unique<Counter>()), conn_(nullptr, close_connection) {
  const std::string where = "connection '" + name_ + "'";
  // A DSN from the command line (--dsn) is checked as a config's is, so that no libpq parse
  // error, which quotes pieces of the string, can reach a message.
  if (auto why = dsn_problem(dsn)) throw ConfigError(where + ": " + *why);
  try {
    conn_.reset(new pqxx::connection(dsn));
    // libpqxx 6 silently opens a new session when one breaks, without the settings below (UTC,
    // ISO dates, float digits): a broken session must stay broken, so that it fails as lost.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    if (counter_->file) conn_->trace(counter_->file);
  } catch (const pqxx::broken_connection& e) {
    connect_failed(where, first_lines(scrub_secrets(e.what(), dsn_secrets(dsn))));
  } catch (...) {
    translate(where);
  }
  try {
    // Fixed output formats on every session, so values move between servers and into the
    // watermark exactly (UTC timestamps, ISO dates, full float precision).
    pqxx::nontransaction tx(*conn_);
    // The zone the session had before the SET (its reset value: from options/PGTZ, role,
    // database or the server's config), in the same round trip: a plain timestamp cursor holds
    // wall-clock time in the zone the writers' sessions get, and a fresh session of this
    // connection is the best witness of it.
    session_time_zone_ = tx.exec1("SET application_name = " + tx.quote(role) +
                                  "; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'"
                                  "; SET extra_float_digits = 3; SET bytea_output = 'hex'"
                                  "; SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'TimeZone'")[0]
                             .c_str();
  } catch (...) {
    translate(where);
  }
}

std::string Connection::render(const Sql& sql) {
  return sql.render([this](const SqlValue& v) { return v ? conn_->quote(*v) : std::string("NULL"); });
}

}  // namespace tidemark::pg
