// Unchanged pipelines checked together (docs/performance.md#unchanged-pipelines-checked-together),
// pure: whether a pipeline's run may be decided with the others of its connections in a few
// statements for all of them, and what decides it. A cron tick over hundreds of tables mostly
// finds nothing new; each such run costs a dozen round trips on its own, and together they
// cost a handful for the whole tick.
//
// A pipeline qualifies only when its run, made alone, would find an empty window and commit
// nothing but its run record and the same watermark: state of this strategy and identity,
// nothing in flight from the last run (safe = high, no pending band), a target that fits the
// source as it is, and an extract plan whose empty window skips the load. Anything else (and
// anything the check cannot read) runs on its own, exactly as before.
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/identity.hpp"
#include "tidemark/plan.hpp"
#include "tidemark/sql.hpp"
#include "tidemark/target_schema.hpp"

namespace tidemark {

struct QuietInput {
  const Config& config;
  const PipelineConfig& pipeline;
  const StoredState& state;
  SourceShape shape;  // as the source describes it now
  std::optional<std::vector<TargetColumn>> target;  // nullopt: the target table does not exist
  StateIdentity identity;  // the state's identity as this config describes it now
};

struct QuietPlan {
  // An integer query, one snapshot's answer for the pipeline: kBeyond set when the source
  // holds a row beyond the watermark (the high-mark query finds one; with the tie probe, the
  // high-mark query of the plan the probe picks), kTieHeld when the tie probe held.
  Sql check;
  static constexpr int64_t kBeyond = 1, kTieHeld = 2;
  Watermark next;      // what the run stores when nothing lies beyond (the stored one)
  std::string window;  // the run's window, for its result
  std::string mode;    // what its run record names
  std::string tie_window;  // the window when the tie probe held
};

// The plan of a quiet run, or why the pipeline runs on its own.
std::variant<QuietPlan, std::string> plan_quiet(const QuietInput& in);

}  // namespace tidemark
