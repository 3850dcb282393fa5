// Selector pipelines (docs/config.md#selector-pipelines): a pipeline whose `source.tables`
// globs stand for many tables expands, at run time, into one ordinary pipeline per matching
// table of the source catalog. Pure: the catalog listing and the stored state come in as
// data (src/pg/catalog.cpp and the state backends read them; src/run/expand.cpp wires it).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/inspect.hpp"

namespace tidemark {

// What a table's stored state says was chosen for it (strategy, cursor), and what it is of.
struct StoredChoice {
  std::string pipeline;
  std::string strategy;
  std::string cursor;        // identity.cursor ("" when none)
  std::string source_table;  // identity.source_table, quoted ("" when no identity was recorded)
};

// `detect: {strategy: auto}` (docs/strategies.md#auto), in src/strategy/auto.cpp: the strategy
// a table's shape calls for. `refused` when none fits (a large table with neither a
// timestamp cursor nor a sequence key); `reason` says why either way.
struct AutoChoice {
  std::string strategy;  // "" when refused
  std::string cursor;
  std::string reason;
  bool refused = false;
};
AutoChoice choose_strategy(const InspectedTable& t);
// The auto choice's size limit: a table without a cursor is loaded whole (strategy full) only
// below this many estimated rows; an unanalysed table (no estimate) counts as small when it
// takes at most kSmallTableBytes on disk.
constexpr int64_t kAutoFullRows = kSmallTable;
constexpr int64_t kSmallTableBytes = 1 << 20;

// The name `detect.strategy` takes to let each table's shape choose.
constexpr const char* kAutoStrategy = "auto";

struct ExpandedTable {
  QualifiedName table;
  std::string name;          // the expanded pipeline's name
  PipelineConfig pipeline;   // valid unless pipeline.config_error is set
  std::string strategy;      // the strategy it runs ("" when invalid)
  std::string reason;        // why that strategy: configured, auto's reason, stored
};

struct SkippedTable {
  QualifiedName table;
  std::string why;
};

struct SelectorExpansion {
  std::string selector;
  std::vector<ExpandedTable> tables;   // in catalog order (schema, then table name)
  std::vector<SkippedTable> skipped;   // matched but not run: excluded tables are not listed
  std::vector<std::string> warnings;   // overrides that match nothing, vanished tables, kept state
};

struct ExpandOptions {
  bool rechoose = false;  // --full-refresh: auto chooses again instead of keeping the stored choice
};

// Expands selector `s` of `cfg` over `catalog` (the source's tables; those the globs do not
// match are ignored) with the stored state under the selector's prefix. Pure.
SelectorExpansion expand_selector(const Config& cfg, const SelectorConfig& s, const std::vector<InspectedTable>& catalog,
                                  const std::vector<StoredChoice>& stored, const ExpandOptions& opts = {});

// The pipelines of `cfg` with every selector's expanded pipelines in its place (config order);
// an expanded name that collides with another pipeline becomes that table's config error.
void apply_expansions(Config& cfg, const std::vector<SelectorExpansion>& expansions);

// The text `plan` and `run --dry-run` print for an expansion: tables, strategies and why,
// skipped tables and why, warnings.
std::string expansion_text(const SelectorExpansion& e);

// The state-name prefix every pipeline of the selector has (its name template up to the first
// placeholder after {pipeline}): where vanished tables' state is found.
std::string selector_prefix(const SelectorConfig& s);

// A regular expression (POSIX, for the server's `~`) matching the schema names `p` may match.
std::string schema_regex(const TablePattern& p);

// The pipelines of an expanded config that `name` selects on the command line: the pipeline
// of that name; else every table of the selector pipeline of that name; else, when `name`
// holds glob characters, every pipeline whose name it matches ('app.public.*').
std::vector<const PipelineConfig*> selected_by(const Config& cfg, const std::string& name);
bool selector_named(const Config& cfg, const std::string& name);

// Glob match of `name` (`*`, `?`, `[…]`; no escapes), whole string, case-sensitive.
bool name_glob_match(const std::string& glob, const std::string& name);

}  // namespace tidemark
