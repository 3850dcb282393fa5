// run --metrics-file: the Prometheus text exposition (names, HELP/TYPE, label escaping), the
// values chosen per outcome, reading a previous file back, and the atomic replacement.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>

#include "metrics/metrics.hpp"
#include "tidemark/errors.hpp"
#include "common/files.hpp"

using Catch::Contains;
using namespace tidemark;
using namespace tidemark::metrics;

using tmtest::slurp;
using tmtest::files_in;

namespace {

Config two_pipelines() {
  return parse_config(
      "version: 1\nconnections: {db: \"dbname=x\"}\npipelines:\n"
      "  - name: orders\n    source: {connection: db, table: public.orders}\n"
      "    detect: {strategy: updated_at, cursor: updated_at}\n    target: {connection: db, table: a.orders, key: [id]}\n"
      "  - name: events\n    source: {connection: db, table: public.events}\n"
      "    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: a.events, key: [id]}\n",
      "t.yaml");
}

PipelineResult result(const std::string& name, PipelineResult::Outcome o) {
  PipelineResult r;
  r.pipeline = name;
  r.outcome = o;
  return r;
}



}  // namespace

TEST_CASE("metrics text has HELP and TYPE lines and one labelled sample per pipeline", "[unit][metrics]") {
  PipelineMetrics m;
  m.pipeline = "orders";
  m.last_run = 1700000100.5;
  m.last_success = 1700000100.25;
  m.duration = 0.026;
  m.rows_read = 250;
  m.rows_written = 240;
  m.rows_deleted = 3;
  m.status = 0;
  m.watermark_lag = 12;
  const std::string text = metrics_text({m});
  CHECK(text ==
        "# HELP tidemark_last_run_timestamp_seconds Unix time tidemark last ran the pipeline, whatever the outcome.\n"
        "# TYPE tidemark_last_run_timestamp_seconds gauge\n"
        "tidemark_last_run_timestamp_seconds{pipeline=\"orders\"} 1700000100.500\n"
        "# HELP tidemark_last_success_timestamp_seconds Unix time the pipeline's last successful run finished.\n"
        "# TYPE tidemark_last_success_timestamp_seconds gauge\n"
        "tidemark_last_success_timestamp_seconds{pipeline=\"orders\"} 1700000100.250\n"
        "# HELP tidemark_run_duration_seconds Duration of the pipeline's last run in seconds.\n"
        "# TYPE tidemark_run_duration_seconds gauge\n"
        "tidemark_run_duration_seconds{pipeline=\"orders\"} 0.026\n"
        "# HELP tidemark_rows_read Rows the pipeline's last run read from the source.\n"
        "# TYPE tidemark_rows_read gauge\n"
        "tidemark_rows_read{pipeline=\"orders\"} 250\n"
        "# HELP tidemark_rows_written Rows the pipeline's last run wrote to the target.\n"
        "# TYPE tidemark_rows_written gauge\n"
        "tidemark_rows_written{pipeline=\"orders\"} 240\n"
        "# HELP tidemark_rows_deleted Rows the pipeline's last run deleted from the target.\n"
        "# TYPE tidemark_rows_deleted gauge\n"
        "tidemark_rows_deleted{pipeline=\"orders\"} 3\n"
        "# HELP tidemark_run_status Outcome of the pipeline's last run as an exit code: 0 ok, 1 failed, 2 config "
        "error, 75 skipped (locked).\n"
        "# TYPE tidemark_run_status gauge\n"
        "tidemark_run_status{pipeline=\"orders\"} 0\n"
        "# HELP tidemark_watermark_lag_seconds Seconds from the pipeline's safe watermark to now (updated_at "
        "pipelines with a timestamp cursor).\n"
        "# TYPE tidemark_watermark_lag_seconds gauge\n"
        "tidemark_watermark_lag_seconds{pipeline=\"orders\"} 12.000\n");
}

