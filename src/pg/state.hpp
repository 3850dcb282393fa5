// The state schema in a state database (docs/operations.md#state-tables), one class per
// concern: its version and migrations (state_schema.cpp), the watermark compare-and-set with
// the run records and the status view (state_store.cpp), the per-pipeline advisory locks
// (locks.cpp), backfill chunks and their leases (chunk_store.cpp), and strategy files'
// manifest and rejects (file_store.cpp). Writes that belong with a run's data take the
// target transaction (pg::Target), so no caller sees libpqxx.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tidemark/file_plan.hpp"
#include "tidemark/identity.hpp"
#include "tidemark/plan.hpp"

namespace tidemark::pg {

class Connection;
class KeySide;
class Target;

struct RunRecord {
  int64_t id = 0;
  std::string status;  // running | succeeded | failed
  int64_t rows_read = 0, rows_written = 0, rows_deleted = 0;
  std::optional<Watermark> watermark_after;
  std::string error;
};

struct Chunk {
  std::string from, to;
};

struct ChunkClaim {
  // kClaimed: `chunk` is ours; kBusy: chunks are left, all with live workers; kNone: all done.
  enum class Kind { kClaimed, kBusy, kNone } kind = Kind::kNone;
  Chunk chunk;
  std::string previous_worker;  // set when a running chunk was taken over from a dead worker
};

struct BackfillProgress {
  std::string pipeline, range_from, range_to, last_finished;
  int64_t done = 0, total = 0, rows_written = 0, rows_read = 0;
  // Chunks with a live worker: a lease not run out, and the chunk's advisory lock held by a
  // session. A chunk marked running without both lost its worker: it counts as `failed`,
  // with the chunks whose worker failed (released or marked by the backfill's parent).
  int64_t running = 0, failed = 0;
};

// What chunks done by given workers since a point of the runs table amount to.
struct ChunkTotals {
  int64_t chunks = 0, rows_read = 0, rows_written = 0, rows_deleted = 0;
};

struct StatusRow {
  std::string pipeline;
  bool has_state = false;
  std::string strategy;
  Watermark watermark;
  std::string state_updated_at;
  int64_t last_run_id = 0;
  std::string last_mode, last_status, last_started, last_finished, last_error;
  int64_t last_rows_read = 0, last_rows_written = 0;
};

// Brings state schema `schema` on `c` to the latest version (tidemark/state_migrations.hpp):
// one cheap query the first time per connection when it is there already; otherwise the
// missing migrations in one transaction, under an advisory lock so that concurrent first runs
// do not race. A schema of a tidemark before versions is recognised by what it holds.
void ensure_state_schema(Connection& c, const std::string& schema);

// The per-pipeline advisory locks of a state schema (session level, on this connection):
// exclusive for runs (false when taken), shared and waited for by backfill chunks, which may
// run side by side but never beside an incremental run.
class AdvisoryLocks {
 public:
  AdvisoryLocks(Connection& c, std::string schema) : c_(c), schema_(std::move(schema)) {}
  bool try_lock(const std::string& pipeline, bool shared = false);
  void unlock(const std::string& pipeline, bool shared = false);

 private:
  Connection& c_;
  std::string schema_;
};

// A pipeline's advisory lock held for a scope. With `take` false (a dry run) it holds nothing.
// An exclusive lock another session holds throws LockBusy ("pipeline X is already running
// (advisory lock held); <what>"); a shared one is waited for.
class PipelineLock {
 public:
  PipelineLock(Connection& c, const std::string& schema, std::string pipeline, bool take, bool shared = false,
               const std::string& what = "skipped");
  ~PipelineLock();
  PipelineLock(const PipelineLock&) = delete;
  PipelineLock& operator=(const PipelineLock&) = delete;

