// Operations: `tidemark history` and `run --metrics-file`, as an operator and node_exporter's
// textfile collector see them.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "integration/harness.hpp"

using Catch::Contains;
using tmtest::CliResult;
using tmtest::run_cli;

using tmtest::slurp;
using tmtest::files_in;

namespace {

// orders (updated_at, state with connection db) and events (id, target and state on db2, so
// a second state connection), each with two source rows.
void setup(tmtest::Scenario& s) {
  const std::string src = s.src(), tgt = s.tgt();
  s.db().exec("CREATE TABLE " + src + ".o (id int PRIMARY KEY, updated_at timestamptz NOT NULL, v text);"
              "CREATE TABLE " + tgt + ".o (id int PRIMARY KEY, updated_at timestamptz NOT NULL, v text);"
              "INSERT INTO " + src + ".o VALUES (1, now() - interval '1 hour', 'a'), (2, now() - interval '1 hour', 'b');"
              "CREATE TABLE " + src + ".e (id int PRIMARY KEY, v text); CREATE TABLE " + tgt + ".e (id int PRIMARY KEY, v text);"
              "INSERT INTO " + src + ".e VALUES (1, 'a'), (2, 'b')");
  s.write_config("  - name: orders\n    source: {connection: db, table: SRC.o}\n"
                 "    detect: {strategy: updated_at, cursor: updated_at}\n"
                 "    target: {connection: db, table: TGT.o, key: [id]}\n"
                 "  - name: events\n    source: {connection: db2, table: SRC.e}\n"
                 "    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db2, table: TGT.e, key: [id]}\n");
}

CliResult history(tmtest::Scenario& s, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"history", "-c", s.config()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}


// The sample `metric{pipeline="p"} value` of a metrics file, "" when absent.
std::string sample(const std::string& text, const std::string& metric, const std::string& pipeline) {
  const std::string prefix = metric + "{pipeline=\"" + pipeline + "\"} ";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}


}  // namespace

