// Config loading: YAML and JSON into the typed Config, ${ENV} expansion, and the messages a
// user sees for every kind of mistake (file:line: field.path: problem).
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "unit/config_error.hpp"

using Catch::Contains;
using tidemark::Config;
using tidemark::ConfigError;
using tidemark::NullCursor;
using tidemark::parse_config;
using tidemark::PipelineConfig;

namespace {

// Sets (or unsets) one environment variable for the scope of a test, then restores it.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = std::string(old);
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~EnvVar() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The message of the ConfigError that parsing `text` must throw; "<no ConfigError>" (which
// matches no expected message) when it parses.
std::string config_error(const std::string& text, const std::string& name = "pipelines.yaml") { return tmtest::config_error_in(text, name); }

// `text` with the only occurrence of `from` replaced by `to`.
std::string edit(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

// The message with every `file:NN: ` prefix turned into `file: `, after checking that each
// line has one. Cross-field rules are compared this way; their exact lines are the subject of
// the BUG test at the end of this file.
std::string no_lines(const std::string& msg, const std::string& file = "pipelines.yaml") {
  std::string out;
  size_t start = 0;
  while (start <= msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    std::string line = msg.substr(start, end - start);
    const std::string prefix = file + ":";
    INFO("message line: " << line);
    REQUIRE(line.rfind(prefix, 0) == 0);
    size_t i = prefix.size();
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    CHECK(i > prefix.size());  // a line number is given
    REQUIRE(line.compare(i, 2, ": ") == 0);
    out += (out.empty() ? "" : "\n") + file + line.substr(i);
    start = end + 1;
  }
  return out;
}

size_t count_lines(const std::string& s) {
  size_t n = 1;
  for (char c : s) n += c == '\n';
  return n;
}

// Two valid pipelines; tests break one thing at a time. Line numbers matter in the messages:
//  6 `- name: orders`, 10 detect, 11 strategy, 13 target (map starts at 14), 17 `- name: customers`,
// 21 detect, 22 strategy, 24 target (map starts at 25), 27 pipelines[1].target.key
const std::string kBase =
    "version: 1\n"                                  // 1
    "connections:\n"                                // 2
    "  app: postgresql://etl@db1/app\n"             // 3
    "  warehouse: postgresql://etl@dw/warehouse\n"  // 4
    "pipelines:\n"                                  // 5
    "  - name: orders\n"                            // 6
    "    source:\n"                                 // 7
    "      connection: app\n"                       // 8
    "      table: public.orders\n"                  // 9
    "    detect:\n"                                 // 10
    "      strategy: updated_at\n"                  // 11
    "      cursor: updated_at\n"                    // 12
    "    target:\n"                                 // 13
    "      connection: warehouse\n"                 // 14
    "      table: analytics.orders\n"               // 15
    "      key: [id]\n"                             // 16
    "  - name: customers\n"                         // 17
    "    source:\n"                                 // 18
    "      connection: app\n"                       // 19
    "      table: public.customers\n"               // 20
    "    detect:\n"                                 // 21
    "      strategy: id\n"                          // 22
    "      cursor: id\n"                            // 23
    "    target:\n"                                 // 24
    "      connection: warehouse\n"                 // 25
    "      table: analytics.customers\n"            // 26
    "      key: [id]\n";                            // 27

// The contract document of DESIGN.md, extended to every field and all three strategies.
const std::string kFullYaml = R"(version: 1
connections:
  app: "postgresql://etl@db1/app"
  warehouse: "${TM_UT_WAREHOUSE_DSN}"
  reporting: "host=${TM_UT_UNSET_HOST:-localhost} dbname=reporting password=pa$$word"
state:
  connection: warehouse
  schema: tm_state
pipelines:
  - name: orders
    source:
      connection: app
      table: public.orders
      columns: [id, customer_id, amount, status, updated_at]
    detect:
      strategy: updated_at
      cursor: updated_at
      lookback: 10m
      settle: 30s
      null_cursor: include
    target:
      connection: warehouse
      table: analytics.orders
      key: [id]
      write: upsert
    batch_size: 50000
  - name: events
    source:
      connection: app
      query: "SELECT id, kind FROM events ; "
    detect:
      strategy: id
      cursor: id
      lookback: 1000
    target:
      connection: warehouse
      table: '"Raw"."Events.v2"'
      key: id
      write: delete_insert
  - name: countries
    source: {connection: app, table: countries}
    detect: {strategy: full}
    target: {connection: warehouse, table: analytics.countries, key: [code]}
)";

const std::string kFullJson = R"({
  "version": 1,
  "connections": {
    "app": "postgresql://etl@db1/app",
    "warehouse": "${TM_UT_WAREHOUSE_DSN}",
    "reporting": "host=${TM_UT_UNSET_HOST:-localhost} dbname=reporting password=pa$$word"
  },
  "state": {"connection": "warehouse", "schema": "tm_state"},
  "pipelines": [
    {
      "name": "orders",
      "source": {
        "connection": "app",
        "table": "public.orders",
        "columns": ["id", "customer_id", "amount", "status", "updated_at"]
      },
      "detect": {
        "strategy": "updated_at",
        "cursor": "updated_at",
        "lookback": "10m",
        "settle": "30s",
        "null_cursor": "include"
      },
      "target": {"connection": "warehouse", "table": "analytics.orders", "key": ["id"], "write": "upsert"},
      "batch_size": 50000
    },
    {
      "name": "events",
      "source": {"connection": "app", "query": "SELECT id, kind FROM events ; "},
      "detect": {"strategy": "id", "cursor": "id", "lookback": 1000},
      "target": {"connection": "warehouse", "table": "\"Raw\".\"Events.v2\"", "key": "id", "write": "delete_insert"}
    },
    {
      "name": "countries",
      "source": {"connection": "app", "table": "countries"},
      "detect": {"strategy": "full"},
      "target": {"connection": "warehouse", "table": "analytics.countries", "key": ["code"]}
    }
  ]
}
)";

std::string names(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out + "]";
}