 private:
  AdvisoryLocks locks_;
  std::string pipeline_;
  bool held_, shared_;
};

// tidemark.pipeline_state (the watermark, compare-and-set on its version) and tidemark.runs
// (one record per run), and the status view of both.
class StateStore {
 public:
  StateStore(Connection& c, std::string schema) : c_(c), schema_(std::move(schema)) {}
  void ensure_schema() { ensure_state_schema(c_, schema_); }
  StoredState load(const std::string& pipeline);
  void forget(const std::string& pipeline);  // deletes the pipeline's state row
  // `tidemark state import`: the pipeline's state becomes `w` (as a new version), of `identity`
  // (nullopt: none recorded; the next run records its own).
  void put(const std::string& pipeline, const std::string& strategy, const Watermark& w,
           const std::optional<StateIdentity>& identity);
  // What the pipeline's state is of (docs/correctness.md#identity-of-state): every save() of
  // this store records `identity` from now on (without it a save keeps the stored one).
  void record_identity(const StateIdentity& identity) { identity_ = identity; }
  // Records `identity` for the pipeline's existing state, keeping its watermark and version;
  // with `only_if_none`, only when it has none yet. False when no row changed.
  bool set_identity(const std::string& pipeline, const StateIdentity& identity, bool only_if_none);
  // The states of `pipelines` that exist, in one query (none before ensure_schema found the
  // tables on this connection).
  std::map<std::string, StoredState> load_all(const std::vector<std::string>& pipelines);
  int64_t start_run(const std::string& pipeline, const std::string& mode, const Watermark& before);
  // Unchanged pipelines checked together (tidemark/quiet.hpp): each run's state saved (the same
  // watermark, a new version, its identity) and a finished run record that read nothing, all
  // in one statement, for each pipeline whose lock is free and whose state is still at
  // `seen_version`. Returns their run ids; the others were not touched.
  struct QuietRun {
    std::string pipeline, mode;
    int64_t seen_version = 0;
    Watermark watermark;
    StateIdentity identity;
  };
  std::map<std::string, int64_t> record_quiet(const std::vector<QuietRun>& runs, double seconds);
  // A run that failed before start_run: a finished 'failed' record of its own that began
  // `seconds` ago, with nothing read or written.
  void record_failure(const std::string& pipeline, const std::string& mode, const std::optional<Watermark>& before,
                      const std::string& error, double seconds);
  // Compare-and-set inside the target transaction `tgt` (the state is in the target
  // database): throws StateConflict when another run moved the state.
  void save(Target& tgt, const std::string& pipeline, const std::string& strategy, const StoredState& seen,
            const Watermark& next);
  void finish_run(Target& tgt, const RunRecord& r);
  void finish_run(KeySide& target, const RunRecord& r);  // in reconcile's target transaction
  void finish_run(const RunRecord& r);  // in its own transaction
  // save() (when `next` is set), the chunk marked done (when given) and finish_run() in one
  // transaction of the state database.
  void save_and_finish(const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                       const std::optional<Watermark>& next, const RunRecord& r,
                       const std::optional<std::pair<ChunkRef, std::string>>& chunk = std::nullopt);
  // The highest run id so far (0 for none): chunks done later have larger run ids.
  int64_t last_run_id();
  std::vector<StatusRow> status(const std::vector<std::string>& pipelines);
  // Every pipeline state whose name starts with `prefix` (a selector's tables), in one query;
  // empty when the state tables do not exist yet.
  std::vector<std::pair<std::string, StoredState>> list(const std::string& prefix);
  const std::string& schema() const { return schema_; }

 private:
  Connection& c_;
  std::string schema_;
  std::optional<StateIdentity> identity_;
};

// Backfill chunk bookkeeping: tidemark.backfill_chunks and tidemark.backfills.
class ChunkStore {
 public:
  ChunkStore(Connection& c, std::string schema) : c_(c), schema_(std::move(schema)) {}
  // Claims (SELECT … FOR UPDATE SKIP LOCKED, a lease, and the chunk's session advisory lock):
  // a chunk not done and not with a live worker becomes `worker`'s for `lease_seconds`,
  // renewed by renew_lease (false: the chunk was taken over meanwhile).
  ChunkClaim claim_chunk(const std::string& pipeline, const ChunkRef& range, const std::string& worker,
                         int64_t lease_seconds);
  bool renew_lease(const std::string& pipeline, const ChunkRef& range, const Chunk& c, const std::string& worker,
                   int64_t lease_seconds);
  // A chunk still running (its load failed) becomes 'failed': claimable at once, and shown so.
  void release_chunk(const std::string& pipeline, const ChunkRef& range, const Chunk& c, const std::string& worker);
  // The chunks a worker that died or failed left running become 'failed' (a --jobs parent
  // calls it for each worker process that did not exit 0).
  void fail_worker_chunks(const std::string& pipeline, const ChunkRef& range, const std::string& worker);
  // The chunks of the range that `workers` committed with a run id above `after_run_id`.
  ChunkTotals chunk_totals(const std::string& pipeline, const ChunkRef& range, const std::vector<std::string>& workers,
                           int64_t after_run_id);
  // Records the chunks of [from, to) (after deleting earlier ones with `restart`) and returns
  // those not done yet; a different chunking of the same range in progress is a ConfigError.
  // `advance_blocker` is why --advance-watermark may not move the watermark after this
  // backfill (nullopt: it may), judged before the first chunk; kept from the first call.
  std::vector<Chunk> register_chunks(const std::string& pipeline, const ChunkRef& range, const std::vector<Chunk>& chunks,
                                     bool restart, const std::optional<std::string>& advance_blocker);
  std::optional<std::string> advance_blocker(const std::string& pipeline, const ChunkRef& range);
  // Marks a chunk done inside the target transaction that commits its rows.
  void mark_chunk_done(Target& tgt, const std::string& pipeline, const ChunkRef& range, const std::string& chunk_from,
                       const RunRecord& r);
  std::vector<BackfillProgress> backfills(const std::vector<std::string>& pipelines);

 private:
  Connection& c_;
  std::string schema_;
};

// Strategy files: tidemark.files, the manifest of the files loaded, and tidemark.rejects, the
// rows quarantined. record_file and add_reject write inside the target transaction of the
// file's rows; touch_file records a new size/mtime of unchanged content.
class FileStore {
 public:
  FileStore(Connection& c, std::string schema) : c_(c), schema_(std::move(schema)) {}
  std::map<std::string, files::ManifestEntry> manifest(const std::string& pipeline);
  void record_file(Target& tgt, const std::string& pipeline, const files::FileInfo& f, const std::string& checksum,
                   int64_t rows, int64_t rejected, int64_t run_id);
  void touch_file(const std::string& pipeline, const files::FileInfo& f);
  void add_reject(Target& tgt, const std::string& pipeline, const std::string& path, int64_t line,
                  const std::string& reason, const std::string& raw, int64_t run_id);

 private:
  Connection& c_;
  std::string schema_;
};

}  // namespace tidemark::pg
