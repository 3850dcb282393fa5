// Write mode `append`: insert rows whose key the target does not have yet and never update
// existing ones (event and log tables). The anti-join makes re-reads harmless.
#include "write/common.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class Append final : public Writer {
 public:
  std::string name() const override { return "append"; }
  const WriterCaps& caps() const override {
    static const WriterCaps made = [] {
      WriterCaps c;
      c.rewrites_rows = false;
      return c;
    }();
    return made;
  }
  FieldProblems check(const PipelineConfig& p, bool state_with_target) const override {
    FieldProblems out = require_key(p, name());
    if (!state_with_target)
      out.emplace_back("target.write",
                       "append needs the state in the target database, so one transaction guards rows and watermark");
    return out;
  }

  std::vector<WriteStatement> statements(const WriteInput& in) const override {
    std::string absent = "NOT EXISTS (SELECT 1 FROM " + in.target.quoted() + " AS t WHERE " +
                         key_match(in.key, "t", "s") + ")";
    std::vector<WriteStatement> out = soft_delete_statements(in);
    out.push_back({WriteStatement::Effect::kWritten, Sql(insert_from_stage(in, absent))});
    return out;
  }
};

const Writer& append_writer() {
  static const Append w;
  return w;
}

}  // namespace tidemark::write