// Every typed field except source locations, so the YAML and JSON readings can be compared.
std::string summary(const Config& c) {
  std::ostringstream o;
  o << "version=" << c.version << "\n";
  for (const auto& [name, dsn] : c.connections) o << "connection " << name << "=" << dsn << "\n";
  o << "state " << c.state.connection << " " << c.state.schema << "\n";
  for (const auto& p : c.pipelines) {
    o << "pipeline " << p.name << " batch=" << p.batch_size << "\n";
    o << "  source " << p.source.connection << " table="
      << (p.source.table ? p.source.table->schema + "|" + p.source.table->name : "-") << " query=" << p.source.query
      << " columns=" << names(p.source.columns) << "\n";
    o << "  detect " << p.detect.strategy << " cursor=" << p.detect.cursor
      << " lookback=" << p.detect.lookback.value_or("-")
      << " settle=" << (p.detect.settle_seconds ? std::to_string(*p.detect.settle_seconds) : "-")
      << " null=" << (p.detect.null_cursor == NullCursor::kInclude ? "include" : "warn") << "\n";
    o << "  target " << p.target.connection << " " << p.target.table.schema << "|" << p.target.table.name
      << " key=" << names(p.target.key) << " write=" << p.target.write << "\n";
  }
  return o.str();
}

void check_full_config(const Config& c, const std::string& file) {
  CHECK(c.path == file);
  CHECK(c.version == 1);
  REQUIRE(c.connections.size() == 3);
  CHECK(c.connections.at("app") == "postgresql://etl@db1/app");
  CHECK(c.connections.at("warehouse") == "postgresql://loader@dw.internal/warehouse");
  CHECK(c.connections.at("reporting") == "host=localhost dbname=reporting password=pa$word");
  CHECK(c.state.connection == "warehouse");
  CHECK(c.state.schema == "tm_state");
  REQUIRE(c.pipelines.size() == 3);

  const PipelineConfig& o = c.pipelines[0];
  CHECK(o.name == "orders");
  CHECK(o.source.connection == "app");
  REQUIRE(o.source.table);
  CHECK(o.source.table->schema == "public");
  CHECK(o.source.table->name == "orders");
  CHECK(o.source.query.empty());
  CHECK(o.source.columns == std::vector<std::string>{"id", "customer_id", "amount", "status", "updated_at"});
  CHECK(o.detect.strategy == "updated_at");
  CHECK(o.detect.cursor == "updated_at");
  CHECK(o.detect.lookback == std::optional<std::string>("10m"));
  CHECK(o.detect.settle_seconds == std::optional<int64_t>(30));
  CHECK(o.detect.null_cursor == NullCursor::kInclude);
  CHECK(o.target.connection == "warehouse");
  CHECK(o.target.table.schema == "analytics");
  CHECK(o.target.table.name == "orders");
  CHECK(o.target.key == std::vector<std::string>{"id"});
  CHECK(o.target.write == "upsert");
  CHECK(o.batch_size == 50000);
  CHECK(o.loc.file == file);
  CHECK(o.loc.line > 0);

  const PipelineConfig& e = c.pipelines[1];
  CHECK(e.name == "events");
  CHECK_FALSE(e.source.table);
  CHECK(e.source.query == "SELECT id, kind FROM events");  // trailing spaces and ';' removed
  CHECK(e.source.columns.empty());
  CHECK(e.detect.strategy == "id");
  CHECK(e.detect.cursor == "id");
  CHECK(e.detect.lookback == std::optional<std::string>("1000"));
  CHECK_FALSE(e.detect.settle_seconds);
  CHECK(e.detect.null_cursor == NullCursor::kWarn);
  CHECK(e.target.table.schema == "Raw");
  CHECK(e.target.table.name == "Events.v2");
  CHECK(e.target.table.quoted() == "\"Raw\".\"Events.v2\"");
  CHECK(e.target.key == std::vector<std::string>{"id"});
  CHECK(e.target.write == "delete_insert");
  CHECK(e.batch_size == 0);

  const PipelineConfig& f = c.pipelines[2];
  CHECK(f.name == "countries");
  REQUIRE(f.source.table);
  CHECK(f.source.table->schema.empty());
  CHECK(f.source.table->name == "countries");
  CHECK(f.detect.strategy == "full");
  CHECK(f.detect.cursor.empty());
  CHECK_FALSE(f.detect.lookback);
  CHECK(f.target.key == std::vector<std::string>{"code"});
  CHECK(f.target.write == "full_refresh");  // the default of strategy full

  CHECK(c.find("events") == &c.pipelines[1]);
  CHECK(c.find("event") == nullptr);
}

}  // namespace

TEST_CASE("config: a full YAML config round-trips into the typed Config, every field included", "[unit][config]") {
  EnvVar dsn("TM_UT_WAREHOUSE_DSN", "postgresql://loader@dw.internal/warehouse");
  EnvVar host("TM_UT_UNSET_HOST", nullptr);
  const Config c = parse_config(kFullYaml, "pipelines.yaml");
  check_full_config(c, "pipelines.yaml");
  // Locations point at the pipeline item and at the first key of detect / target.
  CHECK(c.pipelines[0].loc.line == 10);
  CHECK(c.pipelines[0].detect.loc.line == 16);
  CHECK(c.pipelines[0].target.loc.line == 22);
  CHECK(c.pipelines[0].target.loc.file == "pipelines.yaml");
}

TEST_CASE("config: the same document in JSON gives the same Config as the YAML", "[unit][config]") {
  EnvVar dsn("TM_UT_WAREHOUSE_DSN", "postgresql://loader@dw.internal/warehouse");
  EnvVar host("TM_UT_UNSET_HOST", nullptr);
  const Config json = parse_config(kFullJson, "pipelines.json");
  check_full_config(json, "pipelines.json");
  const Config yaml = parse_config(kFullYaml, "pipelines.yaml");
  CHECK(summary(json) == summary(yaml));
  CHECK(json.pipelines[0].loc.line == 10);
}

