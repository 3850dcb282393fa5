// Write mode `upsert`: insert new keys, update changed rows, and leave unchanged rows alone
// (IS DISTINCT FROM), so re-reading a window costs reads but almost no writes or WAL.
#include <algorithm>

#include "write/common.hpp"
#include "write/registry.hpp"

namespace tidemark::write {

class Upsert final : public Writer {
 public:
  std::string name() const override { return "upsert"; }
  const WriterCaps& caps() const override {
    static const WriterCaps made = [] {
      WriterCaps c;
      c.needs_unique_key = true;
      return c;
    }();
    return made;
  }
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
    // Only rows that may be re-reads pay for the probe: rows past the stored high mark are
    // new or changed.
    Sql rows("SELECT " + ident_list(in.columns, "d") + " FROM (" + staged_rows(in) + ") AS d");
    const bool bounded = in.reread == WriteInput::Reread::kUpToBound && in.reread_bound && in.order_column;
    if (!rest.empty() && (in.reread == WriteInput::Reread::kAll || bounded)) {
      rows.text(" WHERE ");
      if (bounded) rows.text("d." + quote_ident(*in.order_column) + " > ").append(*in.reread_bound).text(" OR ");
      rows.text("NOT EXISTS (SELECT 1 FROM " + in.target.quoted() + " AS x WHERE " + key_match(in.key, "x", "d") +
                " AND (" + side("x") + ") IS NOT DISTINCT FROM (" + side("d") + "))");
    }
    Sql sql("INSERT INTO " + in.target.quoted() + " AS t (" + ident_list(in.columns) + ") ");
    sql.append(rows).text(" ON CONFLICT (" + ident_list(in.key) + ") DO ");
    if (rest.empty()) {
      sql.text("NOTHING");
    } else {
      std::string set = "UPDATE SET ";
      for (size_t i = 0; i < rest.size(); ++i)
        set += (i ? ", " : "") + quote_ident(rest[i]) + " = EXCLUDED." + quote_ident(rest[i]);
      sql.text(set + " WHERE (" + side("t") + ") IS DISTINCT FROM (" + side("EXCLUDED") + ")");
    }
    std::vector<WriteStatement> out = soft_delete_statements(in);
    out.push_back({WriteStatement::Effect::kWritten, sql});
    return out;
  }
};

const Writer& upsert_writer() {
  static const Upsert w;
  return w;
}

}  // namespace tidemark::write
