// Strategy `files`: load new and changed files of a directory (docs/files.md). Its planner is
// plan_files (src/files/plan.cpp) and its run is run_files (src/run/files_run.cpp): there is
// no SQL source to plan a query for.
#include "strategy/registry.hpp"
#include "tidemark/errors.hpp"

namespace tidemark::strategy {

class FilesStrategy final : public Strategy {
 public:
  std::string name() const override { return "files"; }
  std::string default_write() const override { return "delete_insert"; }
  const StrategyCaps& caps() const override {
    static const StrategyCaps c = [] {
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
    return c;
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

  ExtractPlan plan(const PlanInput& in) const override {
    throw RunError("pipeline " + in.pipeline.name + ": strategy files is planned per file, not as a query");
  }
};

const Strategy& files_strategy() {
  static const FilesStrategy s;
  return s;
}

}  // namespace tidemark::strategy
