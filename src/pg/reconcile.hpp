// The server side of `tidemark reconcile` (docs/deletes.md): per-range counts and
// order-independent key hashes of one side of a key comparison (their SQL is
// include/tidemark/compare.hpp), the keys of a few ranges, and the final delete. The descent
// that decides which ranges to read is include/tidemark/reconcile_descent.hpp.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg.hpp"
#include "tidemark/compare.hpp"

namespace tidemark::pg {

using compare::KeySet;
using compare::RangeStats;
using compare::ValueRange;

// One side, inside one transaction: a REPEATABLE READ READ ONLY snapshot for the source, a
// read-write transaction for the target (which later deletes and records the run in it).
class KeySide {
 public:
  KeySide(Connection& c, KeySet set, bool read_only);
  ~KeySide();
  RangeStats root();
  // Per bucket div(value - lo, 2^shift) of the rows whose value lies in one of `within`.
  std::vector<std::pair<uint64_t, RangeStats>> buckets(int64_t lo, int shift, const std::vector<ValueRange>& within);
  // The keys (as text) of the rows whose value lies in one of `within`; NULL keys are skipped.
  std::vector<Tuple> keys(const std::vector<ValueRange>& within);
  // Which of `keys` this side holds, ignoring the filter but requiring `extra` when given.
  std::vector<Tuple> existing(const std::vector<Tuple>& keys, const std::optional<Sql>& extra);
  // Deletes the rows with these keys for which `guard` holds; returns how many.
  int64_t remove(const std::vector<Tuple>& keys, const Sql& guard);
  pqxx::transaction_base& tx() { return *tx_; }  // src/pg only (StateStore::finish_run)
  int64_t queries() const { return queries_; }
  void commit();
  void abort();

 private:
  std::string key_list(const std::vector<Tuple>& keys);
  pqxx::result run(const std::string& sql);
  pqxx::result run(const Sql& sql);
  Connection& c_;
  KeySet set_;
  std::vector<std::string> types_;  // format_type of each key column, for casting keys back
  std::unique_ptr<pqxx::transaction_base> tx_;
  int64_t queries_ = 0;
};

// Successful incremental runs of `pipeline` since its last reconcile (tidemark.runs).
int64_t runs_since_reconcile(Connection& state, const std::string& schema, const std::string& pipeline);

}  // namespace tidemark::pg
