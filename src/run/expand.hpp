// Selector pipelines at run time (docs/config.md#selector-pipelines): reads each selector's
// source catalog (one query per source connection) and the stored state under its prefix (one
// query per selector), expands it with the pure expand_selector, and puts the resulting
// pipelines in the config in the selector's place. `run`, `plan`, `status` and `history` call it.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pg/pg.hpp"
#include "tidemark/config.hpp"
#include "tidemark/runner.hpp"
#include "tidemark/selector.hpp"

namespace tidemark {

// A table whose state is kept under a selector's prefix but that the source no longer has
// (expand_selector warns of it): for `run --json`'s per-selector summary.
struct VanishedTable {
  std::string selector, pipeline;
  std::string table;  // as its state recorded it ("" when it recorded none)
};

// Expands the selectors `names` needs (all when empty) into cfg.pipelines. No selector, no
// connection. A selector whose catalog or state cannot be read becomes one pipeline of its
// name that fails (expand_failed), so the others still run. With `vanished`, the vanished
// tables of each selector are added to it. `session` gives the sessions to read with (a run's
// context, so that its pipelines reuse them: RunContext::session); without it, each read opens
// and closes a connection of its own.
using SessionFor = std::function<pg::Connection&(const std::string& connection, const std::string& role)>;
std::vector<SelectorExpansion> expand_selectors(Config& cfg, const std::vector<std::string>& names,
                                                const ExpandOptions& opts, std::vector<VanishedTable>* vanished = nullptr,
                                                const SessionFor& session = {});

// Logs what a run needs to know of the expansions: a line per selector, each skipped table
// and each warning (unmatched overrides, vanished tables), as warnings.
void log_expansions(const std::vector<SelectorExpansion>& expansions);

// The result of a pipeline whose expansion failed (config_error set): logged in its scope.
PipelineResult expansion_failure(const PipelineConfig& p);

}  // namespace tidemark
