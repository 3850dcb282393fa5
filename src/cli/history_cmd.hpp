// `tidemark history` and the state-side half of `run --metrics-file` (src/cli/history_cmd.cpp):
// both read tidemark.runs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/runner.hpp"

namespace tidemark::cli {

struct HistoryArgs {
  std::string config;
  std::vector<std::string> pipelines;
  int64_t limit = 20;  // runs per pipeline
  bool json = false;
};

int cmd_history(const HistoryArgs& a);

// Writes the metrics of `results` to `path` (metrics/metrics.hpp), asking each state database
// for the last success and safe mark; `since` is when the command started (Unix time). False
// (after logging the error) when the file could not be written; the old file is then intact.
bool write_run_metrics(const Config& cfg, const std::vector<PipelineResult>& results, const std::string& path,
                       double since);

}  // namespace tidemark::cli
