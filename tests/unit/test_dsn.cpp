// Connection strings at validation: libpq's own parser and the value rules libpq applies when
// it connects, with the field path in the message; and no message ever quoting a password,
// however the DSN is broken (a fuzzed set of DSNs).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/dsn_fuzz.hpp"
#include "tidemark/config.hpp"
#include "tidemark/dsn.hpp"
#include "tidemark/errors.hpp"

using Catch::Contains;
using tidemark::ConfigError;

namespace {

const char* kPipelines =
    "pipelines:\n"
    "  - name: orders\n"
    "    source: {connection: app, table: public.orders}\n"
    "    detect: {strategy: id, cursor: id}\n"
    "    target: {connection: app, table: analytics.orders, key: [id]}\n";

// The config's error, "" when it validates. The DSN goes in as a JSON string (which YAML reads
// too), so any bytes survive the quoting.
std::string error_of(const std::string& dsn) {
  try {
    tidemark::parse_config("connections:\n  app: " + nlohmann::json(dsn).dump() + "\n" + kPipelines, "p.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config: a malformed connection string fails validation naming the connection and what libpq refuses",
          "[unit][config][dsn]") {
  const std::pair<const char*, const char*> cases[] = {
      {"host=db1 bogus=1", "not a valid connection string: invalid connection option \"bogus\""},
      {"host=db1 prot=5432", "invalid connection option \"prot\" (did you mean 'port'?)"},
      {"host=db1 port=notaport", "port 'notaport' is not a port number (1 to 65535)"},
      {"host=db1 port=70000", "port '70000' is not a port number (1 to 65535)"},
      {"host=db1 port=0", "port '0' is not a port number"},
      {"host=db1 sslmode=bogus", "sslmode 'bogus' is not one of disable, allow, prefer, require, verify-ca, verify-full"},
      {"host=db1 sslmode=verify_full", "(did you mean 'verify-full'?)"},
      {"host='db1 dbname=app", "not a valid connection string: unterminated quoted string in connection info string"},
      {"host=db1 dbname", "missing \"=\" after \"dbname\""},
      {"host=a,b port=1,2,3", "3 ports for 2 host(s): give one port for all hosts, or one per host"},
      {"host=a,b hostaddr=10.0.0.1", "2 host name(s) for 1 hostaddr value(s)"},
      {"hostaddr=db1.example.com", "hostaddr 'db1.example.com' is not a numeric IP address"},
      {"host=db1 connect_timeout=10s", "connect_timeout '10s' is not an integer"},
      {"host=db1 keepalives_idle=x", "keepalives_idle 'x' is not an integer"},
      {"host=db1 gssencmode=maybe", "gssencmode 'maybe' is not one of disable, prefer, require"},
      {"host=db1 channel_binding=on", "channel_binding 'on' is not one of disable, prefer, require"},
      {"host=db1 target_session_attrs=writable", "target_session_attrs 'writable' is not one of any, read-write"},
      {"host=db1 ssl_min_protocol_version=TLSv2", "ssl_min_protocol_version 'TLSv2' is not one of TLSv1, TLSv1.1"},
      {"host=db1 ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
       "ssl_min_protocol_version is above ssl_max_protocol_version"},
      {"postgresql://db1/app?bogus=1", "not a valid connection string: invalid URI query parameter: \"bogus\""},
      {"postgresql://db1:x/app", "port 'x' is not a port number"},
      {"postgresql://db1/app?sslmode=bogus", "sslmode 'bogus' is not one of"},
  };
  for (const auto& [dsn, expected] : cases) {
    INFO(dsn);
    CHECK_THAT(error_of(dsn), Contains(std::string("p.yaml:2: connections.app: ") ) && Contains(expected));
  }
  // What libpq accepts passes: defaults, lists, blanks around a port, numeric addresses.
  for (const char* dsn : {"", "host=db1", "host=a,b port=5432", "host=a,b port=5432,5433", "port=' 5432 '",
                          "hostaddr=127.0.0.1,::1 port=5432,", "sslmode=verify-full ssl_min_protocol_version=tlsv1.2",
                          "postgresql://etl@db1:5432/app?sslmode=require", "postgres://", "host=/var/run/postgresql"}) {
    INFO(dsn);
    CHECK(error_of(dsn).empty());
  }
}

TEST_CASE("config: a connection string is checked after ${VAR} expansion, in the map form at its dsn field",
          "[unit][config][dsn]") {
  ::setenv("TM_UT_DSN_PORT", "fivefourthreetwo", 1);
  CHECK_THAT(error_of("host=db1 port=${TM_UT_DSN_PORT}"),
             Contains("p.yaml:2: connections.app: port 'fivefourthreetwo' is not a port number"));
  ::setenv("TM_UT_DSN_PORT", "5432", 1);
  CHECK(error_of("host=db1 port=${TM_UT_DSN_PORT}").empty());
  ::unsetenv("TM_UT_DSN_PORT");
  try {
    tidemark::parse_config("connections:\n  app:\n    dsn: \"host=db1 sslmode=bogus\"\n    connect_timeout: 5s\n" +
                               std::string(kPipelines),
                           "p.yaml");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains("p.yaml:3: connections.app.dsn: sslmode 'bogus' is not one of"));
  }
}

TEST_CASE("config: a connection string with a password is never quoted in a validation error", "[unit][config][dsn]") {
  // The case: unquoted spaces. libpq says `missing "=" after "horse"`.
  const std::string msg = error_of("host=db1 user=etl password=correct horse battery dbname=app");
  CHECK_THAT(msg, Contains("p.yaml:2: connections.app: not a valid connection string: missing \"=\" after \"…\""));
  CHECK_THAT(msg, Contains("password='…'"));
  for (const char* word : {"correct", "horse", "battery"}) CHECK_THAT(msg, !Contains(word));
  // Values are not shown either when the string holds a password.
  const std::string port = error_of("host=db1 password=s3cr3t port=s3cr3t");
  CHECK_THAT(port, Contains("connections.app: port is not a port number") && !Contains("s3cr3t"));
  // A URI whose password holds an unencoded '@' or '/': libpq would take the rest for a host.
  const std::string at = error_of("postgresql://etl:pa@ss99@db1/app");
  CHECK_THAT(at, Contains("percent-encode '@'") && !Contains("ss99"));
  CHECK_THAT(error_of("postgresql://etl:pa/ss99@db1/app"), Contains("percent-encode") && !Contains("ss99"));
  CHECK(error_of("postgresql://etl:pa%40ss99@db1/app").empty());
}

TEST_CASE("dsn: fuzzed connection strings with passwords never put a piece of the password in a message",
          "[unit][config][dsn][fuzz]") {
  tmtest::DsnFuzzer fuzz(20261202, "host=db1.example.com port=5432 dbname=app user=etl", "etl",
                         "db1.example.com:5432", "app", "");
  int broken = 0, well_formed = 0;
  for (int i = 0; i < 4000; ++i) {
    const tmtest::FuzzDsn f = fuzz.next();
    INFO("dsn: " << f.dsn);
    const auto problem = tidemark::dsn_problem(f.dsn);
    const std::string msg = error_of(f.dsn);
    CHECK(tmtest::leaked(problem.value_or(""), f.password).empty());
    CHECK(tmtest::leaked(msg, f.password).empty());
    if (f.well_formed) {  // the generator's correct forms are read as libpq reads them
      ++well_formed;
      CHECK(!problem);
      CHECK(tidemark::dsn_secrets(f.dsn) == std::vector<std::string>{f.password});
      // Whatever a later message of this connection says, the password's pieces are scrubbed.
      const std::string said = "FATAL:  password authentication failed for user \"" + f.password + "\" " + f.dsn;
      CHECK(tmtest::leaked(tidemark::scrub_secrets(said, tidemark::dsn_secrets(f.dsn)), f.password).empty());
    } else if (problem) {
      ++broken;
    }
  }
  INFO(broken << " broken, " << well_formed << " well-formed");
  CHECK(broken > 1000);
  CHECK(well_formed > 1000);
}

TEST_CASE("dsn: scrub_secrets removes a password and each of its words, then redacts", "[unit][dsn]") {
  using tidemark::scrub_secrets;
  CHECK(scrub_secrets("user \"correct horse\" or horse; ok", {"correct horse"}) == "user \"***\" or ***; ok");
  CHECK(scrub_secrets("a b c", {"b"}) == "a b c");  // too short to scrub without mangling the text
  CHECK(scrub_secrets("host=h password=x1", {}) == "host=h password=***");
}
