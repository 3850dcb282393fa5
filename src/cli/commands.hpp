// Handlers of the subcommands (src/cli/commands.cpp). Each returns the process exit code.
#pragma once
#include <string>
#include <vector>

#include "tidemark/runner.hpp"

namespace tidemark::cli {

struct RunArgs {
  std::string config;
  std::vector<std::string> pipelines;
  std::string from, to;
  bool dry_run = false;
  bool full_refresh = false;
  std::string chunk;
  bool restart = false;
  int jobs = 1;
  std::string lease = "1m";
  bool advance_watermark = false;
  bool json = false;
};

struct StatusArgs {
  std::string config;
  std::vector<std::string> pipelines;
  bool json = false;
};

int cmd_run(const RunArgs& a);
int cmd_status(const StatusArgs& a);
int cmd_validate(const std::string& config, bool quiet);

}  // namespace tidemark::cli
