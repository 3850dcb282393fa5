// Write mode `full_refresh`: the target becomes exactly the staged rows, atomically. The
// table is emptied only after the whole source is staged, inside the same transaction, so
// readers see the old content until COMMIT and the exclusive lock is held only briefly.
#include "write/common.hpp"
#include "tidemark/strategy.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class FullRefresh final : public Writer {
 public:
  std::string name() const override { return "full_refresh"; }
  const WriterCaps& caps() const override {
    static const WriterCaps made = [] {
      WriterCaps c;
      c.replaces_all = true;
      return c;
    }();
    return made;
  }
  FieldProblems check(const PipelineConfig& p, bool) const override {
    FieldProblems out;
    const Strategy* s = find_strategy(p.detect.strategy);
    if (!s || !s->caps().replaces_target)
      out.emplace_back("target.write", "full_refresh belongs to " + strategies_text(&StrategyCaps::replaces_target) +
                                           "; for an incremental pipeline run `tidemark run --full-refresh`");
    return out;
  }

  std::vector<WriteStatement> statements(const WriteInput& in) const override {
    WriteInput all = in;
    all.dedupe = in.dedupe && !in.key.empty();
    std::vector<WriteStatement> out = soft_delete_statements(all);
    out.push_back({WriteStatement::Effect::kDeleted, Sql("DELETE FROM " + in.target.quoted())});
    out.push_back({WriteStatement::Effect::kWritten, Sql(insert_from_stage(all))});
    return out;
  }
};

const Writer& full_refresh_writer() {
  static const FullRefresh w;
  return w;
}

}  // namespace tidemark::write
