// The SQL of source/target comparisons (include/tidemark/compare.hpp). The partition value is
// the key itself for one integer key (so a range is an index range scan) and the key's hash
// otherwise.
#include "tidemark/compare.hpp"

#include <algorithm>

#include "tidemark/source_sql.hpp"

namespace tidemark::compare {

namespace {

std::string int8(int64_t v) { return "'" + std::to_string(v) + "'::int8"; }

std::string key_text(const std::vector<std::string>& key) {
  if (key.size() == 1) return "q." + quote_ident(key[0]) + "::text";
  return "ROW(" + ident_list(key, "q") + ")::text";
}

std::string hash_of(const std::vector<std::string>& key) { return "hashtextextended(" + key_text(key) + ", 0)"; }

std::string value(const KeySet& s) { return s.integer_key ? "q." + quote_ident(s.key[0]) : hash_of(s.key); }

// `FROM (SELECT [DISTINCT] key… FROM from [WHERE filter]) AS q`, after `head`.
Sql from_base(const std::string& head, const KeySet& s) {
  Sql sql(head + " FROM (SELECT " + std::string(s.distinct ? "DISTINCT " : "") + ident_list(s.key) + " FROM " +
          s.from);
  if (!s.filter.empty()) sql.text(" WHERE ").append(s.filter);
  return sql.text(") AS q");
}

std::string ranges(const KeySet& s, const std::vector<ValueRange>& within) {
  std::string out;
  for (const auto& r : within)
    out += (out.empty() ? "(" : " OR ") + value(s) + " BETWEEN " + int8(r.lo) + " AND " + int8(r.hi);
  return out.empty() ? "false" : out + ")";
}

}  // namespace

std::string count_and_hash(const std::string& text_expr) {
  return "count(*), coalesce(sum(hashtextextended(" + text_expr + ", 0)), 0)::text";
}

std::string source_relation(const SourceConfig& s) { return strategy::source_from(s); }

Sql rows(const RowSet& r) {
  Sql s("SELECT " + ident_list(r.columns) + " FROM " + r.from);
  if (r.where) s.text(" WHERE ").append(*r.where);
  return s;
}

Sql summary(const RowSet& r) {
  return Sql("SELECT " + count_and_hash("v::text") + " FROM (").append(rows(r)).text(") AS v");
}

Sql keyed_hashes(const RowSet& r, const std::vector<std::string>& key) {
  return Sql("SELECT " + ident_list(key, "v") + ", md5(v::text) FROM (")
      .append(rows(r))
      .text(") AS v ORDER BY " + ident_list(key, "v"));
}

Sql key_root(const KeySet& s) {
  return from_base("SELECT " + count_and_hash(key_text(s.key)) + ", min(" + value(s) + ")::int8, max(" + value(s) +
                       ")::int8",
                   s);
}

Sql key_buckets(const KeySet& s, int64_t lo, int shift, const std::vector<ValueRange>& within) {
  const std::string width = std::to_string(uint64_t{1} << shift);
  return from_base("SELECT div(" + value(s) + "::numeric - " + std::to_string(lo) + ", " + width + ")::text, " +
                       count_and_hash(key_text(s.key)),
                   s)
      .text(" WHERE " + ranges(s, within) + " GROUP BY 1");
}

Sql key_values(const KeySet& s, const std::vector<ValueRange>& within) {
  std::string cols;
  for (const auto& k : s.key) cols += (cols.empty() ? "" : ", ") + ("q." + quote_ident(k) + "::text");
  return from_base("SELECT " + cols, s).text(" WHERE " + ranges(s, within));
}

bool integer_partition(const std::vector<std::string>& key, const std::optional<std::string>& first_key_type) {
  return key.size() == 1 && first_key_type &&
         (*first_key_type == "bigint" || *first_key_type == "integer" || *first_key_type == "smallint");
}

Sql settled(const Watermark& wm, const std::vector<std::string>& types, bool include_null) {
  const Tuple& safe = *wm.safe;
  const size_t n = std::min(safe.size(), wm.columns.size());
  Sql s("(");
  if (n == 1) {
    s.text(quote_ident(wm.columns[0]) + " <= ").append(strategy::cast_value(safe[0], types[0]));
  } else {
    s.text("ROW(");
    for (size_t i = 0; i < n; ++i) s.text((i ? ", " : "") + quote_ident(wm.columns[i]));
    s.text(") <= ROW(");
    for (size_t i = 0; i < n; ++i) s.text(i ? ", " : "").append(strategy::cast_value(safe[i], types[i]));
    s.text(")");
  }
  if (include_null) s.text(" OR " + quote_ident(wm.columns[0]) + " IS NULL");
  return s.text(")");
}

Sql alive(const std::string& column, const std::string& type) {
  return Sql(quote_ident(column) + (type == "boolean" ? " IS NOT TRUE" : " IS NULL"));
}

Sql both(const Sql& a, const Sql& b) { return Sql("(").append(a).text(" AND ").append(b).text(")"); }

}  // namespace tidemark::compare
