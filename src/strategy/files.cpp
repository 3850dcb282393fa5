// Strategy `files`: load new and changed files of a directory (docs/files.md). There is no SQL
// source: its plan is a decision per listed file (plan_files, src/files/plan.cpp), executed
// one transaction per file (src/run/files_run.cpp).
#include "strategy/registry.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"

namespace tidemark::strategy {

class FilesStrategy final : public Strategy {
 public:
  std::string name() const override { return "files"; }
  std::string default_write() const override { return "delete_insert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps made = [] {
      StrategyCaps c;
      c.executor = ExecutorKind::kFiles;
      c.range = true;  // files by modification time or name date
      c.bounds = StrategyCaps::Bounds::kFileTime;
      c.source = c.verify = false;
      c.state_with_data = c.manifest = c.per_unit_commits = true;
      c.detect_keys = {"path", "pattern", "exclude", "format", "csv", "ignore_unknown_columns", "date_from_name",
                       "file_column", "on_bad_row"};
      c.write_rules = false;  // a file's rows are replaced whatever the key
      c.reads = "the directory in detect.path";
      c.progress = "manifest";
      return c;
    }();
    return made;
  }

  FieldProblems check(const PipelineConfig& p) const override {
    FieldProblems out;
    const auto& f = p.detect.files;
    if (f.path.empty()) out.emplace_back("detect.path", "required by strategy files (the directory files land in)");
    const char* unused = "not used by strategy files (it tracks files, not a cursor)";
    if (!p.detect.cursor.empty()) out.emplace_back("detect.cursor", unused);
    if (p.detect.lookback) out.emplace_back("detect.lookback", unused);
    if (!p.chunk.empty()) out.emplace_back("chunk", "strategy files loads one file per transaction; chunk does not apply");
    if (p.batch_size > 0)
      out.emplace_back("batch_size", "strategy files loads one file per transaction; batch_size does not apply");
    if (p.target.write != "delete_insert")
      out.emplace_back("target.write", "strategy files replaces each file's rows; use write: delete_insert (the default)");
    if (f.file_column.empty()) out.emplace_back("detect.file_column", "must name the target column for the file's path");
    return out;
  }

  std::vector<std::string> own_columns(const PipelineConfig& p) const override { return {p.detect.files.file_column}; }

  // The files of the listing to load, check or skip (files::plan_files). --full-refresh
  // reloads every file (each replacing its own rows), like a range of all time.
  ExtractPlan plan(const PlanInput& in) const override {
    const PipelineConfig& p = in.pipeline;
    if (!in.files) throw RunError("pipeline " + p.name + ": strategy files is planned from a listing of detect.path");
    RunRequest req = in.request;
    if (req.mode == RunMode::kFullRefresh) req = RunRequest{RunMode::kRange, std::nullopt, std::nullopt, std::nullopt};
    ExtractPlan out;
    out.pipeline = p.name;
    out.mode = in.request.mode;
    out.moves_watermark = false;
    // Each file replaces its own rows (target_range); its columns and path are known as it is
    // read, so the plan names them by placeholder.
    out.columns = {"<file's columns>", p.detect.files.file_column};
    out.target_range = files::file_rows(p.detect.files, "<file>");
    out.files = files::plan_files(p.detect.files, in.files->listing, in.files->manifest, in.files->now_ns,
                                  p.detect.settle_seconds.value_or(30), req);
    size_t reading = 0;
    for (const auto& d : *out.files) reading += files::reads(d.action) ? 1 : 0;
    out.window = std::to_string(reading) + " of " + std::to_string(out.files->size()) + " listed file(s) to read";
    return out;
  }
};

const Strategy& files_strategy() {
  static const FilesStrategy s;
  return s;
}

}  // namespace tidemark::strategy
