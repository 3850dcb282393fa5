// Backfill chunk workers: claim a chunk, keep its lease alive while it loads, repeat.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "run/backfill.hpp"
#include "run/fault.hpp"
#include "run/executor.hpp"
#include "tidemark/log.hpp"

namespace tidemark {

std::string worker_id(pid_t pid) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(pid);
}

namespace {

// Renews a claimed chunk's lease every third of its length while the chunk loads, on the
// claim connection (which the worker does not use meanwhile). A worker that freezes stops
// renewing, and another takes the chunk over once the lease has run out.
class Heartbeat {
 public:
  Heartbeat(pg::ChunkStore& store, const Backfill& b, const pg::Chunk& c, const std::string& worker)
      : thread_([this, &store, &b, c, worker] {
          const auto every = std::chrono::milliseconds(std::max<int64_t>(1000, b.opts.lease_seconds * 1000 / 3));
          std::unique_lock<std::mutex> lock(m_);
          while (!cv_.wait_for(lock, every, [this] { return stop_; })) {
            lock.unlock();
            std::string problem;
            try {
              if (!store.renew_lease(b.p.name, b.range, c, worker, b.opts.lease_seconds))
                problem = "another worker took it over (this one missed its lease)";
            } catch (const std::exception& e) {
              problem = std::string("could not renew its lease: ") + e.what();
            }
            lock.lock();
            if (!problem.empty()) {
              problem_ = problem;
              return;
            }
          }
        }) {}
  ~Heartbeat() { stop(); }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  // Stops renewing; what went wrong meanwhile, if anything.
  std::string stop() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return problem_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string problem_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

pg::BackfillProgress progress_of(const Backfill& b, pg::ChunkStore& chunks) {
  for (const auto& now : chunks.backfills({b.p.name}))
    if (now.range_from == b.range.range_from && now.range_to == b.range.range_to) return now;
  return {};
}

std::string progress_text(const Backfill& b, const pg::BackfillProgress& now) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - b.t0).count();
  const int64_t chunks = now.done - b.done_at_start, rows = now.rows_read - b.rows_at_start;
  std::string eta = "?";
  if (chunks > 0) {
    const auto left = static_cast<int64_t>(static_cast<double>(now.total - now.done) * secs / chunks);
    eta = left >= 3600 ? std::to_string(left / 3600) + "h" + std::to_string(left % 3600 / 60) + "m"
          : left >= 60 ? std::to_string(left / 60) + "m" + std::to_string(left % 60) + "s"
                       : std::to_string(left) + "s";
  }
  return fmt::format("backfill {} [{}, {}): {}/{} chunks, {} rows, {:.0f} rows/s, ETA {}", b.p.name,
                     b.range.range_from, b.range.range_to, now.done, now.total, now.rows_read,
                     secs > 0 ? static_cast<double>(rows) / secs : 0.0, eta);
}

WorkerTotals work_chunks(const Backfill& b, RunContext& ctx, bool draw) {
  const std::string& state_name = b.cfg.state_connection(b.p);
  pg::Connection claims(state_name, b.cfg.connections.at(state_name), "tidemark");
  pg::ChunkStore store(claims, b.cfg.state.schema);
  const std::string me = worker_id(getpid());
  WorkerTotals mine;
  bool waiting = false;
  int waits = 0;
  for (;;) {
    const pg::ChunkClaim claim = store.claim_chunk(b.p.name, b.range, me, b.opts.lease_seconds);
    if (claim.kind == pg::ChunkClaim::Kind::kNone) break;
    if (claim.kind == pg::ChunkClaim::Kind::kBusy) {
      if (!waiting)
        spdlog::info("waiting for the chunks other workers are loading (taken over if a worker dies or misses its {}s "
                     "lease)",
                     b.opts.lease_seconds);
      if (draw) log::progress(progress_text(b, progress_of(b, store)));
      // Short at first (the other chunks may be ending), then once a second.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1000, 100 << std::min(waits++, 4))));
      waiting = true;
      continue;
    }
    waiting = false;
    waits = 0;
    const pg::Chunk& c = claim.chunk;
    if (!claim.previous_worker.empty())
      spdlog::warn("chunk [{}, {}) taken over from worker {}, which died or stopped renewing its lease", c.from, c.to,
                   claim.previous_worker);
    RunOptions one = b.opts;
    one.request = RunRequest{RunMode::kRange, c.from, c.to, b.range};
    PipelineResult r;
    {
      Heartbeat heartbeat(store, b, c, me);
      try {
        fault_point("chunk_claimed");
        r = run_one(ctx, b.p, one);
      } catch (...) {
        heartbeat.stop();
        store.release_chunk(b.p.name, b.range, c, me);
        throw;
      }
      const std::string problem = heartbeat.stop();
      if (!problem.empty()) spdlog::warn("chunk [{}, {}): {}; the later of the two loads stands", c.from, c.to, problem);
    }
    store.release_chunk(b.p.name, b.range, c, me);
    mine.chunks++;
    mine.rows_read += r.rows_read;
    mine.rows_written += r.rows_written;
    mine.rows_deleted += r.rows_deleted;
    mine.last_run_id = r.run_id;
    const pg::BackfillProgress now = progress_of(b, store);
    if (draw) {
      log::progress(progress_text(b, now));
    } else {
      spdlog::info("chunk {}/{} done [{}, {}): read {}, wrote {}, deleted {} | {}", now.done, now.total, c.from, c.to,
                   r.rows_read, r.rows_written, r.rows_deleted, progress_text(b, now));
    }
  }
  return mine;
}

}  // namespace tidemark
