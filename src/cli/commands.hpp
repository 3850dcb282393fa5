// Handlers of the subcommands (src/cli/commands.cpp). Each returns the process exit code.
#pragma once
#include <string>
#include <vector>

#include "tidemark/runner.hpp"
#include "tidemark/selector.hpp"

namespace tidemark::cli {

struct RunArgs {
  std::string config;
  std::vector<std::string> pipelines;
  std::string from, to;
  bool dry_run = false;
  bool full_refresh = false;
  std::string chunk;
  bool restart = false;
  int jobs = 0;  // --jobs; 0: not given (the config's `jobs`, a backfill's 1)
  std::string lease = "1m";
  bool advance_watermark = false;
  bool json = false;
  std::string metrics_file;  // Prometheus textfile written after the runs (metrics/metrics.hpp)
};

struct StatusArgs {
  std::string config;
  std::vector<std::string> pipelines;
  bool json = false;
};

// What a command that acts on pipelines by name (verify, reconcile, state, drop-slot, advise)
// works on: the pipelines select_pipelines picks once the selector pipelines `names` needs are
// expanded (run/expand.hpp), as `run` and `status` pick them: a pipeline's name (an expanded
// one too), a selector's name (all its tables), a glob over names; no name, all pipelines.
// A selector that could not be expanded is a RunError naming it; an invalid table of one is a
// ConfigError when named, else passed by with a warning.
struct Selection {
  std::vector<SelectorExpansion> expansions;
  std::vector<const PipelineConfig*> pipelines;
  // Whether the command line names `p` itself, not by its selector's name or a glob: a command
  // refuses a pipeline it does not apply to when named, and otherwise passes it by.
  bool named(const PipelineConfig& p) const;
  std::vector<std::string> names;
};
Selection select_expanded(Config& cfg, const std::vector<std::string>& names);
// "pipeline X" in messages, with the selector it is a table of: "pipeline app.public.x (table
// public.x of selector pipeline app)".
std::string pipeline_text(const PipelineConfig& p);

int cmd_run(const RunArgs& a);
// Rows as left-aligned columns two spaces apart (status, history).
void print_table(const std::vector<std::vector<std::string>>& rows);
int cmd_status(const StatusArgs& a);
// An RFC 3339 timestamp ("2026-11-24T21:40:00.123Z") as text tables print it, to the second:
// "2026-11-24 21:40:00" (the column header says UTC).
std::string plain_time(std::string iso);
int cmd_validate(const std::string& config, bool quiet);

// `tidemark verify` (verify_cmd.cpp): source and target compared row by row, by hash.
struct VerifyArgs {
  std::string config, pipeline, from, to;
  bool json = false;
};
int cmd_verify(const VerifyArgs& a);

// `tidemark init` (verify_cmd.cpp, with verify: both read a source to check or describe it): a commented config for one source table, on stdout.
struct InitArgs {
  std::string dsn, table, name, target;
};
int cmd_init(const InitArgs& a);

// `tidemark advise` (verify_cmd.cpp): per pipeline, what fits its source and what is risky.
struct AdviseArgs {
  std::string config;
  std::vector<std::string> pipelines;
  bool json = false;
};
int cmd_advise(const AdviseArgs& a);

// Strategy cdc (cdc_cmd.cpp): drop a pipeline's slot, and each slot's state for `status`.
struct DropSlotArgs {
  std::string config;
  std::string pipeline;
};
int cmd_drop_slot(const DropSlotArgs& a);
struct SlotStatus {
  std::string pipeline, slot, error;
  bool exists = false, active = false;
  std::string wal_status;
  int64_t retained_bytes = 0;
};
std::vector<SlotStatus> cdc_slots(const Config& cfg, const std::vector<const PipelineConfig*>& selected);

}  // namespace tidemark::cli
