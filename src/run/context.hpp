// The run context: what the pipelines of one command share. It owns the connections, one per
// connection of the config and role (a source session reads in snapshots, a writer session
// writes targets and state), opened when a pipeline first needs them and handed to every
// later pipeline that names the same connection, so a config of many pipelines does not
// open connections per pipeline. One context is used by one thread at a time: with run --jobs
// each worker has its own (a libpq connection is never shared between threads).
#pragma once
#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <utility>

#include "pg/pg.hpp"
#include "tidemark/config.hpp"

namespace tidemark {

class RunContext {
 public:
  // `warned_hidden`: the flag shared by the contexts of one command (the workers of run --jobs).
  explicit RunContext(const Config& cfg, std::atomic<bool>* shared_warned = nullptr)
      : warned_hidden(shared_warned ? *shared_warned : own_warned_hidden_), cfg_(cfg) {}
  RunContext(const RunContext&) = delete;
  RunContext& operator=(const RunContext&) = delete;

  const Config& config() const { return cfg_; }

  // A session on the connection named `name` for reading sources: application_name
  // tidemark-source, which in-flight tracking knows for a reader.
  pg::Connection& source(const std::string& name) { return get(name, "tidemark-source"); }
  // A session on `name` for writing: targets, the state schema, advisory locks.
  pg::Connection& writer(const std::string& name) { return get(name, "tidemark"); }
  // The session of `role` ("tidemark-source" or "tidemark") on `name`: what source() and
  // writer() give, for code that reads before any pipeline runs (selector expansion).
  pg::Connection& session(const std::string& name, const std::string& role) { return get(name, role); }
  // The session holding p's lock and state: the target's when the state is in the target
  // database or in a state file (then it only holds the lock), the state connection's otherwise.
  pg::Connection& state(const PipelineConfig& p) {
    return writer(cfg_.state_with_target(p) || !cfg_.state.file.empty() ? p.target.connection
                                                                         : cfg_.state_connection(p));
  }

  // Opens the sessions pipeline `p` will ask for (writer, state, source) that are not open
  // yet, at the same time, each on a thread of its own: connecting (backend start-up,
  // authentication) is most of an unchanged pipeline's fixed cost, and it is waiting, not
  // work. A failure is thrown as opening them one by one would have (target first); the
  // sessions that did open stay, like any others. Reused sessions are checked as get() does.
  void open_for(const PipelineConfig& p);

  // Closes every session. After a failed pipeline the next one starts on new sessions, as if
  // it were alone: a failure may have left one broken or in an unknown state.
  void reset();
  // A new pipeline begins: a session it reuses is asked once whether it is still there (the
  // server may have restarted since the last pipeline), and replaced when it is not.
  void begin_pipeline() { checked_.clear(); }

  // The "cannot see other sessions" warning is given once per command.
  std::atomic<bool>& warned_hidden;

  // Round trips made on this context's sessions so far (closed ones included), and the
  // sessions it opened: a pipeline's share is the difference across its run. Per context,
  // so a worker thread with a context of its own counts its own pipelines.
  int64_t round_trips() const;
  int64_t sessions_opened() const { return sessions_opened_; }

 private:
  std::atomic<bool> own_warned_hidden_{false};  // when no flag is shared
  pg::Connection& get(const std::string& name, const std::string& role);
  const Config& cfg_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<pg::Connection>> open_;
  std::set<std::pair<std::string, std::string>> checked_;  // reused by this pipeline and found alive
  int64_t closed_round_trips_ = 0;  // of the sessions closed so far
  int64_t sessions_opened_ = 0;
};

}  // namespace tidemark
