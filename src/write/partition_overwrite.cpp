// Write mode `partition_overwrite` (docs/writes.md#partition-overwrite): every window of
// partition_by.column that the delta touches is replaced whole by the source's rows of that
// window, re-read from the run's snapshot. Partitions that are exactly one window are
// emptied with TRUNCATE, other windows with DELETE; rows whose key moved in from a window
// that was not touched leave their old place. Without duplicate keys the rows are then
// copied straight into the target (direct); otherwise they go through the stage.
#include <stdexcept>

#include "write/common.hpp"
#include "tidemark/strategy.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class PartitionOverwrite final : public Writer {
 public:
  std::string name() const override { return "partition_overwrite"; }
  const WriterCaps& caps() const override {
    static const WriterCaps made = [] {
      WriterCaps c;
      c.by_window = true;
      return c;
    }();
    return made;
  }
  FieldProblems check(const PipelineConfig& p, bool) const override {
    FieldProblems out;
    if (!p.target.partition_by)
      out.emplace_back("target.partition_by", "required by write mode partition_overwrite: {column, granularity}");
    const Strategy* s = find_strategy(p.detect.strategy);
    if (!s || !s->caps().partition_windows)
      out.emplace_back("target.write", "partition_overwrite works with " +
                                           strategies_text(&StrategyCaps::partition_windows) + ", not " +
                                           p.detect.strategy);
    return out;
  }

  std::vector<WriteStatement> statements(const WriteInput& in) const override {
    if (!in.partitions) throw std::logic_error("partition_overwrite: no windows were computed");
    const auto& part = *in.partitions;
    const std::string t = in.target.quoted();
    // A direct load leaves soft-deleted rows out of its COPY instead.
    std::vector<WriteStatement> out = part.direct ? std::vector<WriteStatement>{} : soft_delete_statements(in);
    if (in.target_range)
      out.push_back({WriteStatement::Effect::kDeleted, Sql("DELETE FROM " + t + " WHERE ").append(*in.target_range)});
    for (const auto& name : part.truncate) out.push_back({WriteStatement::Effect::kNone, Sql("TRUNCATE " + name)});
    if (!part.windows.lo.empty())
      out.push_back({WriteStatement::Effect::kDeleted,
                     Sql("DELETE FROM " + t + " AS t WHERE ").append(in_windows(part.by, part.type, part.windows, "t"))});
    if (part.windows.null_window)
      out.push_back({WriteStatement::Effect::kDeleted,
                     Sql("DELETE FROM " + t + " AS t WHERE t." + quote_ident(part.by.column) + " IS NULL")});
    const std::string& keys = part.moved_keys.empty() ? in.stage : part.moved_keys;
    if (!in.key.empty() && !(part.direct && part.moved_keys.empty()))
      out.push_back({WriteStatement::Effect::kNone, Sql("DELETE FROM " + t + " AS t USING " + keys + " AS s WHERE " +
                                                        key_match(in.key, "t", "s"))});
    if (!part.direct) out.push_back({WriteStatement::Effect::kWritten, Sql(insert_from_stage(in))});
    return out;
  }
};

const Writer& partition_overwrite_writer() {
  static const PartitionOverwrite w;
  return w;
}

}  // namespace tidemark::write

namespace tidemark {

Sql partition_lock(const QualifiedName& target) {
  return Sql("LOCK TABLE " + target.quoted() + " IN SHARE ROW EXCLUSIVE MODE");
}

}  // namespace tidemark
