// One side of `tidemark verify` (pg/compare.hpp).
#include "pg/compare.hpp"

#include "pg/internal.hpp"

namespace tidemark::pg {

CompareSide::Summary CompareSide::summary(const compare::RowSet& rows) {
  try {
    pqxx::nontransaction tx(c_.raw());
    const pqxx::row r = tx.exec1(c_.render(compare::summary(rows)));
    return Summary{r[0].as<int64_t>(), r[1].c_str()};
  } catch (...) {
    translate(role_ + " '" + c_.name() + "'");
  }
}

std::vector<CompareSide::KeyedRow> CompareSide::keyed(const compare::RowSet& rows,
                                                      const std::vector<std::string>& key) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<KeyedRow> out;
    for (const auto& row : tx.exec(c_.render(compare::keyed_hashes(rows, key)))) {
      KeyedRow k;
      for (pqxx::row::size_type i = 0; i + 1 < row.size(); ++i)
        k.key.push_back(row[i].is_null() ? std::nullopt : std::optional<std::string>(row[i].c_str()));
      k.md5 = row[row.size() - 1].c_str();
      out.push_back(std::move(k));
    }
    return out;
  } catch (...) {
    translate(role_ + " '" + c_.name() + "'");
  }
}

}  // namespace tidemark::pg
