#include "write/common.hpp"

namespace tidemark::write {

std::string staged_rows(const WriteInput& in, const std::string& extra_where) {
  std::string sql = "SELECT ";
  if (in.dedupe && !in.key.empty()) sql += "DISTINCT ON (" + ident_list(in.key, "s") + ") ";
  sql += ident_list(in.columns, "s") + " FROM " + in.stage + " AS s";
  if (!extra_where.empty()) sql += " WHERE " + extra_where;
  if (in.dedupe && !in.key.empty()) {
    sql += " ORDER BY " + ident_list(in.key, "s");
    if (in.order_column) sql += ", s." + quote_ident(*in.order_column) + " DESC NULLS LAST";
    sql += ", s.ctid DESC";
  }
  return sql;
}

std::string key_match(const std::vector<std::string>& key, const std::string& t, const std::string& s) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i)
    out += (i ? " AND " : "") + t + "." + quote_ident(key[i]) + " = " + s + "." + quote_ident(key[i]);
  return out;
}

std::string insert_from_stage(const WriteInput& in, const std::string& extra_where) {
  return "INSERT INTO " + in.target.quoted() + " (" + ident_list(in.columns) + ") " + staged_rows(in, extra_where);
}

FieldProblems require_key(const PipelineConfig& p, const std::string& mode) {
  FieldProblems out;
  if (p.target.key.empty())
    out.emplace_back("target.key", "required by write mode " + mode + " (the columns that identify a row)");
  return out;
}

}  // namespace tidemark::write