TEST_CASE("config: ${VAR} and ${VAR:-default} expand from the environment and $$ is a literal dollar",
          "[unit][config]") {
  EnvVar set("TM_UT_SET", "value1");
  EnvVar empty("TM_UT_EMPTY", "");
  EnvVar unset("TM_UT_UNSET", nullptr);
  using tidemark::expand_env;
  CHECK(expand_env("a=${TM_UT_SET} b", "f") == "a=value1 b");
  CHECK(expand_env("${TM_UT_SET:-other}", "f") == "value1");
  CHECK(expand_env("${TM_UT_UNSET:-fallback value}", "f") == "fallback value");
  CHECK(expand_env("${TM_UT_EMPTY:-fallback}", "f") == "fallback");  // empty counts as unset
  CHECK(expand_env("${TM_UT_UNSET:-}", "f").empty());
  CHECK(expand_env("pa$$word $$${TM_UT_SET}", "f") == "pa$word $value1");
  CHECK(expand_env("cost $5 and $", "f") == "cost $5 and $");  // `$` not before `{` stays
  CHECK(expand_env("SELECT $$$$x$$$$", "f") == "SELECT $$x$$");

  CHECK_THROWS_WITH(expand_env("${TM_UT_UNSET", "f:3: x"), Contains("f:3: x: unterminated ${"));
  CHECK_THROWS_WITH(expand_env("${}", "f:3: x"), Contains("f:3: x: empty variable name"));
  CHECK_THROWS_WITH(expand_env("${A-B}", "f:3: x"), Contains("invalid variable name 'A-B'"));
  CHECK_THROWS_WITH(expand_env("${TM_UT_EMPTY}", "f:3: x"), Contains("environment variable TM_UT_EMPTY is not set"));

  // Through the loader: every string value is expanded, keys are not.
  EnvVar host("TM_UT_HOST", "db7");
  const Config c = parse_config(edit(kBase, "postgresql://etl@db1/app", "host=${TM_UT_HOST} password=a$$b"),
                                "pipelines.yaml");
  CHECK(c.connections.at("app") == "host=db7 password=a$b");
}

TEST_CASE("config: an unset variable without default is an error naming file:line, the field and the variable",
          "[unit][config]") {
  EnvVar unset("TM_UT_MISSING_DSN", nullptr);
  const std::string msg = config_error(edit(kBase, "postgresql://etl@dw/warehouse", "${TM_UT_MISSING_DSN}"));
  CHECK(msg ==
        "pipelines.yaml:4: connections.warehouse: environment variable TM_UT_MISSING_DSN is not set "
        "(use ${TM_UT_MISSING_DSN:-default} for a default)");
}

TEST_CASE("config: a missing target.key for upsert names file:line and the field path", "[unit][config]") {
  const std::string msg = config_error(edit(kBase, "table: analytics.customers\n      key: [id]\n",
                                            "table: analytics.customers\n"));
  CHECK(msg ==
        "pipelines.yaml:25: pipelines[1].target.key: required by write mode upsert (the columns that identify a row)");
}

TEST_CASE("config: an unknown key is an error that names its path and line and suggests the closest key",
          "[unit][config]") {
  const std::string msg = config_error(edit(kBase, "      strategy: updated_at\n", "      stratgy: updated_at\n"));
  CHECK_THAT(msg, Contains("pipelines.yaml:11: pipelines[0].detect.stratgy: unknown key (did you mean 'strategy'?)"));
  CHECK_THAT(msg, Contains("pipelines.yaml:11: pipelines[0].detect.strategy: required"));

  CHECK(config_error(kBase + "    batchsize: 10\n") ==
        "pipelines.yaml:28: pipelines[1].batchsize: unknown key (did you mean 'batch_size'?)");
  CHECK(config_error("verison: 1\n" + kBase.substr(kBase.find('\n') + 1)) ==
        "pipelines.yaml:1: verison: unknown key (did you mean 'version'?)");
  CHECK(config_error(kBase + "extras: {}\n") == "pipelines.yaml:28: extras: unknown key");
}

TEST_CASE("config: batch_size must be an unquoted whole number of rows", "[unit][config]") {
  CHECK(config_error(kBase + "    batch_size: abc\n") == "pipelines.yaml:28: pipelines[1].batch_size: must be an integer");
  CHECK(config_error(kBase + "    batch_size: \"5\"\n") ==
        "pipelines.yaml:28: pipelines[1].batch_size: must be an integer");
  CHECK(config_error(kBase + "    batch_size: 1.5\n") ==
        "pipelines.yaml:28: pipelines[1].batch_size: must be an integer");
  CHECK(config_error(kBase + "    batch_size: 0\n") ==
        "pipelines.yaml:28: pipelines[1].batch_size: must be a positive number of rows");
  CHECK(config_error(kBase + "    batch_size: [5]\n") ==
        "pipelines.yaml:28: pipelines[1].batch_size: must be an integer");
  CHECK(parse_config(kBase + "    batch_size: 5\n", "pipelines.yaml").pipelines[1].batch_size == 5);
  // JSON: a number is an integer, a string is not.
  const std::string json =
      R"({"connections": {"a": "host=x"}, "pipelines": [{"name": "p", "source": {"connection": "a", "table": "t"},
  "detect": {"strategy": "id", "cursor": "id"}, "target": {"connection": "a", "table": "u", "key": "id"},
  "batch_size": "5"}]})";
  CHECK(config_error(json, "pipelines.json") == "pipelines.json:3: pipelines[0].batch_size: must be an integer");
}

TEST_CASE("config: an unknown strategy is reported with a suggestion and the list of strategies", "[unit][config]") {
  CHECK(config_error(edit(kBase, "strategy: updated_at", "strategy: updatd_at")) ==
        "pipelines.yaml:11: pipelines[0].detect.strategy: unknown strategy 'updatd_at' (did you mean 'updated_at'?); "
        "one of: id, updated_at, full, files, cdc");
  CHECK(config_error(edit(kBase, "strategy: id", "strategy: cdc_stream")) ==
        "pipelines.yaml:22: pipelines[1].detect.strategy: unknown strategy 'cdc_stream'; one of: id, updated_at, full, files, cdc");
}

