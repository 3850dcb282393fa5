// Parallel pipelines (docs/operations.md#parallel-runs): up to N pipelines at once, each on a
// worker thread with a run context of its own. Threads rather than processes: the results,
// the log and the progress line stay in one process, and so could a shared observation.
// What a pipeline run touches is per thread (its sessions, the log scope) or guarded (the
// log sink, the progress line, the fault points' count, the state file's flock).
#include "run/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <iostream>
#include <exception>
#include <memory>
#include <optional>
#include <mutex>
#include <sstream>
#include <thread>

#include "run/executor.hpp"
#include "run/fault.hpp"
#include "tidemark/log.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

thread_local std::ostream* t_plan_output = nullptr;

// What the workers share: which pipeline is next, the results, the progress line and the
// dry-run output waiting for its turn.
class Board {
 public:
  Board(const std::vector<const PipelineConfig*>& selected, bool dry_run)
      : selected_(selected), results_(selected.size()), plans_(selected.size()), finished_(selected.size(), false),
        dry_run_(dry_run) {}

  // The index of the next pipeline to run, or nothing when every one has been taken.
  std::optional<size_t> take() {
    std::lock_guard<std::mutex> lock(m_);
    if (next_ >= selected_.size()) return std::nullopt;
    ++running_;
    draw();
    return next_++;
  }

  std::ostringstream& plan(size_t i) { return plans_[i]; }  // only pipeline i's worker writes it

  void finish(size_t i, PipelineResult r) {
    std::lock_guard<std::mutex> lock(m_);
    --running_;
    ++done_;
    if (r.outcome != PipelineResult::Outcome::kOk) ++failed_;
    results_[i] = std::move(r);
    finished_[i] = true;
    // Plans in config order: each one as soon as those before it are out.
    while (dry_run_ && shown_ < plans_.size() && finished_[shown_]) {
      std::cout << plans_[shown_].str() << std::flush;
      plans_[shown_].str({});
      ++shown_;
    }
    draw();
  }

  std::vector<PipelineResult> results() { return std::move(results_); }

 private:
  // The terminal's progress line: pipelines done, running and in all (log lines go above it).
  void draw() {
    if (!log::progress_on_terminal()) return;
    std::string line = "pipelines: " + std::to_string(done_) + "/" + std::to_string(selected_.size()) + " done, " +
                       std::to_string(running_) + " running";
    if (failed_ > 0) line += ", " + std::to_string(failed_) + " not ok";
    log::progress(line);
  }

  std::mutex m_;
  const std::vector<const PipelineConfig*>& selected_;
  std::vector<PipelineResult> results_;
  std::vector<std::ostringstream> plans_;
  std::vector<bool> finished_;
  const bool dry_run_;
  size_t next_ = 0, shown_ = 0, running_ = 0, done_ = 0, failed_ = 0;
};

}  // namespace

std::ostream& plan_output() { return t_plan_output ? *t_plan_output : std::cout; }

std::vector<PipelineResult> run_side_by_side(const Config& cfg, const std::vector<const PipelineConfig*>& selected,
                                             const RunOptions& opts, RunContext* first) {
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(opts.pipeline_jobs, 1)), selected.size());
  spdlog::debug("running {} pipeline(s) on {} worker(s), in config order", selected.size(), workers);
  Board board(selected, opts.dry_run);
  // The "cannot see other sessions" warning stays once per command, across the workers.
  std::atomic<bool> own_warned{false};
  std::atomic<bool>& warned_hidden = first ? first->warned_hidden : own_warned;
  auto work = [&](RunContext* given) {
    // This worker's sessions, never another's: the first worker's are the caller's.
    std::unique_ptr<RunContext> own = given ? nullptr : std::make_unique<RunContext>(cfg, &warned_hidden);
    RunContext& ctx = given ? *given : *own;
    while (const std::optional<size_t> i = board.take()) {
      const PipelineConfig& p = *selected[*i];
      t_plan_output = &board.plan(*i);
      PipelineResult r;
      try {
        r = run_pipeline(ctx, p, opts);
      } catch (...) {  // run_pipeline reports its failures; this is the last guard of the thread
        ctx.reset();
        r = PipelineResult{};
        r.pipeline = p.name;
        r.outcome = PipelineResult::Outcome::kFailed;
        r.error = redact_text(current_error());
        log::PipelineScope scope(p.name);
        spdlog::error("run failed: {}", r.error);
      }
      t_plan_output = nullptr;
      board.finish(*i, std::move(r));
      fault_point("pipeline_done");
    }
  };
  // Only an injected fault at pipeline_done (the test hook) ends a worker early: the command
  // fails with it, as one run of the pipelines one after another does.
  std::mutex stop_m;
  std::exception_ptr stopped;
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        work(w == 0 ? first : nullptr);
      } catch (...) {
        std::lock_guard<std::mutex> lock(stop_m);
        if (!stopped) stopped = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  log::progress_done();
  if (stopped) std::rethrow_exception(stopped);
  return board.results();
}

}  // namespace tidemark
