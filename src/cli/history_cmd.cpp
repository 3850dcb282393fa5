// `tidemark history`: the latest runs of each pipeline from tidemark.runs, newest first; and
// the facts `run --metrics-file` reads from the same table.
#include "cli/history_cmd.hpp"

#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "metrics/metrics.hpp"
#include "pg/history.hpp"
#include "run/expand.hpp"
#include "tidemark/errors.hpp"

namespace tidemark::cli {

using nlohmann::json;

namespace {

std::string duration_text(const std::optional<double>& seconds) {
  if (!seconds) return "-";
  char buf[64];
  const double s = *seconds;
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.3fs", s);
  } else {
    const auto whole = static_cast<int64_t>(s);
    if (whole < 3600)
      std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(whole / 60), static_cast<long long>(whole % 60));
    else
      std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(whole / 3600),
                    static_cast<long long>(whole / 60 % 60), static_cast<long long>(whole % 60));
  }
  return buf;
}

std::string count_text(const std::optional<int64_t>& n) { return n ? std::to_string(*n) : "-"; }

std::string safe_text(const std::optional<Watermark>& w) { return w ? tuple_text(w->safe) : "-"; }

std::string first_line(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl) + " …";
}

json opt_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

int cmd_history(const HistoryArgs& a) {
  Config cfg = load_config(a.config);
  expand_selectors(cfg, a.pipelines, {});  // selector pipelines: their tables' runs
  if (a.limit < 1) throw ConfigError("--limit " + std::to_string(a.limit) + ": must be at least 1 (runs per pipeline)");
  if (!cfg.state.file.empty())
    throw ConfigError(cfg.path + ": history reads the state schema's runs table; with state.file only each "
                      "pipeline's last run is kept: see `tidemark status`");
  const auto selected = select_pipelines(cfg, a.pipelines);
  // One connection per state database, as `status` does.
  std::map<std::string, std::vector<std::string>> by_state;
  for (const auto* p : selected) {
    auto& names = by_state[cfg.state_connection(*p)];
    if (std::find(names.begin(), names.end(), p->name) == names.end()) names.push_back(p->name);
  }
  std::vector<pg::HistoryRow> rows;
  int rc = kExitOk;
  for (const auto& [conn, names] : by_state) {
    try {
      pg::Connection c(conn, cfg.connections.at(conn), "tidemark");
      for (auto& r : pg::run_history(c, cfg.state.schema, names, a.limit)) rows.push_back(std::move(r));
    } catch (const RunError& e) {
      spdlog::error("{}", e.what());
      rc = kExitRunFailed;
    }
  }
  // Run ids are per state database, so several databases are merged by start time.
  std::stable_sort(rows.begin(), rows.end(), [](const pg::HistoryRow& x, const pg::HistoryRow& y) {
    return x.started_epoch != y.started_epoch ? x.started_epoch > y.started_epoch : x.run_id > y.run_id;
  });
  if (a.json) {
    json out = json::array();
    for (const auto& r : rows)
      out.push_back({{"run_id", r.run_id},
                     {"pipeline", r.pipeline},
                     {"mode", r.mode},
                     {"status", r.status},
                     {"started_at", r.started_at},
                     {"finished_at", r.finished_at.empty() ? json(nullptr) : json(r.finished_at)},
                     {"seconds", r.seconds ? json(*r.seconds) : json(nullptr)},
                     {"rows_read", opt_json(r.rows_read)},
                     {"rows_written", opt_json(r.rows_written)},
                     {"rows_deleted", opt_json(r.rows_deleted)},
                     {"watermark_before", r.watermark_before ? r.watermark_before->to_json() : json(nullptr)},
                     {"watermark_after", r.watermark_after ? r.watermark_after->to_json() : json(nullptr)},
                     {"error", r.error.empty() ? json(nullptr) : json(r.error)},
                     {"host", r.host},
                     {"pid", opt_json(r.pid)}});
    std::cout << out.dump(2) << "\n";
    return rc;
  }
  std::vector<std::vector<std::string>> table = {{"RUN", "PIPELINE", "MODE", "STARTED (UTC)", "DURATION", "READ",
                                                  "WRITTEN", "DELETED", "SAFE BEFORE → AFTER", "STATUS", "ERROR"}};
  for (const auto& r : rows)
    table.push_back({std::to_string(r.run_id), r.pipeline, r.mode, plain_time(r.started_at), duration_text(r.seconds),
                     count_text(r.rows_read), count_text(r.rows_written), count_text(r.rows_deleted),
                     safe_text(r.watermark_before) + " → " + safe_text(r.watermark_after), r.status,
                     first_line(r.error)});
  if (rows.empty() && rc == kExitOk) {
    std::cout << "no runs recorded\n";
    return rc;
  }
  print_table(table);
  return rc;
}

bool write_run_metrics(const Config& cfg, const std::vector<PipelineResult>& results, const std::string& path,
                       double since) {
  std::map<std::string, std::vector<std::string>> by_state;
  for (const auto& r : results)
    if (const PipelineConfig* p = cfg.find(r.pipeline); p && cfg.state.file.empty()) {  // a file keeps no run history
      auto& names = by_state[cfg.state_connection(*p)];
      if (std::find(names.begin(), names.end(), r.pipeline) == names.end()) names.push_back(r.pipeline);
    }
  std::map<std::string, metrics::RunFacts> facts;
  for (const auto& [conn, names] : by_state) {
    try {
      pg::Connection c(conn, cfg.connections.at(conn), "tidemark");
      // The margin allows for a state server whose clock runs behind ours.
      for (const auto& f : pg::pipeline_facts(c, cfg.state.schema, names, since - 600))
        facts[f.pipeline] = metrics::RunFacts{true, f.last_success, f.safe_cursor, f.run_seconds};
    } catch (const std::exception& e) {
      // The run itself has said why; the file keeps the last success it had.
      spdlog::debug("metrics: state database '{}' not reached, using {} for the last success: {}", conn, path, e.what());
    }
  }
  std::map<std::string, double> previous;
  if (std::ifstream in{path}) {
    std::stringstream text;
    text << in.rdbuf();
    previous = metrics::parse_metric(text.str(), "tidemark_last_success_timestamp_seconds");
  }
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto series = metrics::pipeline_metrics(cfg, results, facts, previous, now);
  try {
    metrics::write_file_atomically(path, metrics::metrics_text(series));
  } catch (const RunError& e) {
    spdlog::error("{}", e.what());
    return false;
  }
  spdlog::debug("metrics of {} pipeline(s) written to {}", series.size(), path);
  return true;
}

}  // namespace tidemark::cli