TEST_CASE("config: an unknown write mode is reported with the list of write modes", "[unit][config]") {
  CHECK(config_error(kBase + "      write: merge\n") ==
        "pipelines.yaml:28: pipelines[1].target.write: unknown write mode 'merge'; one of: upsert, delete_insert, "
        "append, full_refresh, partition_overwrite");
  CHECK_THAT(config_error(kBase + "      write: upsret\n"), Contains("unknown write mode 'upsret' (did you mean 'upsert'?)"));
}

TEST_CASE("config: an unknown connection name is reported with a suggestion", "[unit][config]") {
  CHECK(config_error(edit(kBase, "      connection: warehouse\n      table: analytics.customers",
                          "      connection: warehose\n      table: analytics.customers")) ==
        "pipelines.yaml:25: pipelines[1].target.connection: unknown connection 'warehose' (did you mean 'warehouse'?)");
  CHECK(config_error(edit(kBase, "pipelines:\n", "state: {connection: dwh}\npipelines:\n")) ==
        "pipelines.yaml:5: state.connection: unknown connection 'dwh'");
}

TEST_CASE("config: two pipelines with the same name are refused", "[unit][config]") {
  CHECK(config_error(edit(kBase, "name: customers", "name: orders")) ==
        "pipelines.yaml:17: pipelines[1].name: duplicate pipeline name 'orders'");
}

TEST_CASE("config: pipeline names are 1-63 letters, digits, '_', '.' or '-'", "[unit][config]") {
  CHECK(config_error(edit(kBase, "name: customers", "name: \"cust omers\"")) ==
        "pipelines.yaml:17: pipelines[1].name: 'cust omers' must be 1-63 letters, digits, '_', '.' or '-'");
  CHECK_THAT(config_error(edit(kBase, "name: customers", "name: -customers")), Contains("pipelines[1].name: '-customers'"));
  CHECK_THAT(config_error(edit(kBase, "  - name: customers\n", "  - \n")), Contains("pipelines[1].name: required"));
  CHECK(parse_config(edit(kBase, "name: customers", "name: crm.customers-v2_1"), "p.yaml").pipelines[1].name ==
        "crm.customers-v2_1");
}

TEST_CASE("config: a source with both table and query is refused", "[unit][config]") {
  CHECK(config_error(edit(kBase, "      table: public.orders\n",
                          "      table: public.orders\n      query: SELECT 1\n")) ==
        "pipelines.yaml:10: pipelines[0].source: give either table or query, not both");
  CHECK(config_error(edit(kBase, "      table: public.orders\n", "")) ==
        "pipelines.yaml:8: pipelines[0].source.table: required (or source.query)");
  CHECK(config_error(edit(kBase, "      table: public.orders\n", "      query: \" ; \"\n")) ==
        "pipelines.yaml:9: pipelines[0].source.query: must not be empty");
}

TEST_CASE("config: invalid table names are reported with the reason", "[unit][config]") {
  CHECK(config_error(edit(kBase, "table: public.orders", "table: a.b.c")) ==
        "pipelines.yaml:9: pipelines[0].source.table: invalid table name 'a.b.c': expected `table` or `schema.table`");
  CHECK(config_error(edit(kBase, "table: analytics.orders", "table: '\"unterminated'")) ==
        "pipelines.yaml:15: pipelines[0].target.table: invalid table name '\"unterminated': unterminated quoted name");
  CHECK_THAT(config_error(edit(kBase, "table: public.orders", "table: public.")),
             Contains("pipelines[0].source.table: invalid table name 'public.': empty name"));
}

