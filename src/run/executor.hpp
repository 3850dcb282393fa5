// Executors: the run layer's half of a strategy. A strategy names the kind of executor that
// carries out its plans (StrategyCaps::executor); executor_for maps the kind to the executor:
// a query read in one source snapshot (query_run.cpp), files one transaction each
// (files_run.cpp), a replication slot's changes in batches (cdc_run.cpp). Each one reads
// what its plan needs (the lock held), asks plan_run for the RunPlan, and prints it for
// --dry-run or carries it out on the connections of the run context.
#pragma once
#include <string>

#include "run/context.hpp"
#include "tidemark/runner.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark {

class Executor {
 public:
  virtual ~Executor() = default;
  // One run of `p`. `pr` follows it: what it committed, for the message of its failure.
  virtual PipelineResult run(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts,
                             RunProgress& pr) const = 0;
};

// An executor that is one function (each executor file defines its run function and one of these).
template <PipelineResult (*Run)(RunContext&, const PipelineConfig&, const RunOptions&, RunProgress&)>
class FunctionExecutor final : public Executor {
 public:
  PipelineResult run(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts,
                     RunProgress& pr) const override {
    return Run(ctx, p, opts, pr);
  }
};

const Executor& executor_for(const Strategy& s);

const Executor& query_executor();
const Executor& files_executor();
const Executor& cdc_executor();

// A run of a query strategy (a backfill chunk is one): lock -> state -> plan -> extract ->
// stage -> apply + state -> run record. A failure before the run record existed is recorded
// as a failed run of its own (record_failure_before_run).
PipelineResult run_one(RunContext& ctx, const PipelineConfig& p, const RunOptions& opts,
                       RunProgress* progress = nullptr);

// Inside a catch block: the message of the exception in flight.
std::string current_error();

}  // namespace tidemark
