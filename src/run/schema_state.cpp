// A run's state in the state schema (run/run_state.hpp); with the target's transaction when
// the state lives in the target database.
#include "run/executor.hpp"
#include "run/run_state.hpp"

namespace tidemark {
namespace {

class SchemaState : public StateBackend {
 public:
  SchemaState(const Config& cfg, const PipelineConfig& p, pg::Connection& state)
      : cfg_(cfg),
        p_(p),
        store_(state, cfg.state.schema),
        chunks_(state, cfg.state.schema),
        with_data_(cfg.state_with_target(p)),
        where_("state database '" + cfg.state_connection(p) + "' (schema " + cfg.state.schema + ")") {}

  std::string where() const override { return where_; }

  void prepare(bool dry_run) override {
    if (!dry_run) store_.ensure_schema();
  }

  StoredState load() override { return store_.load(p_.name); }

  void check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                      bool dry_run) override {
    check_state_identity(cfg_, p_, st, source, target, mode, dry_run, &store_, nullptr);
  }

  int64_t start_run(const std::string& mode, const Watermark& before) override {
    return store_.start_run(p_.name, mode, before);
  }

  bool with_data() const override { return with_data_; }

  void save_with_data(pg::Target& tgt, const StoredState& seen, const std::optional<Watermark>& next,
                      const pg::RunRecord& rec, const Chunk& chunk) override {
    if (next) store_.save(tgt, p_.name, p_.detect.strategy, seen, *next);
    if (chunk) chunks_.mark_chunk_done(tgt, p_.name, chunk->first, chunk->second, rec);
    store_.finish_run(tgt, rec);
  }

  void save_after_data(const StoredState& seen, const std::optional<Watermark>& next, const pg::RunRecord& rec,
                       const Chunk& chunk) override {
    store_.save_and_finish(p_.name, p_.detect.strategy, seen, next, rec, chunk);
  }

  void failed(const PipelineResult& res, const std::optional<Watermark>& after) override {
    record_failed_run(store_, res, after);
  }

  void record_failure(const std::string& mode, const std::optional<Watermark>& before, const std::string& error,
                      double seconds) override {
    store_.record_failure(p_.name, mode, before, error, seconds);
  }

 private:
  const Config& cfg_;
  const PipelineConfig& p_;
  pg::StateStore store_;
  pg::ChunkStore chunks_;
  bool with_data_;
  std::string where_;
};

}  // namespace

std::unique_ptr<StateBackend> schema_state(const Config& cfg, const PipelineConfig& p, pg::Connection& state) {
  return std::make_unique<SchemaState>(cfg, p, state);
}

}  // namespace tidemark
