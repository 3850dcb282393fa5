// The server side of reconcile (docs/deletes.md#reconcile): the comparison queries of
// include/tidemark/compare.hpp run in one transaction per side, and the lookups and deletes
// by key.
#include "pg/reconcile.hpp"

#include "pg/internal.hpp"

namespace tidemark::pg {

namespace {

constexpr size_t kKeysPerStatement = 5000;

}  // namespace

KeySide::KeySide(Connection& c, KeySet set, bool read_only) : c_(c), set_(std::move(set)) {
  try {
    if (read_only) tx_ = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(c_.raw());
    else tx_ = std::make_unique<pqxx::work>(c_.raw());
    // The key columns' own types, to cast the keys (moved as text) back for index lookups.
    pqxx::result r = tx_->exec("SELECT " + ident_list(set_.key) + " FROM " + set_.from + " LIMIT 0");
    std::vector<std::string> oids;
    for (pqxx::row::size_type i = 0; i < r.columns(); ++i) oids.push_back(std::to_string(r.column_type(i)));
    for (const auto& row : tx_->exec("SELECT format_type(t, NULL) FROM unnest(" + tx_->quote(array_literal(oids)) +
                                     "::oid[]) WITH ORDINALITY AS u(t, i) ORDER BY i"))
      types_.push_back(row[0].c_str());
  } catch (...) {
    translate("'" + c_.name() + "' (reconcile)");
  }
}

KeySide::~KeySide() { abort(); }

pqxx::result KeySide::run(const std::string& sql) {
  try {
    ++queries_;
    return tx_->exec(sql);
  } catch (...) {
    translate("'" + c_.name() + "' (reconcile)");
  }
}

RangeStats KeySide::root() {
  pqxx::row r = run(compare::key_root(set_))[0];
  RangeStats s{r[0].as<int64_t>(), r[1].c_str(), std::nullopt, std::nullopt};
  if (!r[2].is_null()) s.min = r[2].as<int64_t>();
  if (!r[3].is_null()) s.max = r[3].as<int64_t>();
  return s;
}

std::vector<std::pair<uint64_t, RangeStats>> KeySide::buckets(int64_t lo, int shift,
                                                              const std::vector<ValueRange>& within) {
  std::vector<std::pair<uint64_t, RangeStats>> out;
  for (const auto& row : run(compare::key_buckets(set_, lo, shift, within)))
    out.push_back({std::stoull(row[0].c_str()), RangeStats{row[1].as<int64_t>(), row[2].c_str(), {}, {}}});
  return out;
}

std::vector<Tuple> KeySide::keys(const std::vector<ValueRange>& within) {
  std::vector<Tuple> out;
  for (const auto& row : run(compare::key_values(set_, within))) {
    Tuple t;
    bool null = false;
    for (const auto& f : row) {
      null = null || f.is_null();
      t.push_back(f.is_null() ? "" : f.c_str());
    }
    if (!null) out.push_back(std::move(t));
  }
  return out;
}

// `(k1, k2) IN (SELECT CAST(u1 AS t1), CAST(u2 AS t2) FROM unnest('{…}'::text[], '{…}'::text[]) AS u)`
std::string KeySide::key_list(const std::vector<Tuple>& keys) {
  std::string cast, arrays;
  for (size_t i = 0; i < set_.key.size(); ++i) {
    std::vector<std::string> column;
    for (const auto& k : keys) column.push_back(k[i]);
    cast += (i ? ", " : "") + std::string("CAST(u.c") + std::to_string(i) + " AS " + types_[i] + ")";
    arrays += (i ? ", " : "") + tx_->quote(array_literal(column)) + "::text[]";
  }
  std::string names;
  for (size_t i = 0; i < set_.key.size(); ++i) names += (i ? ", c" : "c") + std::to_string(i);
  return "(" + ident_list(set_.key) + ") IN (SELECT " + cast + " FROM unnest(" + arrays + ") AS u(" + names + "))";
}

std::vector<Tuple> KeySide::existing(const std::vector<Tuple>& keys, const std::optional<Sql>& extra) {
  std::vector<Tuple> out;
  std::string cols;
  for (const auto& k : set_.key) cols += (cols.empty() ? "" : ", ") + (quote_ident(k) + "::text");
  for (size_t at = 0; at < keys.size(); at += kKeysPerStatement) {
    std::vector<Tuple> part(keys.begin() + static_cast<std::ptrdiff_t>(at),
                            keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), at + kKeysPerStatement)));
    std::string sql = "SELECT DISTINCT " + cols + " FROM " + set_.from + " WHERE " + key_list(part);
    if (extra) sql += " AND (" + c_.render(*extra) + ")";
    for (const auto& row : run(sql)) {
      Tuple t;
      for (const auto& f : row) t.push_back(f.c_str());
      out.push_back(std::move(t));
    }
  }
  return out;
}

int64_t KeySide::remove(const std::vector<Tuple>& keys, const Sql& guard) {
  int64_t n = 0;
  for (size_t at = 0; at < keys.size(); at += kKeysPerStatement) {
    std::vector<Tuple> part(keys.begin() + static_cast<std::ptrdiff_t>(at),
                            keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), at + kKeysPerStatement)));
    std::string sql = "DELETE FROM " + set_.from + " WHERE " + key_list(part);
    if (!guard.empty()) sql += " AND (" + c_.render(guard) + ")";
    n += static_cast<int64_t>(run(sql).affected_rows());
  }
  return n;
}

void KeySide::commit() {
  try {
    if (tx_) tx_->commit();
    tx_.reset();
  } catch (...) {
    translate("'" + c_.name() + "' (reconcile)");
  }
}

void KeySide::abort() {
  if (!tx_) return;
  try {
    tx_->abort();
  } catch (...) {  // the connection may be gone; the server rolls back for us
  }
  tx_.reset();
}

int64_t runs_since_reconcile(Connection& state, const std::string& schema, const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(state.raw());
    const std::string runs = quote_ident(schema) + "." + quote_ident("runs");
    const std::string p = tx.quote(pipeline);
    return tx
        .exec1("SELECT count(*) FROM " + runs + " WHERE pipeline = " + p +
               " AND mode = 'incremental' AND status = 'succeeded' AND run_id > coalesce((SELECT max(run_id) FROM " +
               runs + " WHERE pipeline = " + p + " AND mode = 'reconcile'), 0)")[0]
        .as<int64_t>();
  } catch (...) {
    translate("state store '" + state.name() + "'");
  }
}

pqxx::result KeySide::run(const Sql& sql) { return run(c_.render(sql)); }

}  // namespace tidemark::pg
