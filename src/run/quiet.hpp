// Unchanged pipelines checked together (tidemark/quiet.hpp, docs/performance.md): before the
// pipelines of a run go one by one, those on the same source, target and state connections
// that may be unchanged are checked at once, in a few statements for all of them, and those
// the check finds unchanged are recorded as runs that read nothing, in one statement.
#pragma once
#include <map>
#include <vector>

#include "run/context.hpp"
#include "tidemark/runner.hpp"

namespace tidemark {

// The results of the pipelines of `selected` the check recorded (by pipeline); every other
// one runs on its own. Nothing is recorded for a dry run, a range or full refresh, a state
// file, or when TIDEMARK_QUIET_CHECK=off; a failure of the check only means each runs alone.
std::map<const PipelineConfig*, PipelineResult> run_quiet(RunContext& ctx,
                                                          const std::vector<const PipelineConfig*>& selected,
                                                          const RunOptions& opts);

}  // namespace tidemark
