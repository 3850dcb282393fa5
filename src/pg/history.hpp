// What tidemark.runs says about past runs: the rows `tidemark history` lists, and the facts
// `run --metrics-file` reports (the last success, the stored safe mark, a failed run's length).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg.hpp"

namespace tidemark::pg {

struct HistoryRow {
  int64_t run_id = 0;
  std::string pipeline, mode, status;
  std::string started_at, finished_at;  // RFC 3339 UTC ("…T…Z"); finished_at "" while running
  double started_epoch = 0;             // for ordering runs of several state databases
  std::optional<double> seconds;        // finished_at - started_at
  std::optional<int64_t> rows_read, rows_written, rows_deleted;
  std::optional<Watermark> watermark_before, watermark_after;
  std::string error;  // "" for none
  std::string host;
  std::optional<int64_t> pid;
};

// The latest `limit` runs of each pipeline, newest first; none when the tables do not exist.
std::vector<HistoryRow> run_history(Connection& c, const std::string& schema, const std::vector<std::string>& pipelines,
                                    int64_t limit);

struct PipelineFacts {
  std::string pipeline;
  std::optional<double> last_success;      // Unix time the last succeeded run (not reconcile) finished
  std::optional<std::string> safe_cursor;  // first value of pipeline_state.watermark's safe tuple
  std::optional<double> run_seconds;       // length of the latest finished run this process
                                           // (host, pid) started at or after `since` (Unix time)
};
std::vector<PipelineFacts> pipeline_facts(Connection& c, const std::string& schema,
                                          const std::vector<std::string>& pipelines, double since);

}  // namespace tidemark::pg
