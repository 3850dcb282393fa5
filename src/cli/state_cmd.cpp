// `tidemark state export` prints the state of pipelines from the config's store (the state
// schema or state.file) as a state document; `tidemark state import` writes such a document
// into the config's store. Together they move state between the two stores, or back up and
// restore it. Only the watermark moves: run history, backfill chunks and the files manifest
// stay where they are. `tidemark state adopt` records the config's identity for a pipeline's
// existing watermark (docs/correctness.md#identity-of-state).
#include "cli/state_cmd.hpp"

#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>

#include "run/expand.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/runner.hpp"
#include "tidemark/state_file.hpp"
#include "tidemark/strategy.hpp"

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

// The tuple columns a cursor strategy's watermark is over: the cursor, then the key columns
// that are not the cursor (as strategy/cursor.cpp builds them).
std::vector<std::string> tuple_columns(const PipelineConfig& p) {
  std::vector<std::string> cols{p.detect.cursor};
  for (const auto& k : p.target.key)
    if (k != p.detect.cursor) cols.push_back(k);
  return cols;
}

// A watermark a run of `p` can use: one its strategy's watermark_problem accepts (for cdc a slot
// position), and for a cursor strategy over the pipeline's cursor and key, every value valid
// input for its source column's type (asked of the source server). ConfigError otherwise, with
// or without --force: such a watermark is never usable, whatever it replaces.
void check_watermark(const Config& cfg, const PipelineConfig& p, const Watermark& w, const std::string& where) {
  const std::string what = where + ": pipeline '" + p.name + "': ";
  const Strategy* strategy = find_strategy(p.detect.strategy);
  if (!strategy) return;
  if (auto why = strategy->watermark_problem(w)) throw ConfigError(what + *why);
  if (!strategy->has_cursor() || (!w.safe && !w.high && !w.pending)) return;
  const std::vector<std::string> cols = tuple_columns(p);
  if (w.columns != cols)
    throw ConfigError(what + "its watermark is over (" + ident_list(w.columns) + "), but the pipeline's cursor and key "
                      "are (" + ident_list(cols) + ")");
  std::vector<std::pair<std::string, const Tuple*>> tuples;
  if (w.safe) tuples.emplace_back("safe", &*w.safe);
  if (w.high) tuples.emplace_back("high", &*w.high);
  if (w.pending && w.pending->high) tuples.emplace_back("pending.high", &*w.pending->high);
  for (const auto& [name, t] : tuples)
    if (t->size() != cols.size())
      throw ConfigError(what + "its watermark's '" + name + "' has " + std::to_string(t->size()) +
                        " value(s), one for each of (" + ident_list(cols) + ") was expected");
  pg::Connection conn(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
  pg::Source src(conn);
  const SourceShape shape = src.describe(p);
  for (size_t i = 0; i < cols.size(); ++i) {
    const ColumnInfo* c = shape.find(cols[i]);
    if (!c) throw ConfigError(what + "the source has no column '" + cols[i] + "', which its watermark is over");
    for (const auto& [name, t] : tuples)
      if (auto why = src.input_error((*t)[i], c->type))
        throw ConfigError(what + "its watermark's '" + name + "' value '" + (*t)[i] + "' is not a valid " + c->type +
                          " for column " + cols[i] + ": " + *why);
  }
}

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
  Config cfg = load_config(a.config);
  const auto selected = select_expanded(cfg, a.pipelines).pipelines;
  const std::optional<StateDocument> file =
      cfg.state.file.empty() ? std::nullopt : std::optional<StateDocument>(StateFile(cfg.state.file).read());
  StateDocument doc;
  for (const PipelineConfig* p : selected) {
    if (find_strategy(p->detect.strategy)->caps().manifest)
      spdlog::warn("pipeline {}: strategy {} keeps its progress in the manifest {}.files, which is not exported",
                   p->name, p->detect.strategy, cfg.state.schema);
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
  Config cfg = load_config(a.config);
  const StateDocument doc = parse_state_document(read_input(a.file), "state document " + a.file, false);
  // Selector pipelines: the tables of the document's entries (or of the names given) expanded,
  // so an entry of an expanded pipeline finds its config.
  std::vector<std::string> wanted = a.pipelines;
  if (wanted.empty())
    for (const auto& entry : doc.pipelines) wanted.push_back(entry.first);
  std::string failures;  // selectors that could not be expanded
  if (!wanted.empty()) {
    expand_selectors(cfg, wanted, {});
    for (const auto& p : cfg.pipelines)
      if (p.expand_failed) failures += "; " + p.config_error;
  }
  // A name given that is no entry of the document may be a selector's name or a glob over the
  // config's names (as `run` takes them): it selects the entries of the pipelines it selects.
  std::map<std::string, StateEntry> chosen;
  std::set<std::string> by_pattern;
  for (const auto& n : a.pipelines) {
    if (doc.pipelines.count(n)) continue;
    bool any = false;
    for (const PipelineConfig* p : selected_by(cfg, n))
      if (doc.pipelines.count(p->name)) {
        by_pattern.insert(p->name);
        any = true;
      }
    if (!any) throw ConfigError(a.file + ": has no state for pipeline '" + n + "'" + failures);
  }
  for (const auto& [name, e] : doc.pipelines)
    if (a.pipelines.empty() || by_pattern.count(name) ||
        std::find(a.pipelines.begin(), a.pipelines.end(), name) != a.pipelines.end())
      chosen[name] = e;
  // Every entry is checked before anything is written.
  for (auto& [name, e] : chosen) {
    const PipelineConfig* p = cfg.find(name);
    if (!p && !failures.empty()) throw RunError(a.file + ": pipeline '" + name + "' is not in " + cfg.path + failures);
    if (!p) throw ConfigError(a.file + ": pipeline '" + name + "' is not in " + cfg.path);
    if (!p->config_error.empty()) throw ConfigError(a.file + ": pipeline '" + name + "': " + p->config_error);
    if (e.state.strategy != p->detect.strategy)
      throw ConfigError(a.file + ": pipeline '" + name + "' has state of strategy " + e.state.strategy + ", but " +
                        cfg.path + " says " + p->detect.strategy);
    check_watermark(cfg, *p, e.state.watermark, a.file);
  }
  int imported = 0;
  for (auto& [name, e] : chosen) {
    const PipelineConfig& p = *cfg.find(name);
    // The pipeline's lock (on its state or target database) keeps runs out while its state changes.
    SchemaStore s(cfg, p);
    if (cfg.state.file.empty()) s.store->ensure_schema();
    pg::PipelineLock lock(*s.conn, cfg.state.schema, name, true, false, "state not imported");
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
      s.store->put(name, e.state.strategy, e.state.watermark, e.state.identity);
    }
    spdlog::info("pipeline {}: state imported (high {}, safe {})", name, tuple_text(e.state.watermark.high),
                 tuple_text(e.state.watermark.safe));
    ++imported;
  }
  if (!imported) spdlog::warn("{}: no pipeline state to import", a.file);
  return kExitOk;
}

