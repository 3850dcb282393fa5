// SchemaState (run/run_state.hpp): a run's state in the state schema; with the target's
// transaction when the state lives in the target database.
#include "run/run_state.hpp"
#include "run/run_one.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

SchemaState::SchemaState(const Config& cfg, const PipelineConfig& p, pg::Connection& state)
    : cfg_(cfg),
      p_(p),
      conn_(state),
      store_(state, cfg.state.schema),
      chunks_(state, cfg.state.schema),
      with_data_(cfg.state_with_target(p)),
      where_("state database '" + cfg.state_connection(p) + "' (schema " + cfg.state.schema + ")") {}

void SchemaState::prepare(bool dry_run) {
  if (!dry_run) store_.ensure_schema();
}

StoredState SchemaState::load() { return store_.load(p_.name); }

void SchemaState::check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                                 bool dry_run) {
  check_state_identity(cfg_, p_, st, source, target, mode, dry_run, &store_, nullptr);
}

int64_t SchemaState::start_run(const std::string& mode, const Watermark& before) {
  return store_.start_run(p_.name, mode, before);
}

void SchemaState::save_with_data(pg::Target& tgt, const StoredState& seen, const std::optional<Watermark>& next,
                                 const pg::RunRecord& rec, const Chunk& chunk) {
  if (next) store_.save(tgt, p_.name, p_.detect.strategy, seen, *next);
  if (chunk) chunks_.mark_chunk_done(tgt, p_.name, chunk->first, chunk->second, rec);
  store_.finish_run(tgt, rec);
}

void SchemaState::save_after_data(const StoredState& seen, const std::optional<Watermark>& next,
                                  const pg::RunRecord& rec, const Chunk& chunk) {
  store_.save_and_finish(p_.name, p_.detect.strategy, seen, next, rec, chunk);
}

void SchemaState::failed(const PipelineResult& res, const std::optional<Watermark>& after) {
  record_failed_run(store_, res, after);
}

void SchemaState::record_failure(const std::string& mode, const std::optional<Watermark>& before,
                                 const std::string& error, double seconds) {
  store_.record_failure(p_.name, mode, before, error, seconds);
}

}  // namespace tidemark