TEST_CASE("config: strategy full refuses a cursor, lookback, settle and batch_size", "[unit][config]") {
  const std::string full = edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n      cursor: id\n");
  CHECK(no_lines(config_error(full)) ==
        "pipelines.yaml: pipelines[1].detect.cursor: not used by strategy full (it reads the whole source every run)");
  const std::string more =
      edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n      lookback: 5m\n      settle: 5s\n") +
      "    batch_size: 10\n";
  CHECK(no_lines(config_error(more)) ==
        "pipelines.yaml: pipelines[1].detect.lookback: not used by strategy full (it reads the whole source every run)\n"
        "pipelines.yaml: pipelines[1].detect.settle: not used by strategy full (it reads the whole source every run)\n"
        "pipelines.yaml: pipelines[1].batch_size: strategy full replaces the target in one transaction; batch_size does "
        "not apply");
  CHECK(no_lines(config_error(edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n") + "      write: upsert\n")) ==
        "pipelines.yaml: pipelines[1].target.write: strategy full replaces the target; use write: full_refresh (the "
        "default)");
}

TEST_CASE("config: an incremental strategy with write full_refresh points to --full-refresh", "[unit][config]") {
  CHECK(no_lines(config_error(kBase + "      write: full_refresh\n")) ==
        "pipelines.yaml: pipelines[1].target.write: full_refresh belongs to strategy full; for an incremental "
        "pipeline run `tidemark run --full-refresh`");
}

TEST_CASE("config: strategy updated_at without a key is refused by the strategy and by the write mode",
          "[unit][config]") {
  const std::string msg = config_error(edit(kBase, "table: analytics.orders\n      key: [id]\n", "table: analytics.orders\n"));
  CHECK(msg ==
        "pipelines.yaml:14: pipelines[0].target.key: required by strategy updated_at (rows that share a timestamp are "
        "ordered by key)\n"
        "pipelines.yaml:14: pipelines[0].target.key: required by write mode upsert (the columns that identify a row)");
  CHECK(config_error(edit(kBase, "      cursor: id\n", "")) ==
        "pipelines.yaml:22: pipelines[1].detect.cursor: required by strategy id");
}

TEST_CASE("config: append is refused when the state lives in another database, not when two names share a DSN",
          "[unit][config]") {
  const std::string append = kBase + "      write: append\n";
  CHECK(no_lines(config_error(edit(append, "pipelines:\n", "state: {connection: app}\npipelines:\n"))) ==
        "pipelines.yaml: pipelines[1].target.write: append needs the state in the target database, so one "
        "transaction guards rows and watermark");
  // The same DSN under another name is the same database.
  const std::string alias = edit(append, "pipelines:\n", "  dw2: postgresql://etl@dw/warehouse\nstate: {connection: dw2}\npipelines:\n");
  const Config c = parse_config(alias, "pipelines.yaml");
  CHECK(c.pipelines[1].target.write == "append");
  // Without a state section the state goes with the target.
  CHECK(parse_config(append, "pipelines.yaml").pipelines[1].target.write == "append");
  // delete_insert and upsert are idempotent and allowed with state elsewhere.
  CHECK_NOTHROW(parse_config(edit(kBase + "      write: delete_insert\n", "pipelines:\n", "state: {connection: app}\npipelines:\n"),
                             "pipelines.yaml"));
}

TEST_CASE("config: an id lookback must be a whole number and an updated_at lookback a duration", "[unit][config]") {
  CHECK(no_lines(config_error(edit(kBase, "      cursor: id\n", "      cursor: id\n      lookback: 10m\n"))) ==
        "pipelines.yaml: pipelines[1].detect.lookback: '10m' must be a whole number of ids for strategy id");
  CHECK(no_lines(config_error(edit(kBase, "      cursor: id\n", "      cursor: id\n      lookback: -5\n"))) ==
        "pipelines.yaml: pipelines[1].detect.lookback: '-5' must be a whole number of ids for strategy id");
  CHECK(no_lines(config_error(edit(kBase, "      cursor: updated_at\n", "      cursor: updated_at\n      lookback: 1000\n"))) ==
        "pipelines.yaml: pipelines[0].detect.lookback: '1000' is not a duration like 30s, 15m, 2h, 1d");
  const Config c = parse_config(
      edit(edit(kBase, "      cursor: id\n", "      cursor: id\n      lookback: 500\n"), "      cursor: updated_at\n",
           "      cursor: updated_at\n      lookback: 2h\n"),
      "pipelines.yaml");
  CHECK(c.pipelines[0].detect.lookback == std::optional<std::string>("2h"));
  CHECK(c.pipelines[1].detect.lookback == std::optional<std::string>("500"));
}

TEST_CASE("config: settle is refused on an id cursor and must be a duration", "[unit][config]") {
  CHECK(no_lines(config_error(edit(kBase, "      cursor: id\n", "      cursor: id\n      settle: 30s\n"))) ==
        "pipelines.yaml: pipelines[1].detect.settle: only applies to timestamp cursors (strategy updated_at)");
  CHECK(config_error(edit(kBase, "      cursor: updated_at\n", "      cursor: updated_at\n      settle: forever\n")) ==
        "pipelines.yaml:13: pipelines[0].detect.settle: 'forever' is not a duration like 30s, 5m, 1h");
  const Config c = parse_config(edit(kBase, "      cursor: updated_at\n", "      cursor: updated_at\n      settle: 2m\n"),
                                "pipelines.yaml");
  CHECK(c.pipelines[0].detect.settle_seconds == std::optional<int64_t>(120));
}

TEST_CASE("config: null_cursor is warn or include", "[unit][config]") {
  CHECK(parse_config(kBase, "p.yaml").pipelines[0].detect.null_cursor == NullCursor::kWarn);
  CHECK(config_error(edit(kBase, "      cursor: updated_at\n", "      cursor: updated_at\n      null_cursor: inclde\n")) ==
        "pipelines.yaml:13: pipelines[0].detect.null_cursor: must be warn or include (did you mean 'include'?)");
}

TEST_CASE("config: the cursor and every key column must be among source.columns when they are given",
          "[unit][config]") {
  CHECK(no_lines(config_error(edit(kBase, "      table: public.orders\n", "      table: public.orders\n      columns: [id, amount]\n"))) ==
        "pipelines.yaml: pipelines[0].source.columns: the cursor column 'updated_at' must be among the columns");
  CHECK(no_lines(config_error(edit(kBase, "      table: public.orders\n",
                                   "      table: public.orders\n      columns: [amount, updated_at]\n"))) ==
        "pipelines.yaml: pipelines[0].source.columns: the key column 'id' must be among the columns");
  CHECK(config_error(edit(kBase, "      table: public.orders\n", "      table: public.orders\n      columns: [id, id]\n")) ==
        "pipelines.yaml:10: pipelines[0].source.columns[1]: duplicate column 'id'");
  CHECK(config_error(edit(kBase, "      table: public.orders\n", "      table: public.orders\n      columns: []\n")) ==
        "pipelines.yaml:10: pipelines[0].source.columns: must not be empty");
  CHECK(config_error(edit(kBase, "table: analytics.customers\n      key: [id]", "table: analytics.customers\n      key: [id, '']")) ==
        "pipelines.yaml:27: pipelines[1].target.key[1]: empty column name");
}

TEST_CASE("config: invalid JSON gives a line and column", "[unit][config]") {
  const std::string msg = config_error("{\n  \"connections\": {\"app\": \"x\"},\n  \"pipelines\": [,]\n}\n", "pipelines.json");
  CHECK_THAT(msg, Contains("pipelines.json: invalid JSON: parse error at line 3, column 17"));
  CHECK_THAT(config_error("{\"connections\": {}, }", "p.json"), Contains("p.json: invalid JSON: parse error at line 1"));
  // JSON is strict: YAML-isms are refused before the YAML reader sees them.
  CHECK_THAT(config_error("{connections: {}}", "p.json"), Contains("p.json: invalid JSON"));
}

TEST_CASE("config: invalid YAML names the line", "[unit][config]") {
  const std::string msg = config_error("connections:\n  a: [1,\n  b: c\n");
  CHECK_THAT(msg, Catch::StartsWith("pipelines.yaml:") && Contains(": invalid YAML: end of sequence flow not found"));
  CHECK(no_lines(msg) == "pipelines.yaml: invalid YAML: end of sequence flow not found");
  CHECK(config_error("a: b\n c: d\n") .rfind("pipelines.yaml:2: invalid YAML: ", 0) == 0);
}

TEST_CASE("config: an empty file is an error", "[unit][config]") {
  CHECK(config_error("") == "pipelines.yaml: the config is empty");
  CHECK(config_error("# only a comment\n\n") == "pipelines.yaml: the config is empty");
  CHECK_THAT(config_error("", "pipelines.json"), Contains("pipelines.json: invalid JSON"));
  CHECK(config_error("just text\n") == "pipelines.yaml:1: (top level): must be a mapping (key: value)");
}

TEST_CASE("config: connections and pipelines are required, and only version 1 is read", "[unit][config]") {
  CHECK(config_error("version: 1\n") ==
        "pipelines.yaml: connections: required\n"
        "pipelines.yaml: pipelines: required");
  CHECK(config_error(edit(kBase, "version: 1", "version: 2")) ==
        "pipelines.yaml:1: version: unsupported version 2 (this tidemark reads version 1)");
  CHECK(config_error(kBase.substr(0, kBase.find("pipelines:")) + "pipelines: []\n") ==
        "pipelines.yaml:5: pipelines: must be a non-empty list");
  // An empty connection string leaves everything to libpq's defaults (PG* variables).
  CHECK(parse_config(edit(kBase, "postgresql://etl@db1/app", "\"\""), "pipelines.yaml").connections.at("app").empty());
  CHECK(no_lines(config_error(edit(kBase, "postgresql://etl@db1/app", ""))) ==
        "pipelines.yaml: connections.app: must be a string");  // a null value
}

TEST_CASE("config: several errors are reported together, one per line", "[unit][config]") {
  EnvVar unset("TM_UT_MISSING_DSN", nullptr);
  std::string text = edit(kBase, "postgresql://etl@dw/warehouse", "${TM_UT_MISSING_DSN}");
  text = edit(text, "strategy: updated_at", "strategy: updated");
  text = edit(text, "table: public.customers", "table: a.b.c");
  text += "    batchsize: 10\n";
  const std::string msg = config_error(text);
  CHECK(count_lines(msg) == 4);
  CHECK_THAT(msg, Contains("pipelines.yaml:4: connections.warehouse: environment variable TM_UT_MISSING_DSN is not set"));
  CHECK_THAT(msg, Contains("pipelines.yaml:11: pipelines[0].detect.strategy: unknown strategy 'updated'"));
  CHECK_THAT(msg, Contains("pipelines.yaml:20: pipelines[1].source.table: invalid table name 'a.b.c'"));
  CHECK_THAT(msg, Contains("pipelines.yaml:28: pipelines[1].batchsize: unknown key (did you mean 'batch_size'?)"));
}

TEST_CASE("config: JSON messages name the line of the offending value like YAML ones", "[unit][config]") {
  const std::string json = R"({
  "connections": {"app": "postgresql://etl@db1/app"},
  "pipelines": [
    {
      "name": "a",
      "source": {"connection": "app", "table": "t"},
      "detect": {"strategy": "id", "cursor": "id"},
      "target": {"connection": "app", "table": "u"}
    }
  ]
}
)";
  CHECK(config_error(json, "pipelines.json") ==
        "pipelines.json:8: pipelines[0].target.key: required by write mode upsert (the columns that identify a row)");
}