int cmd_state_adopt(const StateArgs& a) {
  Config cfg = load_config(a.config);
  if (a.pipelines.empty()) throw ConfigError("state adopt: name the pipeline(s) whose state to adopt");
  const Selection sel = select_expanded(cfg, a.pipelines);
  for (const PipelineConfig* p : sel.pipelines)
    if (find_strategy(p->detect.strategy)->caps().manifest)
      throw ConfigError("pipeline " + p->name + ": strategy " + p->detect.strategy +
                        " keeps no watermark to adopt (its progress is the manifest of the files loaded)");
  for (const PipelineConfig* p : sel.pipelines) {
    SchemaStore s(cfg, *p);
    if (cfg.state.file.empty()) s.store->ensure_schema();
    pg::PipelineLock lock(*s.conn, cfg.state.schema, p->name, true, false, "state not adopted");
    std::optional<StateFile> file;
    if (!cfg.state.file.empty()) file.emplace(cfg.state.file);
    const StoredState st = file ? file->load(p->name) : s.store->load(p->name);
    if (!st.exists && !sel.named(*p) && !p->selector.empty()) {
      // A table of a selector that has not run yet: its first run records its identity.
      spdlog::info("{}: no state yet, nothing to adopt", pipeline_text(*p));
      continue;
    }
    if (!st.exists)
      throw RunError("pipeline " + p->name + " has no state to adopt (its first run records its identity)");
    if (st.strategy != p->detect.strategy)
      throw RunError("pipeline " + p->name + ": its stored watermark belongs to strategy " + st.strategy +
                     ", the config says " + p->detect.strategy + ", so it cannot be kept; run it with --full-refresh");
    if (find_strategy(p->detect.strategy)->has_cursor() && !st.watermark.columns.empty() &&
        st.watermark.columns != tuple_columns(*p))
      throw RunError("pipeline " + p->name + ": its stored watermark is over (" + ident_list(st.watermark.columns) +
                     ") but the cursor and key are now (" + ident_list(tuple_columns(*p)) +
                     "), so it cannot be kept; run it with --full-refresh");
    pg::Connection source(p->source.connection, cfg.connections.at(p->source.connection), "tidemark-source");
    pg::Connection target(p->target.connection, cfg.connections.at(p->target.connection), "tidemark");
    const std::optional<StateIdentity> now = current_identity(*p, source, target);
    if (!now) throw RunError("pipeline " + p->name + ": source table " + p->source.table->display() + " does not exist");
    if (auto why = same_table_problem(*p, *now)) throw ConfigError(*why);
    if (st.identity && identity_differences(*st.identity, *now, true).empty()) {
      spdlog::info("pipeline {}: its state is already of {}; nothing changed", p->name, now->text());
      continue;
    }
    const bool done = file ? file->set_identity(p->name, *now) : s.store->set_identity(p->name, *now, false);
    if (!done) throw RunError("pipeline " + p->name + ": its state disappeared meanwhile; nothing adopted");
    spdlog::info("pipeline {}: state adopted: it was of {}, it is now of {}; watermark kept (high {}, safe {})", p->name,
                 st.identity ? st.identity->text() : std::string("nothing recorded"), now->text(),
                 tuple_text(st.watermark.high), tuple_text(st.watermark.safe));
  }
  return kExitOk;
}

}  // namespace tidemark::cli
