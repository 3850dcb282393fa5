// `tidemark state export|import` (state_cmd.cpp): pipeline state moved between the state
// schema and a state file (docs/operations.md#state-file), and the state-file side of
// `status`.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "pg/pg.hpp"
#include "tidemark/config.hpp"

namespace tidemark::cli {

struct StateArgs {
  std::string config;
  std::vector<std::string> pipelines;
  std::string file;  // import: the document ("-": stdin)
  bool force = false;
};

// Prints the state of the selected pipelines (all by default) as a state document.
int cmd_state_export(const StateArgs& a);
// Writes a state document's entries into the config's state store.
int cmd_state_import(const StateArgs& a);
// Records the config's identity for the named pipelines' existing watermarks.
int cmd_state_adopt(const StateArgs& a);

// `status` rows of the selected pipelines from cfg.state.file.
std::map<std::string, pg::StatusRow> file_status(const Config& cfg, const std::vector<std::string>& names);

}  // namespace tidemark::cli
