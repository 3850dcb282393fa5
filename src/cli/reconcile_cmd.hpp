// `tidemark reconcile` (src/cli/reconcile_cmd.cpp).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace tidemark::cli {

struct ReconcileArgs {
  std::string config;
  std::vector<std::string> pipelines;
  bool dry_run = false;
  std::optional<double> max_delete_ratio;
  bool json = false;
};

int cmd_reconcile(const ReconcileArgs& a);

}  // namespace tidemark::cli
