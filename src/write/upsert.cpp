// Write mode `upsert`: insert new keys, update changed rows, and leave unchanged rows alone
// (IS DISTINCT FROM), so re-reading a window costs reads but almost no writes or WAL.
#include <algorithm>

#include "write/common.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class Upsert final : public Writer {
 public:
  std::string name() const override { return "upsert"; }
  FieldProblems check(const PipelineConfig& p, bool) const override { return require_key(p, name()); }

  std::vector<WriteStatement> statements(const WriteInput& in) const override {
    std::vector<std::string> rest;
    for (const auto& c : in.columns)
      if (std::find(in.key.begin(), in.key.end(), c) == in.key.end()) rest.push_back(c);
    // Columns of `alias`, those without an equality operator as text.
    auto side = [&](const std::string& alias) {
      std::string out;
      for (size_t i = 0; i < rest.size(); ++i) {
        out += (i ? ", " : "") + alias + "." + quote_ident(rest[i]);
        if (std::find(in.text_compare.begin(), in.text_compare.end(), rest[i]) != in.text_compare.end())
          out += "::text";
      }
      return out;
    };
    // Rows the target already holds unchanged are dropped by an anti-join first: ON CONFLICT
    // would lock (and so write) every conflicting row even when its WHERE then skips it.
    std::string rows = "SELECT " + ident_list(in.columns, "d") + " FROM (" + staged_rows(in) + ") AS d";
    if (!rest.empty())
      rows += " WHERE NOT EXISTS (SELECT 1 FROM " + in.target.quoted() + " AS x WHERE " + key_match(in.key, "x", "d") +
              " AND (" + side("x") + ") IS NOT DISTINCT FROM (" + side("d") + "))";
    std::string sql = "INSERT INTO " + in.target.quoted() + " AS t (" + ident_list(in.columns) + ") " + rows +
                      " ON CONFLICT (" + ident_list(in.key) + ") DO ";
    if (rest.empty()) {
      sql += "NOTHING";
    } else {
      sql += "UPDATE SET ";
      for (size_t i = 0; i < rest.size(); ++i)
        sql += (i ? ", " : "") + quote_ident(rest[i]) + " = EXCLUDED." + quote_ident(rest[i]);
      sql += " WHERE (" + side("t") + ") IS DISTINCT FROM (" + side("EXCLUDED") + ")";
    }
    return {{WriteStatement::Effect::kWritten, Sql(sql)}};
  }
};

const Writer& upsert_writer() {
  static const Upsert w;
  return w;
}

}  // namespace tidemark::write
