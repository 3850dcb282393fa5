#include "cli/cli.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/history_cmd.hpp"
#include "cli/reconcile_cmd.hpp"
#include "cli/state_cmd.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/util.hpp"

namespace tidemark::cli {

int main(int argc, char** argv) {
  CLI::App app{"tidemark: incremental PostgreSQL-to-PostgreSQL loads that lose and duplicate nothing"};
  app.set_version_flag("--version", std::string("tidemark ") + TIDEMARK_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-q, -v, --log-format) also after the subcommand
  std::string log_format = "text";
  bool quiet = false;
  int verbose = 0;
  app.add_option("--log-format", log_format, "Log format on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "Print nothing on success (for cron)");
  app.add_flag("-v,--verbose", verbose, "More detail (-vv prints the SQL)");

  RunArgs run;
  StatusArgs status;
  DropSlotArgs drop_slot;
  VerifyArgs verify;
  InitArgs init;
  AdviseArgs advise_args;
  ReconcileArgs reconcile;
  HistoryArgs history;
  StateArgs state_export, state_import, state_adopt;
  std::string validate_config;
  std::function<int()> handler;

  // The subcommand table: name, help, options, handler.
  struct Command {
    const char* name;
    const char* help;
    std::function<void(CLI::App*)> options;
    std::function<int()> handler;
  };
  // `run` and `plan` take the same options.
  const auto run_options =
      [&](CLI::App* c) {
         c->add_option("-c,--config", run.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipelines", run.pipelines, "Pipelines to run (default: all)");
         c->add_option("--from", run.from, "Backfill: start of the cursor range (inclusive); needs named pipelines");
         c->add_option("--to", run.to, "Backfill: end of the cursor range (exclusive); needs named pipelines");
         c->add_option("--chunk", run.chunk,
                       "Backfill: commit the range in chunks of this many ids, or of a duration (1d, 6h); resumable");
         c->add_flag("--restart", run.restart, "Backfill: start over, forgetting the chunks already done");
         c->add_option("--jobs", run.jobs,
                       "Pipelines run at once, each on its own worker and sessions (default: the config's `jobs`, "
                       "else 1); with --from/--to: each backfill's chunks loaded at once by that many worker "
                       "processes, the pipelines one after another")
             ->check(CLI::Range(1, 64));
         c->add_option("--lease", run.lease,
                       "Backfill: how long a chunk stays claimed by a worker that stopped renewing it (default 1m)");
         c->add_flag("--advance-watermark", run.advance_watermark,
                     "Backfill: when done, move the incremental watermark to --to if no row can be skipped");
         c->add_flag("--dry-run", run.dry_run, "Print the plan (window, SQL, watermark) and write nothing");
         c->add_flag("--full-refresh", run.full_refresh, "Reload everything, replace the target, restart the watermark");
         c->add_flag("--json", run.json, "Print a JSON summary of the runs on stdout");
         c->add_option("--metrics-file", run.metrics_file,
                       "After the runs, replace this file with their Prometheus metrics (node_exporter textfile)");
       };
  const std::vector<Command> commands = {
      {"run", "Run pipelines (all, or those named): read the delta, write it, move the watermark", run_options,
       [&] { return cmd_run(run); }},
      {"plan", "Show what `run` would do (window, SQL, estimated rows, watermark) and write nothing",
       run_options, [&] {
         run.dry_run = true;
         return cmd_run(run);
       }},
      {"status", "Show each pipeline's watermark and last run",
       [&](CLI::App* c) {
         c->add_option("-c,--config", status.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipelines", status.pipelines, "Pipelines to show (default: all)");
         c->add_flag("--json", status.json, "JSON output");
       },
       [&] { return cmd_status(status); }},
      {"reconcile", "Delete target rows whose key no longer exists in the source, guarded (docs/deletes.md)",
       [&](CLI::App* c) {
         c->add_option("-c,--config", reconcile.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipelines", reconcile.pipelines, "Pipelines to reconcile")->required();
         c->add_flag("--dry-run", reconcile.dry_run, "Print how many and which keys would be deleted; delete nothing");
         c->add_option("--max-delete-ratio", reconcile.max_delete_ratio,
                       "Refuse when more than this share of the target would be deleted (default: the pipeline's "
                       "reconcile.max_delete_ratio, else 0.1)");
         c->add_flag("--json", reconcile.json, "Print a JSON summary on stdout");
       },
       [&] { return cmd_reconcile(reconcile); }},
      {"drop-slot", "Drop a cdc pipeline's replication slot; its next run starts over with a snapshot",
       [&](CLI::App* c) {
         c->add_option("-c,--config", drop_slot.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipeline", drop_slot.pipeline, "The cdc pipeline")->required();
       },
       [&] { return cmd_drop_slot(drop_slot); }},
      {"history", "Show the latest runs of each pipeline, newest first",
       [&](CLI::App* c) {
         c->add_option("-c,--config", history.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipelines", history.pipelines, "Pipelines to show (default: all)");
         c->add_option("--limit", history.limit, "Runs per pipeline, at least 1 (default 20)");
         c->add_flag("--json", history.json, "JSON output");
       },
       [&] { return cmd_history(history); }},
      {"verify", "Compare a pipeline's target with its source, row by row (exit 0 identical, 1 different)",
       [&](CLI::App* c) {
         c->add_option("-c,--config", verify.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipeline", verify.pipeline, "The pipeline")->required();
         c->add_option("--from", verify.from, "Compare only this cursor range: start (inclusive)");
         c->add_option("--to", verify.to, "Compare only this cursor range: end (exclusive)");
         c->add_flag("--json", verify.json, "Print the result as JSON");
       },
       [&] { return cmd_verify(verify); }},
      {"init", "Print a commented config for a source table, with the strategy that fits it",
       [&](CLI::App* c) {
         c->add_option("--dsn", init.dsn, "libpq connection string of the source (not written to the output)")
             ->required()->envname("SOURCE_DSN");
         c->add_option("--table", init.table, "The source table: table or schema.table")->required();
         c->add_option("--name", init.name, "Pipeline name (default: the table's)");
         c->add_option("--target", init.target, "Target table (default: analytics.<table>)");
       },
       [&] { return cmd_init(init); }},
      {"advise", "Inspect each pipeline's source table and say what fits and what is risky; changes nothing",
       [&](CLI::App* c) {
         c->add_option("-c,--config", advise_args.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
         c->add_option("pipelines", advise_args.pipelines, "Pipelines to inspect (default: all)");
         c->add_flag("--json", advise_args.json, "JSON output");
       },
       [&] { return cmd_advise(advise_args); }},
      {"schema", "Print the config format as a JSON Schema, for editors", [](CLI::App*) {},
       [] {
         std::cout << config_json_schema();
         return 0;
       }},
      {"validate", "Check a config file without connecting anywhere (exit 0 or 2)",
       [&](CLI::App* c) {
         c->add_option("-c,--config", validate_config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
       },
       [&] { return cmd_validate(validate_config, quiet); }},
  };
  for (const auto& cmd : commands) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    cmd.options(sub);
    sub->callback([&handler, &cmd] { handler = cmd.handler; });
  }
  // `state export|import`: a command with subcommands of its own.
  CLI::App* state = app.add_subcommand("state", "Move pipeline state between the state schema and a state file, or adopt it for a changed config");
  state->require_subcommand(1);
  CLI::App* exp = state->add_subcommand("export", "Print the pipelines' state as a JSON state document on stdout");
  exp->add_option("-c,--config", state_export.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
  exp->add_option("pipelines", state_export.pipelines, "Pipelines to export (default: all)");
  exp->callback([&] { handler = [&] { return cmd_state_export(state_export); }; });
  CLI::App* imp = state->add_subcommand("import", "Write a state document into the config's state store");
  imp->add_option("-c,--config", state_import.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
  imp->add_option("file", state_import.file, "The state document (- for stdin)")->required();
  imp->add_option("pipelines", state_import.pipelines, "Pipelines to import (default: all in the document)");
  imp->add_flag("--force", state_import.force, "Replace state a pipeline already has");
  imp->callback([&] { handler = [&] { return cmd_state_import(state_import); }; });
  CLI::App* adopt = state->add_subcommand(
      "adopt", "Keep a pipeline's watermark as the state of what its config now reads and writes (a renamed table, a "
               "moved server, an edited query)");
  adopt->add_option("-c,--config", state_adopt.config, "Pipeline config (YAML or JSON)")->required()->envname("TIDEMARK_CONFIG");
  adopt->add_option("pipelines", state_adopt.pipelines, "Pipelines whose state to adopt")->required();
  adopt->callback([&] { handler = [&] { return cmd_state_adopt(state_adopt); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_name() == "RequiredError" && argc > 1) {
      std::vector<std::string> names;
      for (const auto& c : commands) names.push_back(c.name);
      names.push_back("state");
      std::string first = argv[1];
      if (first.rfind('-', 0) != 0 && std::find(names.begin(), names.end(), first) == names.end()) {
        std::cerr << "tidemark: unknown command '" << first << "'" << did_you_mean(first, names) << "\n";
        return kExitUsage;
      }
    }
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  log::setup(log_format == "json" ? log::Format::kJson : log::Format::kText, quiet ? -1 : verbose);
  try {
    return handler ? handler() : kExitUsage;
  } catch (const ConfigError& e) {
    spdlog::error("{}", e.what());
    return kExitUsage;
  } catch (const LockBusy& e) {
    spdlog::warn("{}", e.what());
    return kExitLocked;
  } catch (const std::exception& e) {
    spdlog::error("{}", redact_text(e.what()));
    return kExitRunFailed;
  }
}

}  // namespace tidemark::cli
