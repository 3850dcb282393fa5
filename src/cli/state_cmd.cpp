// `tidemark state export` prints the state of pipelines from the config's store (the state
// schema or state.file) as a state document; `tidemark state import` writes such a document
// into the config's store. Together they move state between the two stores, or back up and
// restore it. Only the watermark moves: run history, backfill chunks and the files manifest
// stay where they are.
#include "cli/state_cmd.hpp"

#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "tidemark/errors.hpp"
#include "tidemark/runner.hpp"
#include "tidemark/state_file.hpp"

namespace tidemark::cli {

std::string plain_time(std::string iso) {
  if (iso.size() >= 19) iso = iso.substr(0, 19);
  if (iso.size() > 10 && iso[10] == 'T') iso[10] = ' ';
  return iso;
}

namespace {

std::string read_input(const std::string& file) {
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file + ": cannot open state document");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The state connection of a pipeline, its store, and its lock, for one command.
struct SchemaStore {
  SchemaStore(const Config& cfg, const PipelineConfig& p) {
    const std::string& name = cfg.state_connection(p);
    conn = std::make_unique<pg::Connection>(name, cfg.connections.at(name), "tidemark");
    store = std::make_unique<pg::StateStore>(*conn, cfg.state.schema);
  }
  std::unique_ptr<pg::Connection> conn;
  std::unique_ptr<pg::StateStore> store;
};

}  // namespace

std::map<std::string, pg::StatusRow> file_status(const Config& cfg, const std::vector<std::string>& names) {
  const StateDocument doc = StateFile(cfg.state.file).read();
  std::map<std::string, pg::StatusRow> rows;
  for (const auto& n : names) {
    pg::StatusRow& r = rows[n];
    r.pipeline = n;
    const auto it = doc.pipelines.find(n);
    if (it == doc.pipelines.end()) continue;
    const StateEntry& e = it->second;
    r.has_state = e.state.exists;
    r.strategy = e.state.strategy;
    r.watermark = e.state.watermark;
    r.state_updated_at = e.updated_at;
    if (e.last_run) {
      r.last_mode = e.last_run->mode;
      r.last_status = e.last_run->status;
      r.last_started = e.last_run->started_at;
      r.last_finished = e.last_run->finished_at;
      r.last_rows_read = e.last_run->rows_read;
      r.last_rows_written = e.last_run->rows_written;
      r.last_error = e.last_run->error;
    }
  }
  return rows;
}

int cmd_state_export(const StateArgs& a) {
  const Config cfg = load_config(a.config);
  const auto selected = select_pipelines(cfg, a.pipelines);
  const std::optional<StateDocument> file =
      cfg.state.file.empty() ? std::nullopt : std::optional<StateDocument>(StateFile(cfg.state.file).read());
  StateDocument doc;
  for (const PipelineConfig* p : selected) {
    if (p->detect.strategy == "files")
      spdlog::warn("pipeline {}: strategy files keeps its progress in the manifest {}.files, which is not exported",
                   p->name, cfg.state.schema);
    if (file) {
      if (auto it = file->pipelines.find(p->name); it != file->pipelines.end()) doc.pipelines[p->name] = it->second;
    } else {
      SchemaStore s(cfg, *p);
      StateEntry e;
      e.state = s.store->load(p->name);
      if (e.state.exists) {
        // RFC 3339 UTC, as the document keeps it.
        const auto status = s.store->status({p->name});
        e.updated_at = status.empty() ? "" : status[0].state_updated_at;
        doc.pipelines[p->name] = e;
      }
    }
    if (!doc.pipelines.count(p->name)) spdlog::info("pipeline {}: no state yet, not exported", p->name);
  }
  std::cout << render_state_document(doc);
  return kExitOk;
}

int cmd_state_import(const StateArgs& a) {
  const Config cfg = load_config(a.config);
  const StateDocument doc = parse_state_document(read_input(a.file), "state document " + a.file, false);
  std::map<std::string, StateEntry> chosen;
  for (const auto& [name, e] : doc.pipelines)
    if (a.pipelines.empty() || std::find(a.pipelines.begin(), a.pipelines.end(), name) != a.pipelines.end())
      chosen[name] = e;
  for (const auto& n : a.pipelines)
    if (!doc.pipelines.count(n)) throw ConfigError(a.file + ": has no state for pipeline '" + n + "'");
  // Every entry is checked before anything is written.
  for (auto& [name, e] : chosen) {
    const PipelineConfig* p = cfg.find(name);
    if (!p) throw ConfigError(a.file + ": pipeline '" + name + "' is not in " + cfg.path);
    if (e.state.strategy != p->detect.strategy)
      throw ConfigError(a.file + ": pipeline '" + name + "' has state of strategy " + e.state.strategy + ", but " +
                        cfg.path + " says " + p->detect.strategy);
  }
  int imported = 0;
  for (auto& [name, e] : chosen) {
    const PipelineConfig& p = *cfg.find(name);
    // The pipeline's lock (on its state or target database) keeps runs out while its state changes.
    SchemaStore s(cfg, p);
    if (cfg.state.file.empty()) s.store->ensure_schema();
    pg::PipelineLock lock(*s.store, name, true, false, "state not imported");
    StoredState current;
    std::optional<StateFile> file;
    if (!cfg.state.file.empty()) {
      file.emplace(cfg.state.file);
      try {
        current = file->load(name);
      } catch (const RunError& err) {
        // A corrupt or hand-edited file: --force is how its state is replaced on purpose.
        if (!a.force) throw RunError(std::string(err.what()) + " (with --force, import replaces its state)");
      }
    } else {
      current = s.store->load(name);
    }
    if (current.exists && !a.force && current.watermark.to_json() != e.state.watermark.to_json())
      throw RunError("pipeline " + name + " already has state (version " + std::to_string(current.version) +
                     ", high " + tuple_text(current.watermark.high) + "); --force replaces it");
    if (file) {
      e.state.version = current.exists ? current.version + 1 : std::max<int64_t>(e.state.version, 1);
      if (e.updated_at.empty()) e.updated_at = utc_now_iso();
      file->put({{name, e}});
    } else {
      s.store->put(name, e.state.strategy, e.state.watermark);
    }
    spdlog::info("pipeline {}: state imported (high {}, safe {})", name, tuple_text(e.state.watermark.high),
                 tuple_text(e.state.watermark.safe));
    ++imported;
  }
  if (!imported) spdlog::warn("{}: no pipeline state to import", a.file);
  return kExitOk;
}

}  // namespace tidemark::cli
