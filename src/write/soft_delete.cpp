// detect.soft_delete, mode delete (docs/deletes.md): a staged row whose soft-delete column
// says "deleted" removes the target row with its key, in the transaction that applies the
// batch and stores its watermark, and is never written. Every write mode runs these
// statements first; its own statements then see a stage without the deleted keys.
#include "write/common.hpp"

namespace tidemark {

namespace {

std::string deleted(const WriteInput& in, const std::string& alias) {
  return alias + "." + quote_ident(*in.soft_delete_column) + (in.soft_delete_boolean ? " IS TRUE" : " IS NOT NULL");
}

}  // namespace

std::vector<WriteStatement> soft_delete_statements(const WriteInput& in) {
  if (!in.soft_delete_column || in.key.empty()) return {};
  // The newest staged row of a key decides (deleted, then un-deleted: the row stays), so the
  // predicate is applied after deduplication; without dedupe each key is staged once.
  const std::string rows = "(" + write::staged_rows(in) + ") AS d";
  return {
      {WriteStatement::Effect::kDeleted, Sql("DELETE FROM " + in.target.quoted() + " AS t USING " + rows + " WHERE " +
                                             write::key_match(in.key, "t", "d") + " AND " + deleted(in, "d"))},
      {WriteStatement::Effect::kNone,
       Sql(in.dedupe ? "DELETE FROM " + in.stage + " AS x USING " + rows + " WHERE " + write::key_match(in.key, "x", "d") +
                           " AND " + deleted(in, "d")
                     : "DELETE FROM " + in.stage + " AS x WHERE " + deleted(in, "x"))},
  };
}

Sql without_soft_deleted(const Sql& select, const WriteInput& in) {
  if (!in.soft_delete_column) return select;
  Sql out("SELECT " + ident_list(in.columns, "_tm_sd") + " FROM (");
  out.append(select).text(") AS _tm_sd WHERE NOT (" + deleted(in, "_tm_sd") + ")");
  return out;
}

}  // namespace tidemark
