// Write mode partition_overwrite inside a run (query_run.cpp's load step): which windows the
// delta touches, the select of their complete rows from the same snapshot, and which of
// them can be replaced by emptying a partition of the target.
#include <spdlog/spdlog.h>

#include "run/partition_load.hpp"
#include "tidemark/run_plan.hpp"
#include "tidemark/errors.hpp"

namespace tidemark {

Sql partition_windows(pg::Source& src, const PipelineConfig& p, const Sql& delta, WriteInput& wi) {
  auto& part = *wi.partitions;
  part.truncate.clear();
  part.windows = windows_from_rows(src.snapshot_rows(window_query(part.by, part.type, delta)));
  if (!part.windows.empty()) spdlog::debug("windows touched: {}", describe_windows(part.windows));
  return window_rows_select(part.by, part.type, part.windows, wi.columns, p.source);
}

int64_t partition_clear(pg::Source& src, pg::Target& tgt, const PipelineConfig& p, const Sql& delta,
                        const Writer& writer, WriteInput& wi) {
  auto& part = *wi.partitions;
  part.direct = true;
  part.moved_keys.clear();
  const bool touched = !part.windows.empty();
  if (!touched && !wi.target_range) return 0;
  partition_fast_path(tgt, p, wi);
  if (!p.target.key.empty() && touched) {
    // Only a changed row can have left a window the delta does not touch: the delta's keys
    // (not the windows' rows) find its old copy.
    const char* keys = kMovedKeysTable;
    tgt.create_stage(keys, p.target.table, p.target.key);
    pg::Target::CopyIn copy(tgt, keys, p.target.key, "target '" + p.target.connection + "'");
    src.copy_out(delta_keys_select(p.target.key, delta),
                 [&copy](const std::string& line) { copy.write(line); });
    copy.complete();
    part.moved_keys = keys;
  }
  int64_t deleted = 0;
  for (const auto& s : writer.statements(wi)) {
    spdlog::trace("apply: {}", s.sql.display());
    const int64_t n = tgt.exec(s.sql);
    if (s.effect == WriteStatement::Effect::kDeleted) deleted += n;
  }
  return deleted;
}

void partition_fast_path(pg::Target& tgt, const PipelineConfig& p, WriteInput& wi) {
  auto& part = *wi.partitions;
  if (part.windows.empty()) return;
  const size_t windows = part.windows.size();
  const auto partitions = tgt.partitions(p.target.table, part.by.column);
  if (!partitions.empty()) part.truncate = take_partition_windows(part.windows, partitions, part.by.granularity);
  if (part.truncate.size() == windows)  // every window is a partition: name the partitions
    spdlog::info("partition_overwrite: {} window(s) replaced by TRUNCATE of their partitions ({})", windows,
                 describe_windows(Windows{part.truncate, {}, false}));
  else if (!part.truncate.empty())
    spdlog::info("partition_overwrite: {} window(s) replaced by TRUNCATE of their partitions, {} by DELETE "
                 "(no partition is exactly that window): {}",
                 part.truncate.size(), part.windows.size(), describe_windows(part.windows));
  else
    spdlog::info("partition_overwrite: {} window(s) replaced by DELETE{}: {}", windows,
                 partitions.empty() ? "" : " (no partition is exactly one window)", describe_windows(part.windows));
}

}  // namespace tidemark
