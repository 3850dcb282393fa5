// Guarded key reconciliation (docs/deletes.md#reconcile): deletes target rows whose key no
// longer exists in the source, for sources without CDC. Compares the two key sets range by
// range and reads keys only where the ranges differ, so its cost follows the difference.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/runner.hpp"

namespace tidemark {

struct ReconcileOptions {
  bool dry_run = false;
  std::optional<double> max_delete_ratio;  // overrides the pipeline's reconcile.max_delete_ratio
};

struct ReconcileResult {
  std::string pipeline;
  int64_t run_id = 0;
  bool dry_run = false;
  std::string safe;                      // the safe mark the comparison stopped at
  int64_t source_keys = 0, target_keys = 0;  // keys compared on each side (at or below safe)
  int64_t levels = 0;           // how many times differing ranges were split
  int64_t ranges_compared = 0;  // ranges whose count and hash were compared, root included
  int64_t ranges_fetched = 0;   // differing ranges whose keys were read
  int64_t keys_fetched = 0;     // keys read from both sides in those ranges
  int64_t queries = 0;          // statements on source and target
  int64_t to_delete = 0, deleted = 0;
  std::vector<Tuple> sample;    // the first 20 keys to delete
  double max_delete_ratio = 0.1;
  double seconds = 0;
};

// Takes the pipeline's lock (LockBusy when a run holds it), compares, and deletes in one
// target transaction recorded in tidemark.runs with mode 'reconcile'. A guard rail that
// trips throws RunError and deletes nothing.
ReconcileResult reconcile_pipeline(const Config& cfg, const PipelineConfig& p, const ReconcileOptions& opts);

// After a successful incremental run: reconciles when `reconcile.every` runs have succeeded
// since the last reconcile. A refused or failed reconcile turns `r` into a failure.
void reconcile_if_due(const Config& cfg, const PipelineConfig& p, PipelineResult& r);

}  // namespace tidemark
