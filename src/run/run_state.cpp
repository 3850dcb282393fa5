// The identity check shared by both state backends, and which backend a pipeline has
// (run/run_state.hpp).
#include "run/run_state.hpp"

#include <spdlog/spdlog.h>

#include "run/fault.hpp"
#include "run/executor.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

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

std::unique_ptr<StateBackend> open_state(const Config& cfg, const PipelineConfig& p, pg::Connection& state) {
  if (cfg.state.file.empty()) return schema_state(cfg, p, state);
  return file_state(cfg, p, [](const char* point) { fault_point(point); });
}

}  // namespace tidemark

namespace tidemark {

void record_failure_before_run(const Config& cfg, const PipelineConfig& p, const std::string& mode,
                               const std::optional<Watermark>& before, double seconds) {
  const std::string why = redact_text(current_error());
  try {
    if (!cfg.state.file.empty()) return file_state(cfg, p)->record_failure(mode, before, why, seconds);
    // On a connection of its own: the run's may be what failed.
    const std::string& name = cfg.state_connection(p);
    pg::Connection c(name, cfg.connections.at(name), "tidemark");
    schema_state(cfg, p, c)->record_failure(mode, before, why, seconds);
  } catch (const std::exception& e) {
    spdlog::warn("could not record the failed run: {}", redact_text(e.what()));
  }
}

}  // namespace tidemark
