// Connections that cannot be opened, as cron sees them: what the message says, what `retries`
// tries again (never a wrong password), and that no message of `validate`, `run`, `plan` or
// `init` repeats a password, for a fuzzed set of connection strings.
//
// A wrong password needs a server that asks for one. The private cluster of scripts/test.sh
// trusts its socket, except for the one role kPasswordRole, which pg_hba.conf asks for a SCRAM
// password (scripts/lib/pgcluster.sh); no other test's connections change.
#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/dsn_fuzz.hpp"
#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::run_cli;

namespace {

const char* kPasswordRole = "tidemark_pw_test";
const char* kRightPassword = "Right-Pw-7kq";

// The options of the test server's DSN (host, port, dbname, …), to build others from.
std::map<std::string, std::string> test_params() {
  std::map<std::string, std::string> out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(tmtest::test_dsn().c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "?";
    PQfreemem(err);
    FAIL("TIDEMARK_TEST_DSN does not parse: " << why);
  }
  for (PQconninfoOption* o = opts; o->keyword; ++o)
    if (o->val) out[o->keyword] = o->val;
  PQconninfoFree(opts);
  return out;
}

std::string quoted(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// The test server's DSN with some options replaced (or removed, with "").
std::string dsn_with(const std::map<std::string, std::string>& changes) {
  auto params = test_params();
  for (const auto& [k, v] : changes) params[k] = v;
  std::string out;
  for (const auto& [k, v] : params)
    if (!v.empty()) out += (out.empty() ? "" : " ") + k + "=" + quoted(v);
  return out;
}

void ensure_password_role(tmtest::Db& db) {
  db.exec(std::string("DO $$ BEGIN CREATE ROLE ") + kPasswordRole + " LOGIN; EXCEPTION WHEN duplicate_object OR "
          "unique_violation THEN NULL; END $$");
  db.exec(std::string("ALTER ROLE ") + kPasswordRole + " LOGIN PASSWORD '" + kRightPassword + "'");
}

// Whether the server checks kPasswordRole's password (it does on the private cluster).
bool server_asks_password() {
  try {
    pqxx::connection c(dsn_with({{"user", kPasswordRole}, {"password", "not-the-password"}}));
    return false;
  } catch (const pqxx::broken_connection&) {
    return true;
  }
}

// A config whose only connection is `dsn` (as a JSON string, so any bytes survive).
std::string write_config(const tmtest::Scenario& s, const std::string& dsn, const std::string& retries = "") {
  const std::string path = s.dir() + "/connect.yaml";
  std::ofstream(path) << retries << "connections:\n  app: " << nlohmann::json(dsn).dump() << "\n"
                      << "state: {schema: " << s.state() << "}\n"
                      << "pipelines:\n  - name: t\n    source: {connection: app, table: " << s.src() << ".t}\n"
                      << "    detect: {strategy: id, cursor: id}\n"
                      << "    target: {connection: app, table: " << s.tgt() << ".t, key: [id]}\n";
  return path;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

const char* kRetries = "retries: {attempts: 3, backoff: 100ms}\n";

}  // namespace

TEST_CASE("connect: a wrong password fails once as an authentication failure and is never retried",
          "[pg][connect][retries]") {
  tmtest::Scenario s;
  ensure_password_role(s.db());
  if (!server_asks_password()) {
    WARN("this server does not ask " << kPasswordRole << " for a password (scripts/lib/pgcluster.sh sets that up); "
                                                          "skipping the wrong-password case");
    return;
  }
  // The right password connects: the role and its pg_hba.conf line are what the test thinks.
  CHECK_NOTHROW(pqxx::connection(dsn_with({{"user", kPasswordRole}, {"password", kRightPassword}})));
  const std::string cfg =
      write_config(s, dsn_with({{"user", kPasswordRole}, {"password", "Wrong-Pw-x9q"}}), kRetries);
  for (const char* command : {"run", "plan"}) {
    INFO(command);
    CliResult r = run_cli({command, "-c", cfg});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("connection 'app': authentication failed: ") &&
                          Contains("password authentication failed for user \"tidemark_pw_test\"") &&
                          Contains("not retried") && Contains("nothing was read or written"));
    // Attempted once: one failed login in the log, no retry, no talk of transactions.
    CHECK(count(r.err, "password authentication failed") == 1);
    CHECK_THAT(r.err, !Contains("retrying") && !Contains("connection lost") && !Contains("rolled back") &&
                          !Contains("Wrong-Pw-x9q"));
  }
}

TEST_CASE("connect: a role or database that does not exist is refused at once, never retried", "[pg][connect][retries]") {
  tmtest::Scenario s;
  for (const auto& [key, value] : {std::pair{"user", "tidemark_no_such_role"}, std::pair{"dbname", "tidemark_no_such_db"}}) {
    INFO(key << "=" << value);
    CliResult r = run_cli({"run", "-c", write_config(s, dsn_with({{key, value}}), kRetries)});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("connection 'app': the server refused the login: ") &&
                          Contains(std::string("\"") + value + "\" does not exist") && Contains("not retried"));
    CHECK_THAT(r.err, !Contains("retrying") && !Contains("connection lost") && !Contains("rolled back"));
  }
}

