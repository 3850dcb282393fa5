// The subcommands: run, status, validate.
#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <regex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/history_cmd.hpp"
#include "cli/state_cmd.hpp"
#include "pg/pg.hpp"
#include "run/context.hpp"
#include "run/expand.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/util.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark::cli {

using nlohmann::json;

static const char* outcome_name(PipelineResult::Outcome o) {
  switch (o) {
    case PipelineResult::Outcome::kOk: return "succeeded";
    case PipelineResult::Outcome::kFailed: return "failed";
    case PipelineResult::Outcome::kLocked: return "skipped_locked";
    case PipelineResult::Outcome::kConfig: return "config_error";
  }
  return "?";
}

bool Selection::named(const PipelineConfig& p) const {
  return std::find(names.begin(), names.end(), p.name) != names.end();
}

std::string pipeline_text(const PipelineConfig& p) {
  if (p.selector.empty() || !p.source.table) return "pipeline " + p.name;
  return "pipeline " + p.name + " (table " + p.source.table->display() + " of selector pipeline " + p.selector + ")";
}

Selection select_expanded(Config& cfg, const std::vector<std::string>& names) {
  Selection sel;
  sel.names = names;
  sel.expansions = expand_selectors(cfg, names, {});
  std::string failures;  // of the selectors that could not be expanded
  for (const auto& p : cfg.pipelines)
    if (p.expand_failed) failures += "; " + p.config_error;
  std::vector<const PipelineConfig*> picked;
  try {
    picked = select_pipelines(cfg, names);
  } catch (const ConfigError& e) {
    // An unknown name may be a table its selector could not list, or one it skipped: say so.
    if (!failures.empty()) throw RunError(e.what() + failures);
    std::string skipped;
    for (const auto& n : names) {
      if (!selected_by(cfg, n).empty() || selector_named(cfg, n)) continue;
      for (const auto& x : sel.expansions)
        for (const auto& s : cfg.selectors)
          if (s.name == x.selector && n.rfind(selector_prefix(s), 0) == 0)
            for (const auto& sk : x.skipped)
              skipped += "; selector pipeline " + s.name + " skipped table " + sk.table.display() + ": " + sk.why;
    }
    throw ConfigError(e.what() + skipped);
  }
  for (const PipelineConfig* p : picked) {
    if (p->expand_failed) throw RunError(p->config_error);
    if (!p->config_error.empty()) {
      if (sel.named(*p)) throw ConfigError("pipeline " + p->name + ": " + p->config_error);
      spdlog::warn("pipeline {} passed by: {}", p->name, p->config_error);
      continue;
    }
    sel.pipelines.push_back(p);
  }
  return sel;
}

