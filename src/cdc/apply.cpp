// Strategy `cdc`: staging rows for changes, and the set-based apply of a batch.
#include <algorithm>

#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/util.hpp"

namespace tidemark::cdc {
namespace {

const std::optional<std::string>* find(const Values& vs, const std::string& name) {
  for (const auto& [n, v] : vs)
    if (n == name) return &v;
  return nullptr;
}

std::vector<std::optional<std::string>> key_of(const Values& vs, const std::vector<std::string>& key,
                                               const char* what) {
  std::vector<std::optional<std::string>> out;
  for (const auto& k : key) {
    const auto* v = find(vs, k);
    if (!v)
      throw RunError(std::string("a change's ") + what + " lacks key column " + quote_ident(k) +
                     " (is the target key the source table's primary key or replica identity?)");
    out.push_back(*v);
  }
  return out;
}

std::string field(const std::optional<std::string>& v) { return v ? copy_text(*v) : "\\N"; }

// A PostgreSQL text[] literal, as a COPY field.
std::string array_field(const std::vector<std::string>& items) { return copy_text(array_literal(items)); }

std::string line(const std::vector<std::string>& columns, const Values& vs, int64_t seq, char op,
                 const std::vector<std::string>& missing) {
  std::string out;
  for (const auto& c : columns) {
    const auto* v = find(vs, c);
    out += field(v ? *v : std::nullopt);
    out += '\t';
  }
  return out + std::to_string(seq) + '\t' + op + '\t' + array_field(missing);
}

std::string sql_literal(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("''") : std::string(1, ch);
  return out + "'";
}

}  // namespace

std::vector<std::string> stage_lines(const Change& c, const std::vector<std::string>& columns,
                                     const std::vector<std::string>& key, int64_t& seq) {
  std::vector<std::string> out;
  if (c.action == 'D') {
    Values k;
    const auto old = key_of(c.identity, key, "old key");
    for (size_t i = 0; i < key.size(); ++i) k.emplace_back(key[i], old[i]);
    out.push_back(line(columns, k, seq++, 'D', {}));
    return out;
  }
  if (c.action != 'I' && c.action != 'U') return out;
  const auto now = key_of(c.columns, key, "new row");
  if (c.action == 'U' && !c.identity.empty()) {
    const auto old = key_of(c.identity, key, "old key");
    if (old != now) {  // the key changed: the old row goes away
      Values k;
      for (size_t i = 0; i < key.size(); ++i) k.emplace_back(key[i], old[i]);
      out.push_back(line(columns, k, seq++, 'D', {}));
    }
  }
  std::vector<std::string> missing;
  for (const auto& col : columns)
    if (!find(c.columns, col)) missing.push_back(col);
  out.push_back(line(columns, c.columns, seq++, c.action, missing));
  return out;
}

std::vector<std::string> touched_keys(const Change& c, const std::vector<std::string>& key) {
  std::vector<std::string> out;
  auto text = [&](const Values& vs) {
    std::string s;
    for (const auto& k : key) {
      const auto* v = find(vs, k);
      s += (v && *v ? "=" + **v : std::string("\\N")) + '\x1f';
    }
    out.push_back(s);
  };
  if (!c.columns.empty()) text(c.columns);
  if (!c.identity.empty()) text(c.identity);
  return out;
}

Sql add_stage_columns(const std::string& stage) {
  return Sql("ALTER TABLE " + stage + " ADD " + kSeq + " bigint, ADD " + kOp + " \"char\", ADD " + kMissing +
             " text[]");
}

std::vector<ApplyStatement> apply_statements(const QualifiedName& target, const std::string& stage,
                                             const std::vector<std::string>& columns,
                                             const std::vector<std::string>& key) {
  const std::string t = target.quoted();
  std::string match;
  for (size_t i = 0; i < key.size(); ++i)
    match += (i ? " AND " : "") + std::string("t.") + quote_ident(key[i]) + " = s." + quote_ident(key[i]);
  std::vector<ApplyStatement> out;
  out.push_back({ApplyStatement::Effect::kNone, "CREATE TEMP TABLE _tm_last ON COMMIT DROP AS SELECT DISTINCT ON (" +
                                                    ident_list(key) + ") * FROM " + stage + " ORDER BY " +
                                                    ident_list(key) + ", " + kSeq + " DESC"});
  out.push_back({ApplyStatement::Effect::kDeleted,
                 "DELETE FROM " + t + " AS t USING _tm_last AS s WHERE " + match + " AND s." + kOp + " = 'D'"});
  std::string set;
  for (const auto& c : columns) {
    if (std::find(key.begin(), key.end(), c) != key.end()) continue;
    const std::string q = quote_ident(c);
    set += (set.empty() ? "" : ", ") + q + " = CASE WHEN " + sql_literal(c) + " = ANY (s." + kMissing + ") THEN t." + q +
           " ELSE s." + q + " END";
  }
  if (!set.empty())
    out.push_back({ApplyStatement::Effect::kWritten, "UPDATE " + t + " AS t SET " + set + " FROM _tm_last AS s WHERE " +
                                                         match + " AND s." + kOp + " <> 'D'"});
  out.push_back({ApplyStatement::Effect::kWritten,
                 "INSERT INTO " + t + " (" + ident_list(columns) + ") SELECT " + ident_list(columns, "s") +
                     " FROM _tm_last AS s WHERE s." + kOp + " <> 'D' AND NOT EXISTS (SELECT 1 FROM " + t +
                     " AS t WHERE " + match + ")"});
  return out;
}

}  // namespace tidemark::cdc