TEST_CASE("config: the default write mode follows the strategy", "[unit][config]") {
  const Config c = parse_config(kBase, "pipelines.yaml");
  CHECK(c.pipelines[0].target.write == "upsert");  // updated_at
  CHECK(c.pipelines[1].target.write == "upsert");  // id
  const Config f = parse_config(edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n"), "pipelines.yaml");
  CHECK(f.pipelines[1].target.write == "full_refresh");
  CHECK(f.pipelines[1].detect.cursor.empty());
}

TEST_CASE("config: a key given as one name is read as a one-element list", "[unit][config]") {
  const Config c = parse_config(edit(kBase, "table: analytics.customers\n      key: [id]", "table: analytics.customers\n      key: id"),
                                "pipelines.yaml");
  CHECK(c.pipelines[1].target.key == std::vector<std::string>{"id"});
  const Config two = parse_config(edit(kBase, "table: analytics.orders\n      key: [id]",
                                       "table: analytics.orders\n      key: [region, Order Id]"),
                                  "pipelines.yaml");
  CHECK(two.pipelines[0].target.key == std::vector<std::string>{"region", "Order Id"});
}

TEST_CASE("config: the state goes with the target unless state.connection names another database",
          "[unit][config]") {
  Config c;
  c.connections = {{"app", "postgresql://a/app"}, {"dw", "postgresql://b/dw"}, {"dw_alias", "postgresql://b/dw"}};
  PipelineConfig p;
  p.target.connection = "dw";
  CHECK(c.state_with_target(p));
  CHECK(c.state_connection(p) == "dw");
  c.state.connection = "dw";
  CHECK(c.state_with_target(p));
  c.state.connection = "dw_alias";
  CHECK(c.state_with_target(p));
  CHECK(c.state_connection(p) == "dw_alias");
  c.state.connection = "app";
  CHECK_FALSE(c.state_with_target(p));
  CHECK(c.state_connection(p) == "app");
  CHECK(c.state.schema == "tidemark");  // the default schema
}

TEST_CASE("config: load_config names a file it cannot open", "[unit][config]") {
  CHECK_THROWS_WITH(tidemark::load_config("/nonexistent/tidemark-ut/pipelines.yaml"),
                    "/nonexistent/tidemark-ut/pipelines.yaml: cannot open config file");
}

TEST_CASE("config: a key given twice in one mapping is an error, not silently resolved to the first value",
          "[unit][config]") {
  const std::string text = kBase + "      write: delete_insert\n      write: append\n";
  CHECK_THROWS_AS(parse_config(text, "pipelines.yaml"), ConfigError);
  const std::string json = R"({"connections": {"a": "host=x"}, "pipelines": [{"name": "p", "source": {"connection": "a", "table": "t"},
  "detect": {"strategy": "id", "cursor": "id"}, "target": {"connection": "a", "table": "u", "key": "id",
  "write": "delete_insert", "write": "append"}}]})";
  CHECK_THROWS_AS(parse_config(json, "pipelines.json"), ConfigError);
}

