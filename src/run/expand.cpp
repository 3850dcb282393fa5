// Selector pipelines at run time: the catalog and stored choices in, expanded pipelines out.
#include "run/expand.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "pg/pg.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/state_file.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Whether selecting `names` can reach a table of selector `s`.
bool needed(const SelectorConfig& s, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  const std::string prefix = selector_prefix(s);
  for (const auto& n : names)
    if (n == s.name || n.rfind(prefix, 0) == 0 || has_glob(n)) return true;
  return false;
}

std::vector<StoredChoice> choices(const std::vector<std::pair<std::string, StoredState>>& states) {
  std::vector<StoredChoice> out;
  for (const auto& [name, st] : states) {
    StoredChoice c;
    c.pipeline = name;
    c.strategy = st.strategy;
    if (st.identity) {
      c.cursor = st.identity->cursor;
      c.source_table = st.identity->source_table;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::vector<SelectorExpansion> expand_selectors(Config& cfg, const std::vector<std::string>& names,
                                                const ExpandOptions& opts, std::vector<VanishedTable>* vanished,
                                                const SessionFor& session) {
  std::vector<SelectorExpansion> out;
  if (cfg.selectors.empty()) return out;
  // A session of the caller's, or one of its own for this read (closed after it).
  std::unique_ptr<pg::Connection> own;
  auto connect = [&](const std::string& name, const std::string& role) -> pg::Connection& {
    if (session) return session(name, role);
    own = std::make_unique<pg::Connection>(name, cfg.connections.at(name), role);
    return *own;
  };
  // One catalog query per source connection, for every selector on it.
  std::map<std::string, std::vector<const SelectorConfig*>> by_source;
  for (const auto& s : cfg.selectors)
    if (needed(s, names)) by_source[s.connection].push_back(&s);
  std::vector<PipelineConfig> failed;  // stand-ins of selectors whose expansion failed
  for (const auto& [conn, selectors] : by_source) {
    std::vector<InspectedTable> catalog;
    std::string problem;
    try {
      std::vector<std::string> regexes;
      for (const auto* s : selectors)
        for (const auto& p : s->tables) regexes.push_back(schema_regex(p));
      catalog = pg::list_tables(connect(conn, "tidemark-source"), regexes);
    } catch (const std::exception& e) {
      problem = "could not list the tables of source '" + conn + "': " + redact_text(e.what());
    }
    for (const auto* s : selectors) {
      std::string why = problem;
      std::vector<StoredChoice> stored;
      if (why.empty()) {
        try {
          const std::string prefix = selector_prefix(*s);
          if (!cfg.state.file.empty()) {
            std::vector<std::pair<std::string, StoredState>> states;
            for (const auto& [name, entry] : StateFile(cfg.state.file).read().pipelines)
              if (name.rfind(prefix, 0) == 0) states.emplace_back(name, entry.state);
            stored = choices(states);
          } else {
            PipelineConfig probe;
            probe.target.connection = s->target_connection;
            const std::string& state_conn = cfg.state_connection(probe);
            if (!cfg.connections.count(state_conn)) throw ConfigError("unknown state connection '" + state_conn + "'");
            stored = choices(pg::StateStore(connect(state_conn, "tidemark"), cfg.state.schema).list(prefix));
          }
        } catch (const std::exception& e) {
          why = "could not read the stored state of its tables: " + redact_text(e.what());
        }
      }
      if (!why.empty()) {
        PipelineConfig stand_in;
        stand_in.name = s->name;
        stand_in.selector = s->name;
        stand_in.loc = s->loc;
        stand_in.config_error = "selector pipeline " + s->name + " was not expanded, so none of its tables ran: " + why;
        stand_in.expand_failed = true;
        failed.push_back(std::move(stand_in));
        SelectorExpansion e;
        e.selector = s->name;
        e.warnings.push_back(failed.back().config_error);
        out.push_back(std::move(e));
        continue;
      }
      // The state schema's own tables are never data, unless a pattern names that schema exactly.
      std::vector<InspectedTable> tables;
      const bool state_named = std::any_of(s->tables.begin(), s->tables.end(), [&](const TablePattern& p) {
        return p.schema_exact && p.schema == cfg.state.schema;
      });
      for (const auto& t : catalog)
        if (state_named || t.table.schema != cfg.state.schema) tables.push_back(t);
      out.push_back(expand_selector(cfg, *s, tables, stored, opts));
      if (vanished) {
        // As expand_selector tells them: stored state no table of this run owns, of a table not listed.
        std::set<std::string> owned, listed;
        for (const auto& t : out.back().tables) owned.insert(t.name);
        for (const auto& t : catalog) listed.insert(t.table.quoted());
        for (const auto& c : stored)
          if (!owned.count(c.pipeline) && !cfg.find(c.pipeline) && (c.source_table.empty() || !listed.count(c.source_table)))
            vanished->push_back({s->name, c.pipeline, c.source_table});
      }
    }
  }
  apply_expansions(cfg, out);
  for (auto& f : failed) cfg.pipelines.push_back(std::move(f));  // their results come last
  return out;
}

void log_expansions(const std::vector<SelectorExpansion>& expansions) {
  for (const auto& e : expansions) {
    if (e.tables.empty() && e.skipped.empty() && !e.warnings.empty()) continue;  // a failed one: its result says it
    std::map<std::string, int> by_strategy;
    for (const auto& t : e.tables) ++by_strategy[t.strategy.empty() ? "invalid" : t.strategy];
    std::string counts;
    for (const auto& [s, n] : by_strategy) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + s;
    log::PipelineScope scope(e.selector);
    spdlog::info("selector: {} table(s){}{}", e.tables.size(), counts.empty() ? "" : " (" + counts + ")",
                 e.skipped.empty() ? "" : ", " + std::to_string(e.skipped.size()) + " skipped");
    for (const auto& s : e.skipped) spdlog::warn("table {} skipped: {}", s.table.display(), s.why);
    for (const auto& w : e.warnings) spdlog::warn("{}", w);
  }
}

PipelineResult expansion_failure(const PipelineConfig& p) {
  PipelineResult r;
  r.pipeline = p.name;
  r.outcome = p.expand_failed ? PipelineResult::Outcome::kFailed : PipelineResult::Outcome::kConfig;
  r.error = p.config_error;
  log::PipelineScope scope(p.name);
  spdlog::error("{}", p.config_error);
  return r;
}

}  // namespace tidemark