TEST_CASE("a metric no pipeline has is left out entirely, HELP and TYPE included", "[unit][metrics]") {
  PipelineMetrics m;
  m.pipeline = "events";  // never succeeded, no duration, no timestamp cursor
  m.status = 1;
  const std::string text = metrics_text({m});
  CHECK(text.find("tidemark_last_success_timestamp_seconds") == std::string::npos);
  CHECK(text.find("tidemark_run_duration_seconds") == std::string::npos);
  CHECK(text.find("tidemark_watermark_lag_seconds") == std::string::npos);
  CHECK_THAT(text, Contains("tidemark_run_status{pipeline=\"events\"} 1\n"));
}

TEST_CASE("label values escape backslash, double quote and newline", "[unit][metrics]") {
  CHECK(escape_label_value("plain-name_1") == "plain-name_1");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
  PipelineMetrics m;
  m.pipeline = "we\"ird\\\n";
  CHECK_THAT(metrics_text({m}), Contains("tidemark_run_status{pipeline=\"we\\\"ird\\\\\\n\"} 0\n"));
}

TEST_CASE("a file's values are read back per pipeline, unescaping the label", "[unit][metrics]") {
  PipelineMetrics a, b;
  a.pipeline = "orders";
  a.last_success = 1700000000.125;
  b.pipeline = "we\"ird\\\n";
  b.last_success = 42;
  const auto v = parse_metric(metrics_text({a, b}) + "garbage line\ntidemark_last_success_timestamp_seconds{pipeline=\"x\"} nope\n",
                              "tidemark_last_success_timestamp_seconds");
  REQUIRE(v.size() == 2);
  CHECK(v.at("orders") == Approx(1700000000.125));
  CHECK(v.at("we\"ird\\\n") == 42);
  CHECK(parse_metric("", "tidemark_run_status").empty());
}

TEST_CASE("timestamps as PostgreSQL prints them become Unix seconds; anything else is no timestamp", "[unit][metrics]") {
  CHECK(*timestamp_epoch_seconds("1970-01-01 00:00:00+00") == 0);
  CHECK(*timestamp_epoch_seconds("2023-11-14 22:13:20+00") == 1700000000);
  CHECK(*timestamp_epoch_seconds("2023-11-14 22:13:20.25+00") == Approx(1700000000.25));
  CHECK(*timestamp_epoch_seconds("2023-11-14 22:13:20") == 1700000000);        // timestamp: UTC
  CHECK(*timestamp_epoch_seconds("2023-11-14T22:13:20Z") == 1700000000);
  CHECK(*timestamp_epoch_seconds("2023-11-15 03:43:20+05:30") == 1700000000);
  CHECK(*timestamp_epoch_seconds("2023-11-14 17:13:20-05") == 1700000000);
  CHECK(*timestamp_epoch_seconds("2023-11-14") == 1699920000);                 // date
  CHECK(*timestamp_epoch_seconds("1969-12-31 23:59:59+00") == -1);
  CHECK(*timestamp_epoch_seconds("2024-02-29 00:00:00+00") == 1709164800);
  for (const char* bad : {"51000", "", "infinity", "-infinity", "2023-11-14 22:13:20+00 BC", "2023-13-01",
                          "2023-11-14 22:13", "abc", "2023-11-14 22:13:20.+00"})
    CHECK_FALSE(timestamp_epoch_seconds(bad));
}