// Regression: assigning to a yaml-cpp node that aliases the tree (`at = n[rel]`) re-pointed
// the pipeline node, so cross-field errors named the first line of a section, and every later
// error of the pipeline (and the duplicate-name check) inherited that wrong line.
TEST_CASE("config: a cross-field error names the line of the offending field, also after an earlier one",
          "[unit][config]") {
  // detect.cursor is on line 23 (line 22 is `strategy: full`).
  CHECK(config_error(edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n      cursor: id\n")) ==
        "pipelines.yaml:23: pipelines[1].detect.cursor: not used by strategy full (it reads the whole source every run)");
  // detect.lookback is on line 24.
  CHECK(config_error(edit(kBase, "      cursor: id\n", "      cursor: id\n      lookback: 10m\n")) ==
        "pipelines.yaml:24: pipelines[1].detect.lookback: '10m' must be a whole number of ids for strategy id");
  // source.columns is on line 10.
  CHECK(config_error(edit(kBase, "      table: public.orders\n", "      table: public.orders\n      columns: [id, amount]\n")) ==
        "pipelines.yaml:10: pipelines[0].source.columns: the cursor column 'updated_at' must be among the columns");
  // target.write is on line 29 (28 lines of kBase + the state line).
  CHECK(config_error(edit(kBase + "      write: append\n", "pipelines:\n", "state: {connection: app}\npipelines:\n")) ==
        "pipelines.yaml:29: pipelines[1].target.write: append needs the state in the target database, so one "
        "transaction guards rows and watermark");
  // Several errors in one pipeline: each on its own line (23, 24, 29), not all on the first one's.
  const std::string more =
      edit(kBase, "strategy: id\n      cursor: id\n", "strategy: full\n      lookback: 5m\n      settle: 5s\n") +
      "    batch_size: 10\n";
  const std::string msg = config_error(more);
  CHECK_THAT(msg, Contains("pipelines.yaml:23: pipelines[1].detect.lookback:"));
  CHECK_THAT(msg, Contains("pipelines.yaml:24: pipelines[1].detect.settle:"));
  CHECK_THAT(msg, Contains("pipelines.yaml:29: pipelines[1].batch_size:"));
  // A duplicate name found after a cross-field error of the same pipeline still has its line.
  CHECK_THAT(config_error(edit(edit(kBase, "name: customers", "name: orders"), "      cursor: id\n",
                               "      cursor: id\n      settle: 30s\n")),
             Contains("pipelines.yaml:17: pipelines[1].name: duplicate pipeline name 'orders'"));
}

TEST_CASE("config: an empty column name given as a single name is refused like in a list",
          "[unit][config]") {
  CHECK_THAT(config_error(edit(kBase, "table: analytics.customers\n      key: [id]", "table: analytics.customers\n      key: ''")),
             Contains("pipelines[1].target.key: empty column name"));
  CHECK_THAT(config_error(edit(kBase, "      table: public.customers\n", "      table: public.customers\n      columns: ''\n")),
             Contains("pipelines[1].source.columns: empty column name"));
}

TEST_CASE("config: connection timeouts become libpq parameters of the connection string", "[unit][config]") {
  auto dsn_of = [](const std::string& conn) {
    return parse_config("connections:\n  db: " + conn +
                            "\npipelines:\n  - name: p\n    source: {connection: db, table: s.t}\n"
                            "    detect: {strategy: full}\n    target: {connection: db, table: t.t}\n",
                        "x.yaml")
        .connections.at("db");
  };
  CHECK(dsn_of("{dsn: \"host=h dbname=d\", connect_timeout: 10s, statement_timeout: 30m, lock_timeout: 1500ms}") ==
        "host=h dbname=d connect_timeout='10' options='-c statement_timeout=1800000ms -c lock_timeout=1500ms'");
  CHECK(dsn_of("{dsn: \"postgresql://u@h/d?sslmode=require\", lock_timeout: 2s}") ==
        "postgresql://u@h/d?sslmode=require&options=-c%20lock_timeout%3D2000ms");
  CHECK(dsn_of("{dsn: \"postgres://h/d\", connect_timeout: 3s}") == "postgres://h/d?connect_timeout=3");
  CHECK(dsn_of("\"host=h\"") == "host=h");
  CHECK_THROWS_WITH(dsn_of("{dsn: \"host=h options='-c x=1'\", lock_timeout: 1s}"),
                    Catch::Contains("connections.db.dsn: already sets options"));
  CHECK_THROWS_WITH(dsn_of("{dsn: \"host=h\", lock_timeout: soon}"),
                    Catch::Contains("connections.db.lock_timeout: 'soon' is not a duration"));
  CHECK_THROWS_WITH(dsn_of("{host: h}"), Catch::Contains("connections.db.host: unknown key"));
}

TEST_CASE("config: jobs is how many pipelines a run runs at once, 1 to 64", "[unit][config]") {
  auto cfg = [](const std::string& jobs) {
    return parse_config(jobs + "\nconnections: {db: \"\"}\npipelines:\n  - name: p\n    source: {connection: db, table: s.t}\n"
                               "    detect: {strategy: full}\n    target: {connection: db, table: t.t}\n",
                        "c.yaml");
  };
  CHECK(cfg("").jobs == 1);
  CHECK(cfg("jobs: 4").jobs == 4);
  CHECK_THROWS_WITH(cfg("jobs: 0"), Contains("c.yaml:1: jobs: must be between 1 and 64"));
  CHECK_THROWS_WITH(cfg("jobs: 65"), Contains("jobs: must be between 1 and 64"));
  CHECK_THROWS_WITH(cfg("jobs: many"), Contains("jobs:"));
}

TEST_CASE("config: retries take a number of attempts and a backoff", "[unit][config]") {
  auto cfg = [](const std::string& retries) {
    return parse_config(retries + "\nconnections: {db: \"\"}\npipelines:\n  - name: p\n    source: {connection: db, table: s.t}\n"
                        "    detect: {strategy: full}\n    target: {connection: db, table: t.t}\n",
                        "x.yaml");
  };
  CHECK(cfg("").retries.attempts == 0);
  const Config c = cfg("retries: {attempts: 3, backoff: 2s}");
  CHECK(c.retries.attempts == 3);
  CHECK(c.retries.backoff_ms == 2000);
  CHECK_THROWS_WITH(cfg("retries: {attempts: 11}"), Catch::Contains("retries.attempts: must be between 0 and 10"));
  CHECK_THROWS_WITH(cfg("retries: {tries: 1}"), Catch::Contains("retries.tries: unknown key"));
}

TEST_CASE("config: state.file is a local file beside the config, exclusive with a state schema", "[unit][config]") {
  const std::string base = edit(kBase, "pipelines:\n", "state:\n  file: state/dw.json\npipelines:\n");
  const Config cfg = tidemark::parse_config(base, "/etc/tidemark/pipelines.yaml");
  CHECK(cfg.state.file == "/etc/tidemark/state/dw.json");
  CHECK_FALSE(cfg.state_with_target(cfg.pipelines[0]));
  CHECK(tidemark::parse_config(edit(kBase, "pipelines:\n", "state: {file: /var/lib/tm.json}\npipelines:\n"), "p.yaml").state.file ==
        "/var/lib/tm.json");
  CHECK_THAT(config_error(edit(kBase, "pipelines:\n", "state: {file: s.json, schema: etl}\npipelines:\n")),
             Contains("state.schema: state.file keeps the state in a local file; remove state.schema"));
  CHECK_THAT(config_error(edit(kBase, "pipelines:\n", "state: {file: s.json}\npipelines:\n") + "    chunk: 1d\n"),
             Contains("chunk: chunked backfills record their chunks in the state schema"));
}

TEST_CASE("config: a relative detect.path is resolved against the config file's directory, like state.file",
          "[unit][config]") {
  const std::string files = "version: 1\nconnections: {wh: 'dbname=wh'}\npipelines:\n  - name: drops\n"
                            "    detect: {strategy: files, path: %P, pattern: '*.csv'}\n"
                            "    target: {connection: wh, table: raw.drops}\n";
  auto path_of = [&](const std::string& p, const std::string& config) {
    std::string text = files;
    text.replace(text.find("%P"), 2, p);
    return tidemark::parse_config(text, config).pipelines.at(0).detect.files.path;
  };
  CHECK(path_of("drops/in", "/etc/tidemark/pipelines.yaml") == "/etc/tidemark/drops/in");
  CHECK(path_of("/data/drops", "/etc/tidemark/pipelines.yaml") == "/data/drops");
  CHECK(path_of("drops", "conf/p.yaml") == "conf/drops");
  CHECK(path_of("drops", "p.yaml") == "drops");
}

TEST_CASE("config: detect.time_zone names the zone of a plain timestamp cursor; a malformed name is refused",
          "[unit][config][tz]") {
  const std::string head = R"(
connections: {src: "dbname=a", dw: "dbname=b"}
pipelines:
  - name: events
    source: {connection: src, table: app.events}
)";
  const std::string target = "    target: {connection: dw, table: dw.events, key: [id]}\n";
  const Config ok =
      parse_config(head + "    detect: {strategy: updated_at, cursor: upd, time_zone: America/Chicago}\n" + target, "p.yaml");
  CHECK(ok.pipelines[0].detect.time_zone == std::optional<std::string>("America/Chicago"));
  CHECK_FALSE(parse_config(head + "    detect: {strategy: updated_at, cursor: upd}\n" + target, "p.yaml")
                  .pipelines[0]
                  .detect.time_zone);
  try {
    parse_config(head + "    detect: {strategy: updated_at, cursor: upd, time_zone: \"Chicago; DROP\"}\n" + target, "p.yaml");
    FAIL("accepted a malformed time zone");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("detect.time_zone") && Catch::Contains("is not a time zone name"));
  }
}

