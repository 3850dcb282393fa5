// RunState (run/run_state.hpp): the two state stores behind the steps of run_one.
#include "run/run_state.hpp"

#include <spdlog/spdlog.h>

#include "run/fault.hpp"
#include "run/executor.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

RunState::RunState(const Config& cfg, const PipelineConfig& p, pg::StateStore& store)
    : cfg_(cfg), p_(p), store_(store), with_data_(cfg.state_with_target(p)) {
  if (!cfg.state.file.empty()) file_.emplace(cfg.state.file, [](const char* point) { fault_point(point); });
  where_ = file_ ? "state file " + file_->path()
                 : "state database '" + cfg.state_connection(p) + "' (schema " + cfg.state.schema + ")";
}

void RunState::prepare(bool dry_run) {
  if (dry_run) return;
  // The file is written after the data commit: what can be checked is checked before it.
  if (file_) file_->check_writable();
  else store_.ensure_schema();
}

std::string RunState::where() const { return where_; }

StoredState RunState::load() { return file_ ? file_->load(p_.name) : store_.load(p_.name); }

std::optional<StateIdentity> current_identity(const PipelineConfig& p, pg::Connection& source, pg::Connection& target) {
  StateIdentity now;
  const pg::Endpoint src = pg::identify(source, p.source.table);
  if (p.source.table && !src.exists) return std::nullopt;
  now.source_database = src.database;
  if (p.source.table) now.source_table = src.table;
  else now.source_query = query_fingerprint(p.source.query);
  const pg::Endpoint tgt = pg::identify(target, p.target.table);
  now.target_database = tgt.database;
  now.target_table = tgt.table;
  now.cursor = p.detect.cursor;
  return now;
}

std::optional<StateIdentity> check_state_identity(const Config& cfg, const PipelineConfig& p, const StoredState& st,
                                                  pg::Connection& source, pg::Connection& target, RunMode mode,
                                                  bool dry_run, pg::StateStore* store, StateFile* file) {
  const std::optional<StateIdentity> found = current_identity(p, source, target);
  if (!found) return std::nullopt;
  const StateIdentity& now = *found;
  if (auto why = same_table_problem(p, now)) throw ConfigError(*why);
  if (st.exists) {
    // With the state inside the target database, the target database is the state's own.
    const bool compare_target_db = !cfg.state_with_target(p);
    switch (judge_identity(p, st.identity, now, mode == RunMode::kFullRefresh, compare_target_db, cfg.path)) {
      case IdentityVerdict::kSame: break;
      case IdentityVerdict::kReplace:
        spdlog::warn("--full-refresh: the stored state was of {}; it starts over as the state of {}",
                     st.identity->text(), now.text());
        break;
      case IdentityVerdict::kAdoptLegacy:
        if (dry_run) {
          spdlog::info("its state has no identity yet (written by an earlier tidemark); a run records this one: {}",
                       now.text());
        } else if (file ? file->set_identity(p.name, now) : store && store->set_identity(p.name, now, true)) {
          spdlog::info("its state had no identity (written by an earlier tidemark); recorded this config's: {}",
                       now.text());
        }
        break;
    }
  }
  if (store) store->record_identity(now);
  return now;
}

void RunState::check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                              bool dry_run) {
  identity_ = check_state_identity(cfg_, p_, st, source, target, mode, dry_run, file_ ? nullptr : &store_,
                                   file_ ? &*file_ : nullptr);
}

int64_t RunState::start_run(const std::string& mode, const Watermark& before) {
  mode_ = mode;
  started_at_ = utc_now_iso();
  return file_ ? 0 : store_.start_run(p_.name, mode, before);
}

void RunState::save_with_data(pg::Target& tgt, const StoredState& seen,
                              const std::optional<Watermark>& next, const pg::RunRecord& rec, const Chunk& chunk) {
  if (next) store_.save(tgt.tx(), p_.name, p_.detect.strategy, seen, *next);
  if (chunk) store_.mark_chunk_done(tgt.tx(), p_.name, chunk->first, chunk->second, rec);
  store_.finish_run(tgt.tx(), rec);
}

LastRun RunState::last_run(const pg::RunRecord& rec) const {
  return LastRun{mode_, rec.status, started_at_, rec.status == "running" ? "" : utc_now_iso(),
                 rec.rows_read, rec.rows_written, rec.rows_deleted, rec.error};
}

void RunState::save_after_data(const StoredState& seen, const std::optional<Watermark>& next,
                               const pg::RunRecord& rec, const Chunk& chunk) {
  if (!file_) return store_.save_and_finish(p_.name, p_.detect.strategy, seen, next, rec, chunk);
  if (next) file_->save(p_.name, p_.detect.strategy, seen, *next, last_run(rec), identity_);
  else file_->record_run(p_.name, last_run(rec));
}

void RunState::failed(const PipelineResult& res, const std::optional<Watermark>& after) {
  if (!file_) return record_failed_run(store_, res, after);
  const std::string why = current_error();
  try {
    file_->record_run(p_.name, last_run(pg::RunRecord{0, "failed", res.rows_read, res.rows_written,
                                                      res.rows_deleted, std::nullopt, redact_text(why)}));
  } catch (const std::exception& e) {
    spdlog::warn("could not record the failed run in {}: {}", file_->path(), e.what());
  }
}

}  // namespace tidemark

namespace tidemark {

void record_failure_before_run(const Config& cfg, const PipelineConfig& p, const std::string& mode,
                               const std::optional<Watermark>& before, double seconds) {
  const std::string why = redact_text(current_error());
  try {
    if (!cfg.state.file.empty()) {
      // A file keeps a last run only for a pipeline it has state for.
      StateFile file(cfg.state.file);
      const std::string now = utc_now_iso();
      file.record_run(p.name, LastRun{mode, "failed", now, now, 0, 0, 0, why});
      return;
    }
    const std::string& name = cfg.state_connection(p);
    pg::Connection c(name, cfg.connections.at(name), "tidemark");
    pg::StateStore(c, cfg.state.schema).record_failure(p.name, mode, before, why, seconds);
  } catch (const std::exception& e) {
    spdlog::warn("could not record the failed run: {}", redact_text(e.what()));
  }
}

}  // namespace tidemark