int cmd_run(const RunArgs& a) {
  Config cfg = load_config(a.config);
  std::vector<VanishedTable> vanished;
  // The sessions of the run: the selector expansion's catalog and state reads open the ones
  // its pipelines then reuse.
  RunContext ctx(cfg);
  const auto expansions = expand_selectors(cfg, a.pipelines, {a.full_refresh}, &vanished,
                                           [&ctx](const std::string& name, const std::string& role) -> pg::Connection& {
                                             return ctx.session(name, role);
                                           });
  RunOptions opts;
  opts.pipelines = a.pipelines;
  opts.dry_run = a.dry_run;
  opts.chunk = a.chunk;
  opts.restart = a.restart;
  opts.advance_watermark = a.advance_watermark;
  const auto lease = parse_duration_us(a.lease);
  if (!lease || *lease < 1000000)
    throw ConfigError("--lease '" + a.lease + "' is not a duration of at least 1s (e.g. 30s, 5m)");
  opts.lease_seconds = *lease / 1000000;
  const bool range = !a.from.empty() || !a.to.empty();
  if (range && a.full_refresh) throw ConfigError("--full-refresh and --from/--to cannot be combined");
  if (!range && (!a.chunk.empty() || a.restart || a.advance_watermark || a.lease != "1m"))
    throw ConfigError("--chunk, --restart, --lease and --advance-watermark belong to a backfill (--from/--to)");
  // --jobs: with --from/--to the chunk workers of each backfill, its pipelines one after
  // another; otherwise pipelines at once (the config's `jobs` unless given).
  opts.jobs = range && a.jobs > 0 ? a.jobs : 1;
  opts.pipeline_jobs = range ? 1 : a.jobs > 0 ? a.jobs : cfg.jobs;
  if (range && a.pipelines.empty())
    throw ConfigError("--from/--to backfill a cursor range: name the pipeline(s), e.g. `tidemark run -c " + a.config +
                      " orders --from 2024-01-01 --to 2024-02-01`");
  if (range) {
    opts.request.mode = RunMode::kRange;
    if (!a.from.empty()) opts.request.from = a.from;
    if (!a.to.empty()) opts.request.to = a.to;
  } else if (a.full_refresh) {
    opts.request.mode = RunMode::kFullRefresh;
  }
  // Usage errors surface before any connection: unknown names, a range without a cursor.
  for (const PipelineConfig* p : select_pipelines(cfg, opts.pipelines))
  {
    if (!p->config_error.empty()) continue;  // an invalid selector table: its result says why
    if (range && !find_strategy(p->detect.strategy)->has_range())
      throw ConfigError("pipeline " + p->name + ": strategy " + p->detect.strategy +
                        " has no cursor, so --from/--to cannot select a range; run it without them");
    static const std::regex int_re(R"(\s*[-+]?[0-9]+\s*)");
    for (const auto& [flag, v] : {std::pair{"--from", a.from}, std::pair{"--to", a.to}})
      if (range && find_strategy(p->detect.strategy)->caps().bounds == StrategyCaps::Bounds::kInteger && !v.empty() &&
          !std::regex_match(v, int_re))
        throw ConfigError(std::string(flag) + " '" + v + "' is not an integer, as the " + p->detect.strategy +
                          " cursor of pipeline " + p->name + " needs");
  }
  if (a.dry_run && !a.metrics_file.empty())
    throw ConfigError("--metrics-file records what runs did; a --dry-run does nothing to record");
  const double started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (a.dry_run)
    for (const auto& e : expansions) std::cout << expansion_text(e) << "\n";
  else log_expansions(expansions);
  std::vector<PipelineResult> results = run_pipelines(cfg, opts, &ctx);
  if (a.json) {
    // What each selector's expansion made of its tables, given with each of its pipelines.
    std::map<std::string, const ExpandedTable*> expanded;
    std::map<std::string, json> summaries;
    for (const auto& e : expansions) {
      json skipped = json::array(), gone = json::array();
      for (const auto& t : e.tables) expanded[t.name] = &t;
      for (const auto& sk : e.skipped) skipped.push_back({{"table", sk.table.display()}, {"reason", sk.why}});
      for (const auto& v : vanished)
        if (v.selector == e.selector) {
          const auto table = QualifiedName::parse(v.table, nullptr);  // the state keeps it quoted
          gone.push_back({{"pipeline", v.pipeline},
                          {"table", v.table.empty() ? json(nullptr) : json(table ? table->display() : v.table)}});
        }
      summaries[e.selector] = {{"tables_matched", e.tables.size() + e.skipped.size()},
                               {"pipelines", e.tables.size()},
                               {"skipped", skipped},
                               {"vanished", gone},
                               {"warnings", e.warnings}};
    }
    json out = json::array();
    for (const auto& r : results) {
      const PipelineConfig* p = cfg.find(r.pipeline);
      const auto t = expanded.find(r.pipeline);
      const ExpandedTable* from = t == expanded.end() ? nullptr : t->second;
      const std::string selector = p ? p->selector : "";
      out.push_back({{"pipeline", r.pipeline},
                     {"selector", selector.empty() ? json(nullptr) : json(selector)},
                     {"source_table", from ? json(from->table.display())
                                      : p && p->source.table ? json(p->source.table->display()) : json(nullptr)},
                     {"strategy", from ? (from->strategy.empty() ? json(nullptr) : json(from->strategy))
                                  : p && !p->expand_failed ? json(p->detect.strategy) : json(nullptr)},
                     {"strategy_reason", from && from->reason != "configured" ? json(from->reason) : json(nullptr)},
                     {"status", outcome_name(r.outcome)},
                     {"run_id", r.run_id},
                     {"rows_read", r.rows_read},
                     {"rows_written", r.rows_written},
                     {"rows_deleted", r.rows_deleted},
                     {"watermark_before", r.before.to_json()},
                     {"watermark_after", r.after.to_json()},
                     {"window", r.window},
                     {"seconds", r.seconds},
                     {"round_trips", r.round_trips},
                     {"sessions_opened", r.sessions_opened},
                     {"checked_together", r.checked_together},
                     {"error", r.error.empty() ? json(nullptr) : json(r.error)}});
      if (const auto it = summaries.find(selector); it != summaries.end()) out.back()["selector_summary"] = it->second;
    }
    std::cout << out.dump(2) << "\n";
  }
  const int rc = exit_code(results);
  // An unwritable metrics file fails the command (exit 1), so cron reports it.
  if (!a.metrics_file.empty() && !write_run_metrics(cfg, results, a.metrics_file, started))
    return rc == kExitUsage ? kExitUsage : kExitRunFailed;
  return rc;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

int cmd_status(const StatusArgs& a) {
  Config cfg = load_config(a.config);
  const auto expansions = expand_selectors(cfg, a.pipelines, {});
  auto selected = select_pipelines(cfg, a.pipelines);
  // One connection per state database.
  std::map<std::string, std::vector<std::string>> by_state;
  std::map<std::string, pg::StatusRow> rows;
  if (!cfg.state.file.empty()) {
    std::vector<std::string> names;
    for (const auto* p : selected) names.push_back(p->name);
    rows = file_status(cfg, names);
  } else {
    for (const auto* p : selected) by_state[cfg.state_connection(*p)].push_back(p->name);
  }
  std::vector<pg::BackfillProgress> backfills;
  int rc = kExitOk;
  for (const auto& [conn, names] : by_state) {
    try {
      pg::Connection c(conn, cfg.connections.at(conn), "tidemark");
      pg::StateStore store(c, cfg.state.schema);
      for (auto& r : store.status(names)) rows[r.pipeline] = r;
      for (auto& b : pg::ChunkStore(c, cfg.state.schema).backfills(names)) backfills.push_back(b);
    } catch (const RunError& e) {
      spdlog::error("{}", e.what());
      rc = kExitRunFailed;
      for (const auto& n : names) rows[n].pipeline = n;
    }
  }
  if (a.json) {
    json out = json::array();
    for (const auto* p : selected) {
      const auto& r = rows[p->name];
      out.push_back({{"pipeline", p->name},
                     {"selector", p->selector.empty() ? json(nullptr) : json(p->selector)},
                     {"config_error", p->config_error.empty() ? json(nullptr) : json(p->config_error)},
                     {"strategy", p->detect.strategy},
                     {"watermark", r.has_state ? r.watermark.to_json() : json(nullptr)},
                     {"state_updated_at", r.state_updated_at.empty() ? json(nullptr) : json(r.state_updated_at)},
                     {"last_run", !r.last_status.empty() ? json{{"run_id", r.last_run_id ? json(r.last_run_id) : json(nullptr)},
                                                        {"mode", r.last_mode},
                                                        {"status", r.last_status},
                                                        {"started_at", r.last_started},
                                                        {"finished_at", r.last_finished.empty() ? json(nullptr) : json(r.last_finished)},
                                                        {"rows_read", r.last_rows_read},
                                                        {"rows_written", r.last_rows_written},
                                                        {"error", r.last_error.empty() ? json(nullptr) : json(r.last_error)}}
                                                        : json(nullptr)}});
      json fills = json::array();
      for (const auto& b : backfills)
        if (b.pipeline == p->name)
          fills.push_back({{"from", b.range_from},
                           {"to", b.range_to},
                           {"chunks_done", b.done},
                           {"chunks", b.total},
                           {"rows_written", b.rows_written},
                           {"rows_read", b.rows_read},
                           {"chunks_running", b.running},
                           {"chunks_failed", b.failed},
                           {"last_chunk_at", b.last_finished == "-" ? json(nullptr) : json(b.last_finished)}});
      out.back()["backfills"] = fills;
      for (const auto& s : cdc_slots(cfg, {p}))
        out.back()["slot"] = s.error.empty() ? json{{"name", s.slot},
                                                    {"exists", s.exists},
                                                    {"wal_status", s.wal_status},
                                                    {"retained_bytes", s.retained_bytes},
                                                    {"active", s.active}}
                                             : json{{"name", s.slot}, {"error", s.error}};
    }
    std::cout << out.dump(2) << "\n";
    return rc;
  }
  std::vector<std::vector<std::string>> table = {
      {"PIPELINE", "STRATEGY", "HIGH", "SAFE", "LAST RUN (UTC)", "MODE", "STATUS", "READ", "WRITTEN"}};
  for (const auto* p : selected) {
    const auto& r = rows[p->name];
    const std::string strategy = r.has_state && r.strategy != p->detect.strategy
                                     ? p->detect.strategy + " (stored: " + r.strategy + ")"
                                     : p->detect.strategy;
    table.push_back({p->name, strategy, r.has_state ? tuple_text(r.watermark.high) : "-",
                     r.has_state ? tuple_text(r.watermark.safe) : "-", !r.last_status.empty() ? plain_time(r.last_started) : "never",
                     !r.last_status.empty() ? r.last_mode : "-", !r.last_status.empty() ? r.last_status : "-",
                     !r.last_status.empty() ? std::to_string(r.last_rows_read) : "-",
                     !r.last_status.empty() ? std::to_string(r.last_rows_written) : "-"});
  }
  print_table(table);
  // Selector pipelines: one summary line each (their tables are the rows above), then what
  // the expansion noticed.
  for (const auto& e : expansions) {
    std::map<std::string, int> last;
    int tables = 0;
    for (const auto* p : selected) {
      if (p->selector != e.selector) continue;
      ++tables;
      const auto& r = rows[p->name];
      ++last[!p->config_error.empty() ? "invalid" : r.last_status.empty() ? "never run" : r.last_status];
    }
    std::string counts;
    for (const auto& [k, n] : last) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + k;
    std::cout << e.selector << ": selector pipeline, " << tables << " table(s) shown" << (counts.empty() ? "" : " (" + counts + ")")
              << (e.skipped.empty() ? "" : ", " + std::to_string(e.skipped.size()) + " skipped") << "\n";
    for (const auto& sk : e.skipped) std::cout << e.selector << ": skipped " << sk.table.display() << ": " << sk.why << "\n";
    for (const auto& w : e.warnings) std::cout << e.selector << ": warning: " << w << "\n";
  }
  for (const auto& s : cdc_slots(cfg, selected))
    std::cout << s.pipeline << ": slot " << s.slot << ": "
              << (!s.error.empty() ? "unknown (" + s.error + ")"
                  : !s.exists      ? std::string("not created yet")
                                   : std::to_string(s.retained_bytes / 1024) + " KiB of WAL retained, wal_status " +
                                    s.wal_status + (s.active ? ", in use" : ""))
              << "\n";
  for (const auto& b : backfills) {
    std::cout << b.pipeline << ": backfill [" << b.range_from << ", " << b.range_to << "): " << b.done << "/" << b.total
              << " chunks done, " << b.rows_written << " rows written, last chunk "
              << (b.last_finished == "-" ? b.last_finished : plain_time(b.last_finished));
    // Running only with a live worker (lease and lock); a chunk whose worker failed or died is failed.
    std::vector<std::string> notes;
    if (b.running > 0) notes.push_back(std::to_string(b.running) + " chunk(s) running");
    if (b.failed > 0) notes.push_back(std::to_string(b.failed) + " chunk(s) failed (their worker failed or died)");
    if (b.done < b.total && b.running == 0) notes.push_back(std::string(b.failed > 0 ? "" : "interrupted: ") +
                                                         "rerun the same command to resume");
    for (size_t i = 0; i < notes.size(); ++i) std::cout << (i == 0 ? " (" : "; ") << notes[i];
    std::cout << (notes.empty() ? "" : ")") << "\n";
  }
  for (const auto* p : selected) {
    const auto& r = rows[p->name];
    if (r.last_status == "failed" && !r.last_error.empty()) std::cout << p->name << ": last error: " << r.last_error << "\n";
    if (!p->config_error.empty()) std::cout << p->name << ": invalid: " << p->config_error << "\n";
  }
  return rc;
}

int cmd_validate(const std::string& config, bool quiet) {
  Config cfg = load_config(config);
  if (!quiet) {
    std::cout << config << ": OK, " << cfg.pipelines.size() << " pipeline(s):";
    for (const auto& p : cfg.pipelines) std::cout << " " << p.name << " (" << p.detect.strategy << ", " << p.target.write << ")";
    std::cout << "\n";
    // A selector's tables are known only at run time (`tidemark plan` shows them).
    for (const auto& s : cfg.selectors) {
      std::string tables;
      for (const auto& t : s.tables) tables += (tables.empty() ? "" : ", ") + t.text;
      std::cout << "  selector pipeline " << s.name << ": tables " << tables << " (strategy " << s.strategy
                << "; expanded by run and plan)\n";
    }
  }
  return kExitOk;
}

}  // namespace tidemark::cli
