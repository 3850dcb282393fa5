// plan_text: the one printer of a RunPlan (--dry-run, `tidemark plan`), for every strategy.
#include <sstream>

#include "tidemark/cdc.hpp"
#include "tidemark/file_plan.hpp"
#include "tidemark/partition.hpp"
#include "tidemark/run_plan.hpp"
#include "write/registry.hpp"

namespace tidemark {
namespace {

// partition_overwrite's windows as a dry run shows them (placeholders), with the direct or
// staged form the run would take.
void partition_dry_run(const PipelineConfig& p, WriteInput& wi) {
  auto& part = *wi.partitions;
  part.windows = Windows{{"<windows of the delta>"}, {"<their ends>"}, false};
  part.direct = !wi.dedupe;
  if (part.direct && !p.target.key.empty()) part.moved_keys = kMovedKeysTable;
}

void query_text(std::ostream& os, const RunPlan& rp, const StoredState& st, std::optional<int64_t> estimate) {
  const PipelineConfig& p = *rp.pipeline;
  const ExtractPlan& plan = rp.extract;
  WriteInput wi = rp.write;
  if (rp.by_window) partition_dry_run(p, wi);
  os << "pipeline " << p.name << " (strategy " << p.detect.strategy << ", write " << rp.writer->name() << ", "
     << mode_name(plan.mode) << ")\n";
  os << "  watermark: high " << tuple_text(st.watermark.high) << ", safe " << tuple_text(st.watermark.safe)
     << (st.exists ? ", version " + std::to_string(st.version) : ", no state yet") << "\n";
  os << "  window:    " << plan.window << "\n";
  if (!plan.cursor_zone.empty())
    os << "  time zone: " << plan.cursor_zone << " (from " << plan.cursor_zone_from << "): the " << plan.tuple_types[0]
       << " cursor is read as wall-clock time there\n";
  os << "  extract:   COPY (" << plan.select.display() << ") TO STDOUT\n";
  os << "  estimate:  "
     << (estimate ? "about " + std::to_string(*estimate) + " row(s) (the planner's EXPLAIN estimate)"
                  : std::string("unknown"))
     << "\n";
  if (!plan.high_query.empty()) os << "  high mark: " << plan.high_query.display() << "\n";
  if (plan.batching)
    os << "  batches:   " << plan.batching->size << " rows each, one transaction per batch; bound: "
       << batch_bound_query(plan, std::nullopt).display() << "\n";
  if (wi.partitions)
    os << "  windows:   " << window_query(wi.partitions->by, wi.partitions->type, plan.select).display()
       << "\n             then COPY of the complete rows of those windows; partitions that are exactly one "
          "window are emptied with TRUNCATE\n  lock:      "
       << partition_lock(p.target.table).display() << "\n";
  for (const auto& s : rp.writer->statements(wi)) os << "  apply:     " << s.sql.display() << "\n";
}

void files_text(std::ostream& os, const RunPlan& rp) {
  const PipelineConfig& p = *rp.pipeline;
  const FilesDetect& f = p.detect.files;
  os << "pipeline " << p.name << " (strategy " << p.detect.strategy << ", write " << rp.writer->name()
     << " per file)\n  directory: " << f.path << (f.pattern.empty() ? "" : ", pattern " + f.pattern) << "\n";
  for (const auto& d : *rp.extract.files)
    os << "  " << files::action_name(d.action) << ": " << d.file.rel << (d.note.empty() ? "" : " (" + d.note + ")")
       << "\n";
  for (const auto& s : rp.writer->statements(rp.write)) os << "  apply:     " << s.sql.display() << "\n";
}

void slot_text(std::ostream& os, const RunPlan& rp, const StoredState& st) {
  const PipelineConfig& p = *rp.pipeline;
  const ExtractPlan::Slot& slot = *rp.extract.slot;
  os << "pipeline " << p.name << " (strategy " << p.detect.strategy << ", slot " << slot.name << ", table "
     << p.source.table->display() << ")\n  preflight: ok\n  slot:      "
     << (slot.exists ? "exists, " + std::to_string(slot.retained_bytes) + " bytes of WAL retained"
                     : std::string("not created yet"))
     << "\n  position:  " << tuple_text(st.watermark.safe) << "\n  next:      "
     << (slot.snapshot ? (slot.recreate ? "drop and recreate the slot, " : std::string("create the slot, ")) +
                             "copy the table in one snapshot, then apply the changes since the slot's start"
                       : "apply the slot's changes in batches of " + std::to_string(slot.batch_size) + " changes")
     << "\n";
  for (const auto& s : cdc::apply_statements(p.target.table, kCdcStageTable, {"<columns>"}, p.target.key))
    os << "  apply:     " << s.sql << "\n";
}

}  // namespace

std::string plan_text(const RunPlan& plan, const StoredState& st, std::optional<int64_t> estimate) {
  std::ostringstream os;
  if (plan.extract.files) files_text(os, plan);
  else if (plan.extract.slot) slot_text(os, plan, st);
  else query_text(os, plan, st, estimate);
  os << "  (dry run: nothing was written)\n";
  return os.str();
}

}  // namespace tidemark