TEST_CASE("history lists runs newest first with counts, safe marks and a failed run's error", "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  REQUIRE(s.run().exit_code == 0);
  s.db().exec("INSERT INTO " + s.src() + ".e VALUES (3, 'c')");
  REQUIRE(s.run().exit_code == 0);
  // The first pipeline to reach after_apply (orders) fails; events still runs.
  CliResult failed = s.run({}, {{"TIDEMARK_FAULT", "after_apply"}});
  REQUIRE(failed.exit_code == 1);

  CliResult text = history(s);
  INFO(text.out << text.err);
  REQUIRE(text.exit_code == 0);
  CHECK(text.err.empty());
  std::istringstream lines(text.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  REQUIRE(rows.size() == 7);  // header + 3 runs of each pipeline
  CHECK_THAT(rows[0], Catch::StartsWith("RUN"));
  CHECK_THAT(rows[0], Contains("STARTED (UTC)"));
  CHECK_THAT(rows[0], Contains("SAFE BEFORE → AFTER"));
  // Newest first: events' third run ran after orders' failed one. Safe marks depend on other
  // sessions in flight on the test server, so each row is compared with its JSON record.
  CHECK_THAT(rows[1], Contains("events"));
  CHECK_THAT(rows[2], Contains("orders"));
  CHECK_THAT(rows[2], Contains("failed"));
  CHECK_THAT(rows[2], Contains("injected fault at after_apply"));
  CHECK_THAT(rows[2], Contains(" → -"));  // a failed run has no watermark after
  CHECK_THAT(rows[6], Contains(" - → "));  // orders' first run started with no watermark
  CHECK_THAT(rows[6], Contains("succeeded"));
  CliResult all = history(s, {"--json"});
  REQUIRE(all.exit_code == 0);
  const nlohmann::json runs = all.json();
  REQUIRE(runs.size() == 6);
  auto safe = [](const nlohmann::json& w) {
    if (w.is_null() || w["safe"].is_null()) return std::string("-");
    std::string t;
    for (const auto& v : w["safe"]) t += (t.empty() ? "" : ", ") + v.get<std::string>();
    return w["safe"].size() == 1 ? t : "(" + t + ")";
  };
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    INFO("run " << r.dump());
    CHECK_THAT(rows[i + 1], Catch::StartsWith(std::to_string(r["run_id"].get<int64_t>()) + " "));
    CHECK_THAT(rows[i + 1], Contains(r["pipeline"].get<std::string>()));
    CHECK_THAT(rows[i + 1], Contains(r["status"].get<std::string>()));
    CHECK_THAT(rows[i + 1], Contains(safe(r["watermark_before"]) + " → " + safe(r["watermark_after"])));
    // --json has RFC 3339 (2026-11-24T20:30:44.123Z), the table the same instant to the second.
    std::string started = r["started_at"].get<std::string>().substr(0, 19);
    started[10] = ' ';
    CHECK_THAT(rows[i + 1], Contains(started));
    if (i > 0) CHECK(r["started_at"] <= runs[i - 1]["started_at"]);
  }
  CHECK(runs[5]["rows_read"] == 2);
  CHECK(runs[5]["rows_written"] == 2);

  // --limit is per pipeline; --json gives every field.
  CliResult js = history(s, {"--limit", "1", "--json"});
  REQUIRE(js.exit_code == 0);
  nlohmann::json j = js.json();
  REQUIRE(j.size() == 2);
  CHECK(j[0]["pipeline"] == "events");
  CHECK(j[0]["status"] == "succeeded");
  CHECK(j[0]["mode"] == "incremental");
  CHECK(j[0]["rows_read"].is_number());
  CHECK(j[0]["watermark_after"]["high"] == nlohmann::json::array({"3"}));
  CHECK(j[0]["seconds"].is_number());
  CHECK(j[0]["finished_at"].is_string());
  CHECK(j[0]["pid"].is_number());
  CHECK(j[1]["pipeline"] == "orders");
  CHECK(j[1]["status"] == "failed");
  CHECK_THAT(j[1]["error"].get<std::string>(), Contains("injected fault at after_apply"));
  CHECK(j[1]["watermark_after"].is_null());
  CHECK(j[1]["watermark_before"]["safe"].is_array());

  CliResult orders = history(s, {"orders", "--limit", "2", "--json"});
  REQUIRE(orders.exit_code == 0);
  nlohmann::json o = orders.json();
  REQUIRE(o.size() == 2);
  CHECK(o[0]["run_id"].get<int64_t>() > o[1]["run_id"].get<int64_t>());
  CHECK(o[0]["status"] == "failed");
  CHECK(o[1]["status"] == "succeeded");
  CHECK(o[1]["rows_read"].is_number());
  // -q changes nothing on stdout: the listing is the command's output.
  CHECK(history(s, {"-q", "--limit", "1"}).out == history(s, {"--limit", "1"}).out);
}

TEST_CASE("history refuses unknown pipelines and bad limits as usage errors", "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  CliResult r = history(s, {"ordres"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("did you mean 'orders'?"));
  CHECK(history(s, {"--limit", "0"}).exit_code == 2);
  CHECK(history(s, {"--limit", "x"}).exit_code == 2);
}

TEST_CASE("history before any run says there are none", "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  CliResult r = history(s);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "no runs recorded\n");
  CliResult js = history(s, {"--json"});
  CHECK(js.exit_code == 0);
  CHECK(js.json() == nlohmann::json::array());
}

