// A run's state in the state file (run/run_state.hpp, tidemark/state_file.hpp), written after
// the data commit, with the run's outcome in place of a runs row.
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "run/executor.hpp"
#include "run/run_state.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

class FileState : public StateBackend {
 public:
  FileState(const Config& cfg, const PipelineConfig& p, std::function<void(const char*)> step)
      : cfg_(cfg), p_(p), file_(cfg.state.file, std::move(step)) {}

  std::string where() const override { return "state file " + file_.path(); }

  // The file is written after the data commit: what can be checked is checked before it.
  void prepare(bool dry_run) override {
    if (!dry_run) file_.check_writable();
  }

  StoredState load() override { return file_.load(p_.name); }

  void check_identity(const StoredState& st, pg::Connection& source, pg::Connection& target, RunMode mode,
                      bool dry_run) override {
    identity_ = check_state_identity(cfg_, p_, st, source, target, mode, dry_run, nullptr, &file_);
  }

  int64_t start_run(const std::string& mode, const Watermark&) override {
    mode_ = mode;
    started_at_ = utc_now_iso();
    return 0;
  }

  bool with_data() const override { return false; }

  // Never called (with_data() is false): a file cannot join a database transaction.
  void save_with_data(pg::Target&, const StoredState&, const std::optional<Watermark>&, const pg::RunRecord&,
                      const Chunk&) override {
    throw std::logic_error("the state file is written after the data commit, not inside it");
  }

  // No chunk: validation refuses chunked backfills with state.file.
  void save_after_data(const StoredState& seen, const std::optional<Watermark>& next, const pg::RunRecord& rec,
                       const Chunk&) override {
    if (next) file_.save(p_.name, p_.detect.strategy, seen, *next, last_run(rec), identity_);
    else file_.record_run(p_.name, last_run(rec));
  }

  void failed(const PipelineResult& res, const std::optional<Watermark>&) override {
    const std::string why = current_error();
    try {
      file_.record_run(p_.name, last_run(pg::RunRecord{0, "failed", res.rows_read, res.rows_written, res.rows_deleted,
                                                       std::nullopt, redact_text(why)}));
    } catch (const std::exception& e) {
      spdlog::warn("could not record the failed run in {}: {}", file_.path(), e.what());
    }
  }

  // A file keeps a last run only for a pipeline it has state for.
  void record_failure(const std::string& mode, const std::optional<Watermark>&, const std::string& error,
                      double) override {
    const std::string now = utc_now_iso();
    file_.record_run(p_.name, LastRun{mode, "failed", now, now, 0, 0, 0, error});
  }

 private:
  LastRun last_run(const pg::RunRecord& rec) const {
    return LastRun{mode_, rec.status, started_at_, rec.status == "running" ? "" : utc_now_iso(),
                   rec.rows_read, rec.rows_written, rec.rows_deleted, rec.error};
  }

  const Config& cfg_;
  const PipelineConfig& p_;
  StateFile file_;
  std::string mode_, started_at_;
  std::optional<StateIdentity> identity_;  // what a save records
};

}  // namespace

std::unique_ptr<StateBackend> file_state(const Config& cfg, const PipelineConfig& p,
                                         std::function<void(const char*)> step) {
  return std::make_unique<FileState>(cfg, p, std::move(step));
}

}  // namespace tidemark
