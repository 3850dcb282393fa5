// The server side of `tidemark verify`: one side of a row comparison (the SQL is
// include/tidemark/compare.hpp), read outside any transaction on either database.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg.hpp"
#include "tidemark/compare.hpp"

namespace tidemark::pg {

class CompareSide {
 public:
  // `role` names the side in errors: "source" or "target".
  CompareSide(Connection& c, std::string role) : c_(c), role_(std::move(role)) {}
  struct Summary {
    int64_t rows = 0;
    std::string hash;  // the hash sum, numeric as text
  };
  Summary summary(const compare::RowSet& rows);
  struct KeyedRow {
    std::vector<std::optional<std::string>> key;  // nullopt: NULL
    std::string md5;                              // of the row's text
  };
  // Every row's key and hash, ordered by the key.
  std::vector<KeyedRow> keyed(const compare::RowSet& rows, const std::vector<std::string>& key);

 private:
  Connection& c_;
  std::string role_;
};

}  // namespace tidemark::pg