TEST_CASE("the metrics file reports each run, keeps the last success across a failure and leaves no temp file",
          "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  const std::string dir = s.dir() + "/textfile", path = dir + "/tidemark.prom";
  REQUIRE(std::system(("mkdir -p " + dir).c_str()) == 0);

  CliResult ok = s.run({"-q", "--metrics-file", path});
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out.empty());  // -q: nothing on success, the metrics file included
  CHECK(ok.err.empty());
  const std::string first = slurp(path);
  INFO(first);
  CHECK_THAT(first, Contains("# HELP tidemark_last_success_timestamp_seconds "));
  CHECK_THAT(first, Contains("# TYPE tidemark_run_status gauge\n"));
  for (const char* p : {"orders", "events"}) {
    CHECK(sample(first, "tidemark_run_status", p) == "0");
    CHECK(sample(first, "tidemark_rows_read", p) == "2");
    CHECK(sample(first, "tidemark_rows_written", p) == "2");
    CHECK(sample(first, "tidemark_rows_deleted", p) == "0");
    CHECK_FALSE(sample(first, "tidemark_run_duration_seconds", p).empty());
    CHECK_FALSE(sample(first, "tidemark_last_run_timestamp_seconds", p).empty());
  }
  // The lag of orders is from its safe mark, an hour old (unless a session in flight on the
  // test server held the safe mark back); events has an id cursor.
  if (s.db().value("SELECT watermark->'safe' FROM " + s.state() + ".pipeline_state WHERE pipeline = 'orders'") !=
      "null") {
    const double lag = std::stod(sample(first, "tidemark_watermark_lag_seconds", "orders"));
    CHECK(lag > 3590);
    CHECK(lag < 3900);
  }
  CHECK(sample(first, "tidemark_watermark_lag_seconds", "events").empty());
  const std::string success = sample(first, "tidemark_last_success_timestamp_seconds", "orders");
  const double now = static_cast<double>(time(nullptr));
  CHECK(std::stod(success) > now - 60);
  CHECK(std::stod(success) <= now + 1);
  // It is the run record's finished_at.
  CHECK(std::stod(success) == Approx(std::stod(s.db().value(
                                  "SELECT extract(epoch FROM finished_at) FROM " + s.state() +
                                  ".runs WHERE pipeline = 'orders' AND status = 'succeeded'")))
                                  .margin(0.002));

  sleep(1);  // so last_run visibly moves
  CliResult failed = s.run({"-q", "--metrics-file", path}, {{"TIDEMARK_FAULT", "after_apply"}});
  REQUIRE(failed.exit_code == 1);
  const std::string second = slurp(path);
  INFO(second);
  CHECK(sample(second, "tidemark_run_status", "orders") == "1");
  CHECK(sample(second, "tidemark_last_success_timestamp_seconds", "orders") == success);
  CHECK(std::stod(sample(second, "tidemark_last_run_timestamp_seconds", "orders")) >
        std::stod(sample(first, "tidemark_last_run_timestamp_seconds", "orders")));
  CHECK(sample(second, "tidemark_rows_written", "orders") == "0");
  CHECK_FALSE(sample(second, "tidemark_run_duration_seconds", "orders").empty());  // from its run record
  // The failure left the safe mark where it was, so the lag is still reported (and has grown).
  CHECK(sample(second, "tidemark_watermark_lag_seconds", "orders").empty() ==
        sample(first, "tidemark_watermark_lag_seconds", "orders").empty());
  CHECK(sample(second, "tidemark_run_status", "events") == "0");
  CHECK(files_in(dir) == std::vector<std::string>{"tidemark.prom"});
}

TEST_CASE("a metrics file that cannot be written fails the command, and errors respect --log-format json",
          "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  const std::string path = s.dir() + "/no/such/dir/tidemark.prom";
  CliResult r = s.run({"-q", "--log-format", "json", "--metrics-file", path});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  INFO(r.err);
  REQUIRE_FALSE(r.err.empty());
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    CHECK(j["level"] == "error");
    CHECK_THAT(j["msg"].get<std::string>(), Contains("metrics file " + path));
  }
  CHECK(s.db().count(s.tgt() + ".o") == 2);  // the runs themselves committed
  // A dry run records nothing, so it cannot produce metrics.
  CHECK(s.run({"--dry-run", "--metrics-file", s.dir() + "/m.prom"}).exit_code == 2);
}

TEST_CASE("history lists what it can reach and exits 1 when a state database is down", "[pg][ops]") {
  tmtest::Scenario s;
  setup(s);
  // events keeps its state with its target, on a connection that refuses.
  std::string cfg = slurp(s.config());
  cfg.replace(cfg.find("  db2: "), std::string("  db2: \"${TIDEMARK_TEST_DSN}\"").size(),
              "  db2: \"host=/nonexistent port=1 connect_timeout=2\"");
  std::ofstream(s.config()) << cfg;
  REQUIRE(s.run({"orders"}).exit_code == 0);
  CliResult r = history(s);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("connection 'db2'"));
  CHECK_THAT(r.out, Contains("orders"));
  CHECK_THAT(r.out, Contains("succeeded"));
  // The metrics of a run whose state database is down: status 1, and no success to report.
  const std::string path = s.dir() + "/m.prom";
  CHECK(s.run({"-q", "--metrics-file", path}).exit_code == 1);
  const std::string text = slurp(path);
  INFO(text);
  CHECK(sample(text, "tidemark_run_status", "events") == "1");
  CHECK(sample(text, "tidemark_last_success_timestamp_seconds", "events").empty());
  CHECK(sample(text, "tidemark_run_status", "orders") == "0");
  CHECK_FALSE(sample(text, "tidemark_last_success_timestamp_seconds", "orders").empty());
}