TEST_CASE("connect: an unknown host is not retried and the message says it could not be resolved",
          "[pg][connect][retries]") {
  tmtest::Scenario s;
  const std::string cfg =
      write_config(s, dsn_with({{"host", "tidemark-no-such-host.invalid"}, {"hostaddr", ""}}), kRetries);
  CliResult r = run_cli({"run", "-c", cfg});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("connection 'app': host name \"tidemark-no-such-host.invalid\" could not be resolved") &&
                        Contains("not retried"));
  CHECK_THAT(r.err, !Contains("retrying") && !Contains("connection lost") && !Contains("rolled back"));
}

TEST_CASE("connect: a refused connection is retried and reported as could not connect, not as a lost connection",
          "[pg][connect][retries]") {
  tmtest::Scenario s;
  const std::string cfg = write_config(s, dsn_with({{"host", "127.0.0.1"}, {"hostaddr", ""}, {"port", "1"}}),
                                       "retries: {attempts: 1, backoff: 100ms}\n");
  CliResult r = run_cli({"run", "-c", cfg});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("connection 'app': could not connect: ") && Contains("Connection refused") &&
                        Contains("retrying in 0.1s (retry 1 of 1)") && Contains("nothing was read or written"));
  CHECK_THAT(r.err, !Contains("connection lost") && !Contains("rolled back"));
}

TEST_CASE("validate: a malformed connection string exits 2 naming the field, and run and plan refuse it the same way",
          "[pg][connect][cli]") {
  tmtest::Scenario s;
  const std::pair<std::string, std::string> cases[] = {
      {"host=/tmp bogus=1", "invalid connection option \"bogus\""},
      {"host=/tmp port=notaport", "port 'notaport' is not a port number (1 to 65535)"},
      {"host=/tmp sslmode=bogus", "sslmode 'bogus' is not one of disable, allow, prefer"},
      {"host='/tmp dbname=x", "unterminated quoted string"},
      {"host=/tmp password=correct horse battery", "not a valid connection string"},
  };
  for (const auto& [dsn, expected] : cases) {
    INFO(dsn);
    const std::string cfg = write_config(s, dsn);
    for (const char* command : {"validate", "run", "plan"}) {
      INFO(command);
      CliResult r = run_cli({command, "-c", cfg});
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Contains(cfg + ":2: connections.app: ") && Contains(expected));
      CHECK_THAT(r.err, !Contains("rolled back") && !Contains("horse") && !Contains("battery"));
    }
  }
}

TEST_CASE("connect: fuzzed connection strings with passwords never put a piece of the password in any output",
          "[pg][connect][cli][fuzz]") {
  tmtest::Scenario s;
  ensure_password_role(s.db());
  // Key=value forms from the test server's options; URI forms with the socket or host in the query.
  auto params = test_params();
  params["user"] = kPasswordRole;
  params.erase("password");
  std::string base, query;
  for (const auto& [k, v] : params) {
    base += (base.empty() ? "" : " ") + k + "=" + quoted(v);
    if (k == "host" || k == "hostaddr" || k == "port") {
      std::string enc;
      for (unsigned char c : v) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        enc += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : std::string(buf);
      }
      query += (query.empty() ? "" : "&") + k + "=" + enc;
    }
  }
  tmtest::DsnFuzzer fuzz(20261203, base, kPasswordRole, "", params.count("dbname") ? params["dbname"] : "", query);
  int refused_at_validation = 0, failed_to_connect = 0;
  for (int i = 0; i < 36; ++i) {
    const tmtest::FuzzDsn f = fuzz.next();
    INFO("dsn: " << f.dsn);
    const std::string cfg = write_config(s, f.dsn, i % 2 ? kRetries : "");
    std::vector<std::vector<std::string>> commands = {{"validate", "-c", cfg}, {"run", "-c", cfg},
                                                      {"plan", "-c", cfg}, {"run", "-c", cfg, "--log-format", "json", "--json"}};
    if (i % 4 == 0) commands.push_back({"init", "--dsn", f.dsn, "--table", "public.nothing"});
    for (const auto& args : commands) {
      INFO(args[0]);
      CliResult r = run_cli(args);
      INFO("stderr: " << r.err << "\nstdout: " << r.out);
      CHECK(tmtest::leaked(r.err + r.out, f.password).empty());
      if (args[0] == "validate") {
        if (r.exit_code == 2) ++refused_at_validation;
        if (f.well_formed) CHECK(r.exit_code == 0);
      } else if (args[0] == "run" && r.exit_code == 1) {
        ++failed_to_connect;
      }
    }
  }
  INFO(refused_at_validation << " refused by validate, " << failed_to_connect << " runs failed");
  CHECK(refused_at_validation > 5);
  CHECK(failed_to_connect > 5);
}
