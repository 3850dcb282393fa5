// tidemark.files (the manifest of strategy files) and tidemark.rejects (quarantined rows).
#include "pg/internal.hpp"
#include "pg/state_sql.hpp"

namespace tidemark::pg {

using state_sql::table;

std::map<std::string, files::ManifestEntry> FileStore::manifest(const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::map<std::string, files::ManifestEntry> out;
    if (!c_.state_ready(schema_) && tx.exec1("SELECT to_regclass(" + tx.quote(table(schema_, "files")) + ") IS NULL")[0].as<bool>())
      return out;  // a dry run before the first run
    for (const auto& row : tx.exec("SELECT path, size, mtime_ns, checksum FROM " + table(schema_, "files") +
                                   " WHERE pipeline = " + tx.quote(pipeline)))
      out[row[0].c_str()] = {row[1].as<int64_t>(), row[2].as<int64_t>(), row[3].c_str()};
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void FileStore::record_file(Target& tgt, const std::string& pipeline, const files::FileInfo& f,
                            const std::string& checksum, int64_t rows, int64_t rejected, int64_t run_id) {
  try {
    pqxx::transaction_base& tx = tgt.tx();
    tx.exec("INSERT INTO " + table(schema_, "files") +
            " (pipeline, path, size, mtime_ns, checksum, rows, rejected, run_id) VALUES (" + tx.quote(pipeline) + ", " +
            tx.quote(f.rel) + ", " + std::to_string(f.size) + ", " + std::to_string(f.mtime_ns) + ", " +
            tx.quote(checksum) + ", " + std::to_string(rows) + ", " + std::to_string(rejected) + ", " +
            std::to_string(run_id) +
            ") ON CONFLICT (pipeline, path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,"
            " checksum = EXCLUDED.checksum, rows = EXCLUDED.rows, rejected = EXCLUDED.rejected,"
            " run_id = EXCLUDED.run_id, loaded_at = clock_timestamp()");
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void FileStore::touch_file(const std::string& pipeline, const files::FileInfo& f) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("UPDATE " + table(schema_, "files") + " SET size = " + std::to_string(f.size) +
            ", mtime_ns = " + std::to_string(f.mtime_ns) + " WHERE pipeline = " + tx.quote(pipeline) +
            " AND path = " + tx.quote(f.rel));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void FileStore::add_reject(Target& tgt, const std::string& pipeline, const std::string& path, int64_t line,
                           const std::string& reason, const std::string& raw, int64_t run_id) {
  try {
    pqxx::transaction_base& tx = tgt.tx();
    tx.exec("INSERT INTO " + table(schema_, "rejects") + " (pipeline, path, line, reason, raw, run_id) VALUES (" +
            tx.quote(pipeline) + ", " + tx.quote(path) + ", " + std::to_string(line) + ", " + tx.quote(reason) + ", " +
            tx.quote(raw) + ", " + std::to_string(run_id) + ")");
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

}  // namespace tidemark::pg
