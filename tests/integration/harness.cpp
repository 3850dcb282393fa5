#include "integration/harness.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace tmtest {

std::string test_dsn() {
  const char* d = std::getenv("TIDEMARK_TEST_DSN");
  if (!d || !*d) FAIL("TIDEMARK_TEST_DSN is not set: run the suite through scripts/test.sh, which starts a server");
  return d;
}

std::string tidemark_bin() {
  const char* b = std::getenv("TIDEMARK_BIN");
  return b && *b ? b : TIDEMARK_BIN_DEFAULT;
}

nlohmann::json CliResult::json() const {
  try {
    return nlohmann::json::parse(out);
  } catch (const std::exception& e) {
    FAIL("stdout is not JSON: " << e.what() << "\nstdout: " << out << "\nstderr: " << err);
  }
  return {};
}

static std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliProcess start_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  static std::atomic<int> seq{0};
  std::string base = "/tmp/tm_cli_" + std::to_string(getpid()) + "_" + std::to_string(seq++);
  CliProcess p{-1, base + ".out", base + ".err"};
  std::fflush(nullptr);  // or the child would flush our buffered output a second time
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!freopen(p.out_path.c_str(), "w", stdout) || !freopen(p.err_path.c_str(), "w", stderr)) _exit(127);
    std::vector<std::string> all = {tidemark_bin()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p.pid = pid;
  return p;
}

CliResult finish(const CliProcess& p) {
  int status = 0;
  waitpid(p.pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(p.out_path);
  r.err = slurp(p.err_path);
  std::remove(p.out_path.c_str());
  std::remove(p.err_path.c_str());
  return r;
}

CliResult run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return finish(start_cli(args, env));
}

Db::Db(const std::string& dsn) : dsn_(dsn) { reconnect(); }

void Db::reconnect() {
  conn_ = std::make_unique<pqxx::connection>(dsn_);
  pqxx::nontransaction tx(*conn_);
  tx.exec("SET client_min_messages = warning; SET TimeZone = 'UTC'");
}

void Db::exec(const std::string& sql) {
  pqxx::nontransaction tx(*conn_);
  tx.exec(sql);
}

pqxx::result Db::query(const std::string& sql) {
  pqxx::nontransaction tx(*conn_);
  return tx.exec(sql);
}

std::string Db::value(const std::string& sql) {
  pqxx::result r = query(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

int64_t Db::count(const std::string& table) { return std::stoll(value("SELECT count(*) FROM " + table)); }

std::string Db::fingerprint(const std::string& table, const std::string& order_by) {
  return value("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY " + order_by +
               ")), '-') FROM " + table + " t");
}

Scenario::Scenario() {
  static std::atomic<int> seq{0};
  std::random_device rd;
  std::string id = std::to_string(getpid()) + "_" + std::to_string(seq++) + "_" + std::to_string(rd() % 100000);
  src_ = "src_" + id;
  tgt_ = "tgt_" + id;
  state_ = "state_" + id;
  dir_ = "/tmp/tm_test_" + id;
  std::system(("mkdir -p " + dir_).c_str());
  db_.exec("CREATE SCHEMA " + src_ + "; CREATE SCHEMA " + tgt_);
}

Scenario::~Scenario() {
  try {
    db_.exec("DROP SCHEMA IF EXISTS " + src_ + " CASCADE; DROP SCHEMA IF EXISTS " + tgt_ +
             " CASCADE; DROP SCHEMA IF EXISTS " + state_ + " CASCADE");
  } catch (...) {
  }
  std::system(("rm -rf " + dir_).c_str());
}

static void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

std::string Scenario::write_config(const std::string& pipelines_yaml, const std::string& extra_top) {
  std::string body = pipelines_yaml;
  replace_all(body, "SRC.", src_ + ".");
  replace_all(body, "TGT.", tgt_ + ".");
  std::string top = extra_top;
  replace_all(top, "STATE", state_);
  config_ = dir_ + "/pipelines.yaml";
  std::ofstream out(config_);
  out << "version: 1\nconnections:\n  db: \"${TIDEMARK_TEST_DSN}\"\n  db2: \"${TIDEMARK_TEST_DSN}\"\n"
      << (top.empty() ? "state:\n  schema: " + state_ + "\n" : top) << "pipelines:\n"
      << body;
  return config_;
}

CliResult Scenario::run(const std::vector<std::string>& extra, const std::map<std::string, std::string>& env) {
  std::vector<std::string> args = {"run", "-c", config_};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args, env);
}

nlohmann::json Scenario::run_ok(const std::vector<std::string>& extra) {
  std::vector<std::string> args = extra;
  args.push_back("--json");
  CliResult r = run(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json j = r.json();
  REQUIRE(j.is_array());
  REQUIRE(!j.empty());
  return j[0];
}

std::string Scenario::state_json(const std::string& pipeline) {
  return db_.value("SELECT watermark::text FROM " + state_ + ".pipeline_state WHERE pipeline = '" + pipeline + "'");
}

int64_t Scenario::state_version(const std::string& pipeline) {
  std::string v = db_.value("SELECT version FROM " + state_ + ".pipeline_state WHERE pipeline = '" + pipeline + "'");
  return v.empty() ? 0 : std::stoll(v);
}

void Scenario::wait_until_run_blocks() {
  const std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tidemark' AND "
                          "wait_event_type = 'Lock' AND query LIKE '%" + tgt_ + "%'";
  for (int i = 0; i < 400; ++i) {
    if (db_.value(sql) != "0") return;
    usleep(25000);
  }
  FAIL("no tidemark run blocked on the target schema " << tgt_ << " within 10 s");
}

std::string sub(std::string sql, const Scenario& s) {
  replace_all(sql, "SRC.", s.src() + ".");
  replace_all(sql, "TGT.", s.tgt() + ".");
  return sql;
}

bool Scenario::same_content(const std::string& src_table, const std::string& tgt_table, const std::string& order_by) {
  std::string a = db_.fingerprint(src_ + "." + src_table, order_by);
  std::string b = db_.fingerprint(tgt_ + "." + tgt_table, order_by);
  INFO("source " << a << " target " << b);
  CHECK(a == b);
  return a == b;
}

int count_occurrences(const std::string& text, const std::string& part) {
  if (part.empty()) return 0;
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

const std::string kSessionOpenedOnDb = "session opened on connection 'db'";

}  // namespace tmtest
