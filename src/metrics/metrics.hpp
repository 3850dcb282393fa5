// `tidemark run --metrics-file`: the Prometheus text exposition of a command's runs, for
// node_exporter's textfile collector (docs/operations.md#metrics-file). Everything here but
// write_file_atomically is pure, so the format is a unit test (tests/unit/test_metrics.cpp).
// It is compiled into tidemark_core: no libpqxx, no logging.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/runner.hpp"

namespace tidemark::metrics {

// One pipeline's series in the file.
struct PipelineMetrics {
  std::string pipeline;
  double last_run = 0;                   // Unix time the command finished the pipeline
  std::optional<double> last_success;    // finished_at of its last succeeded run (none yet: omitted)
  std::optional<double> duration;        // seconds of this run (unknown: omitted)
  int64_t rows_read = 0, rows_written = 0, rows_deleted = 0;
  int status = 0;                        // exit-style: 0 ok, 1 failed, 2 config, 75 locked
  std::optional<double> watermark_lag;   // now minus the safe cursor (updated_at, timestamp cursors)
};

// What the state database says about a pipeline after the command's runs.
struct RunFacts {
  bool known = false;                      // the state database answered
  std::optional<double> last_success;      // finished_at of the last succeeded (non-reconcile) run
  std::optional<std::string> safe_cursor;  // first value of the stored safe tuple
  std::optional<double> run_seconds;       // duration of this process's latest run record
};

// The exit-style code of one outcome: 0, 1, 2 or 75.
int status_code(PipelineResult::Outcome o);

// A timestamp as PostgreSQL prints it with TimeZone UTC and DateStyle ISO ("2026-11-24
// 16:09:22.398508+00", "2026-11-24 16:09:22", "2026-11-24", also with 'T' or "+05:30") as
// Unix seconds; nullopt for anything else (numbers, infinity, BC dates). No zone means UTC.
std::optional<double> timestamp_epoch_seconds(const std::string& text);

// The series of each pipeline of `results` (the last result when one is named twice).
// `facts` come from the state database; where it was not reached, `previous_success` (from the
// file being replaced) keeps tidemark_last_success_timestamp_seconds of a failed run.
std::vector<PipelineMetrics> pipeline_metrics(const Config& cfg, const std::vector<PipelineResult>& results,
                                              const std::map<std::string, RunFacts>& facts,
                                              const std::map<std::string, double>& previous_success, double now);

// A label value escaped per the exposition format: \ as \\, " as \", newline as \n.
std::string escape_label_value(const std::string& v);

// The file's text: HELP and TYPE lines, then one sample per pipeline, per metric.
std::string metrics_text(const std::vector<PipelineMetrics>& pipelines);

// The values of `metric` per pipeline label in a file metrics_text wrote (lines it cannot
// read are skipped, so a damaged file only loses its values).
std::map<std::string, double> parse_metric(const std::string& text, const std::string& metric);

// Replaces `path` with `text` so a reader sees the old file or the new one, never a part
// (replace_file_atomically, tidemark/file_util.hpp). The file is mode 0644 (the collector
// usually runs as another user). Throws RunError naming the path and the reason; the
// temporary file is removed then.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace tidemark::metrics