TEST_CASE("each outcome becomes its exit-style status, and a success sets the duration and rows", "[unit][metrics]") {
  const Config cfg = two_pipelines();
  PipelineResult ok = result("orders", PipelineResult::Outcome::kOk);
  ok.rows_read = 5;
  ok.rows_written = 4;
  ok.rows_deleted = 1;
  ok.seconds = 0.5;
  ok.after.safe = Tuple{"2023-11-14 22:13:20+00", "7"};
  const auto m = pipeline_metrics(cfg,
                                  {ok, result("events", PipelineResult::Outcome::kFailed),
                                   result("x", PipelineResult::Outcome::kConfig),
                                   result("y", PipelineResult::Outcome::kLocked)},
                                  {}, {}, 1700000060);
  REQUIRE(m.size() == 4);
  CHECK(m[0].status == 0);
  CHECK(m[1].status == 1);
  CHECK(m[2].status == 2);
  CHECK(m[3].status == 75);
  CHECK(m[0].rows_read == 5);
  CHECK(m[0].rows_written == 4);
  CHECK(m[0].rows_deleted == 1);
  CHECK(*m[0].duration == 0.5);
  CHECK(m[0].last_run == 1700000060);
  // No state database answer: a success is its own last success, the lag comes from the result.
  CHECK(*m[0].last_success == 1700000060);
  CHECK(*m[0].watermark_lag == 60);
  CHECK_FALSE(m[1].duration);
  CHECK_FALSE(m[1].last_success);
  CHECK_FALSE(m[1].watermark_lag);  // strategy id: never a lag
}

TEST_CASE("a failed run keeps the last success the state database or the previous file knows", "[unit][metrics]") {
  const Config cfg = two_pipelines();
  const PipelineResult failed = result("orders", PipelineResult::Outcome::kFailed);
  RunFacts facts;
  facts.known = true;
  facts.last_success = 1700000000;
  facts.safe_cursor = "2023-11-14 22:10:00+00";
  facts.run_seconds = 1.5;
  auto m = pipeline_metrics(cfg, {failed}, {{"orders", facts}}, {{"orders", 1600000000}}, 1700000100);
  REQUIRE(m.size() == 1);
  CHECK(*m[0].last_success == 1700000000);  // the database wins over the file
  CHECK(*m[0].duration == 1.5);
  CHECK(*m[0].watermark_lag == 300);
  CHECK(m[0].status == 1);
  // The state database was not reached: the previous file's value stays.
  m = pipeline_metrics(cfg, {failed}, {}, {{"orders", 1600000000}}, 1700000100);
  CHECK(*m[0].last_success == 1600000000);
  CHECK_FALSE(m[0].watermark_lag);
  // Reached, and no success ever: none, whatever an old file said.
  facts.last_success.reset();
  m = pipeline_metrics(cfg, {failed}, {{"orders", facts}}, {{"orders", 1600000000}}, 1700000100);
  CHECK_FALSE(m[0].last_success);
}

TEST_CASE("a pipeline named twice in one command gives one series, from its later run", "[unit][metrics]") {
  PipelineResult a = result("orders", PipelineResult::Outcome::kOk), b = a;
  a.rows_read = 1;
  b.rows_read = 2;
  const auto m = pipeline_metrics(two_pipelines(), {a, b}, {}, {}, 0);
  REQUIRE(m.size() == 1);
  CHECK(m[0].rows_read == 2);
}

TEST_CASE("the metrics file is replaced whole and no temporary file is left behind", "[unit][metrics]") {
  char tmpl[] = "/tmp/tm_metrics_XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string dir = tmpl, path = dir + "/tidemark.prom";
  write_file_atomically(path, "first\n");
  write_file_atomically(path, "second\n");
  CHECK(slurp(path) == "second\n");
  CHECK(files_in(dir) == std::vector<std::string>{"tidemark.prom"});
  // A directory that does not exist: an error naming the path, nothing created.
  CHECK_THROWS_WITH(write_file_atomically(dir + "/missing/x.prom", "x"), Contains(dir + "/missing/x.prom"));
  // The target is a directory: the rename fails and the temporary file is removed.
  REQUIRE(std::system(("mkdir " + dir + "/taken.prom").c_str()) == 0);
  CHECK_THROWS_AS(write_file_atomically(dir + "/taken.prom", "x"), RunError);
  CHECK(files_in(dir).size() == 2);
  std::system(("rm -rf " + dir).c_str());
}
