// Integration-test harness: a real PostgreSQL server from TIDEMARK_TEST_DSN, one private set
// of schemas per test, and the tidemark binary run as a separate process, as cron runs it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace tmtest {

std::string test_dsn();       // TIDEMARK_TEST_DSN, or the test fails with a clear message
std::string tidemark_bin();   // TIDEMARK_BIN, or the build's own binary

struct CliResult {
  int exit_code = -1;
  std::string out, err;
  nlohmann::json json() const;  // stdout parsed as JSON (for --json)
};

// Runs the binary with `args`; `env` adds variables for that process only.
CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});

// The same, started in the background; finish() waits for it.
struct CliProcess {
  int pid = -1;
  std::string out_path, err_path;
};
CliProcess start_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});
CliResult finish(const CliProcess& p);

// A connection for setting up and inspecting data.
class Db {
 public:
  explicit Db(const std::string& dsn = test_dsn());
  void exec(const std::string& sql);
  pqxx::result query(const std::string& sql);
  std::string value(const std::string& sql);  // first column of the first row ("" for NULL)
  int64_t count(const std::string& table);
  // Order-independent content fingerprint: md5 of all rows as text, ordered by `order_by`.
  std::string fingerprint(const std::string& table, const std::string& order_by);
  pqxx::connection& conn() { return *conn_; }
  void reconnect();  // after a server restart

 private:
  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
};

// One test's world: schemas src_N / tgt_N / state_N, a config file, helpers to run it.
class Scenario {
 public:
  Scenario();
  ~Scenario();
  const std::string& src() const { return src_; }
  const std::string& tgt() const { return tgt_; }
  const std::string& state() const { return state_; }
  const std::string& dir() const { return dir_; }  // a private directory, removed with the scenario
  Db& db() { return db_; }
  // Writes the config (YAML). `pipelines_yaml` is the text under `pipelines:`; the words
  // SRC, TGT are replaced by the schema names. Connections `db` and `db2` both point at the
  // test database.
  std::string write_config(const std::string& pipelines_yaml, const std::string& extra_top = "");
  const std::string& config() const { return config_; }
  CliResult run(const std::vector<std::string>& extra = {}, const std::map<std::string, std::string>& env = {});
  // `run` with --json, requiring exit 0; returns the first pipeline's summary.
  nlohmann::json run_ok(const std::vector<std::string>& extra = {});
  std::string state_json(const std::string& pipeline);  // watermark jsonb as text
  int64_t state_version(const std::string& pipeline);
  bool same_content(const std::string& src_table, const std::string& tgt_table, const std::string& order_by);
  // Waits (up to 10 s, else the test fails) until a tidemark run's statement on the target
  // schema waits for a lock, e.g. one the test holds: by then the run holds its own locks.
  void wait_until_run_blocks();

 private:
  Db db_;
  std::string src_, tgt_, state_, dir_, config_;
};

// `sql` with SRC. and TGT. replaced by the scenario's schema names.
std::string sub(std::string sql, const Scenario& s);

// How often `part` occurs in `text` (non-overlapping), e.g. a log line in a run's stderr.
int count_occurrences(const std::string& text, const std::string& part);

// The log line of a session opened on the config's connection `db` (each role appends its
// application name, e.g. " (tidemark-source)").
extern const std::string kSessionOpenedOnDb;

}  // namespace tmtest
