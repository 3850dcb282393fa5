// Write mode `delete_insert`: remove the target rows the delta replaces (same key, and for
// --from/--to runs every target row of the range, so source deletions inside it propagate),
// then insert the staged rows.
#include "write/common.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class DeleteInsert final : public Writer {
 public:
  std::string name() const override { return "delete_insert"; }
  const WriterCaps& caps() const override {
    static const WriterCaps c;
    return c;
  }
  FieldProblems check(const PipelineConfig& p, bool) const override { return require_key(p, name()); }

  std::vector<WriteStatement> statements(const WriteInput& in) const override {
    std::vector<WriteStatement> out = soft_delete_statements(in);
    if (in.target_range) {
      Sql del("DELETE FROM " + in.target.quoted() + " WHERE ");
      del.append(*in.target_range);
      out.push_back({WriteStatement::Effect::kDeleted, del});
    }
    if (!in.key.empty())  // strategy files may have no key: its rows are the file's (target_range)
      out.push_back({WriteStatement::Effect::kNone,
                     Sql("DELETE FROM " + in.target.quoted() + " AS t USING " + in.stage + " AS s WHERE " +
                         key_match(in.key, "t", "s"))});
    out.push_back({WriteStatement::Effect::kWritten, Sql(insert_from_stage(in))});
    return out;
  }
};

const Writer& delete_insert_writer() {
  static const DeleteInsert w;
  return w;
}

}  // namespace tidemark::write