TEST_CASE("config: an integer beyond its field's range says too large, not that it is no integer", "[unit][config]") {
  const std::string base = "connections: {app: \"host=a\"}\npipelines:\n  - name: p\n    source: {connection: app, table: t}\n"
                           "    detect: {strategy: id, cursor: id}\n    target: {connection: app, table: u, key: [id]}\n"
                           "    batch_size: N\n";
  CHECK(config_error(edit(base, "N", "9223372036854775807")) ==
        "pipelines.yaml:7: pipelines[0].batch_size: too large: at most 2147483647 rows per batch");
  CHECK(config_error(edit(base, "N", "99999999999999999999")) ==
        "pipelines.yaml:7: pipelines[0].batch_size: too large (99999999999999999999)");
  CHECK(config_error(edit(base, "N", "-99999999999999999999")) ==
        "pipelines.yaml:7: pipelines[0].batch_size: too small (-99999999999999999999)");
  CHECK(config_error(edit(base, "N", "2147483647")) == "<no ConfigError>");
  CHECK_THAT(config_error(edit(base, "N", "1e3")), Contains("batch_size: must be an integer"));
}

TEST_CASE("config: an unterminated quote is a YAML error at the line where the quote opened", "[unit][config]") {
  for (const char* q : {"\"", "'"}) {
    INFO(q);
    const std::string text = std::string("version: 1\nconnections:\n  app: ") + q +
                             "host=a\npipelines:\n  - name: p\n    source: {connection: app, table: t}\n";
    CHECK(config_error(text) == std::string("pipelines.yaml:3: invalid YAML: the quoted string that starts at column 8 "
                                            "has no closing ") + q);
  }
  // Escaped and doubled quotes do not end a string, and do not count as unterminated.
  CHECK_THAT(config_error("connections:\n  app: \"host=a \\\" b\"\n  b: 'it''s'\npipelines: []\n"),
             Contains("pipelines: must be a non-empty list"));
}
