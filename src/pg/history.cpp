// Reading tidemark.runs and tidemark.pipeline_state for `tidemark history` and `run --metrics-file`.
#include "pg/history.hpp"

#include "pg/internal.hpp"

#include <unistd.h>

#include <cstdio>

namespace tidemark::pg {

namespace {

std::string table(const std::string& schema, const std::string& t) { return quote_ident(schema) + "." + quote_ident(t); }

bool tables_exist(pqxx::nontransaction& tx, const std::string& schema) {
  return tx.exec1("SELECT to_regclass(" + tx.quote(table(schema, "pipeline_state")) + ") IS NOT NULL AND to_regclass(" +
                  tx.quote(table(schema, "runs")) + ") IS NOT NULL")[0]
      .as<bool>();
}

// A stored watermark, or none when it is NULL or not one tidemark wrote.
std::optional<Watermark> watermark(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  try {
    return Watermark::from_json(nlohmann::json::parse(f.c_str()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<T>(f.as<T>());
}

}  // namespace

std::vector<HistoryRow> run_history(Connection& c, const std::string& schema, const std::vector<std::string>& pipelines,
                                    int64_t limit) {
  try {
    pqxx::nontransaction tx(c.raw());
    std::vector<HistoryRow> out;
    if (!tables_exist(tx, schema)) return out;
    // Per pipeline, the index runs_pipeline_run_id read backwards `limit` rows deep.
    pqxx::result r = tx.exec(
        "SELECT r.run_id, r.pipeline, r.mode, r.status, " + rfc3339("r.started_at") + ", " + rfc3339("r.finished_at") +
        ", extract(epoch FROM r.started_at)::float8,"
        " extract(epoch FROM r.finished_at - r.started_at)::float8, r.rows_read, r.rows_written, r.rows_deleted,"
        " r.watermark_before::text, r.watermark_after::text, r.error, r.host, r.pid"
        " FROM unnest(" + tx.quote(array_literal(pipelines)) + "::text[]) AS p(name)"
        " CROSS JOIN LATERAL (SELECT * FROM " + table(schema, "runs") + " x WHERE x.pipeline = p.name"
        " ORDER BY x.run_id DESC LIMIT " + std::to_string(limit) + ") r"
        " ORDER BY r.started_at DESC, r.run_id DESC");
    for (const auto& row : r) {
      HistoryRow h;
      h.run_id = row[0].as<int64_t>();
      h.pipeline = row[1].c_str();
      h.mode = row[2].c_str();
      h.status = row[3].c_str();
      h.started_at = row[4].c_str();
      h.finished_at = row[5].is_null() ? "" : row[5].c_str();
      h.started_epoch = row[6].as<double>();
      h.seconds = opt<double>(row[7]);
      h.rows_read = opt<int64_t>(row[8]);
      h.rows_written = opt<int64_t>(row[9]);
      h.rows_deleted = opt<int64_t>(row[10]);
      h.watermark_before = watermark(row[11]);
      h.watermark_after = watermark(row[12]);
      h.error = row[13].is_null() ? "" : row[13].c_str();
      h.host = row[14].is_null() ? "" : row[14].c_str();
      h.pid = opt<int64_t>(row[15]);
      out.push_back(std::move(h));
    }
    return out;
  } catch (...) {
    translate("state store '" + c.name() + "' (schema " + schema + ")");
  }
}

std::vector<PipelineFacts> pipeline_facts(Connection& c, const std::string& schema,
                                          const std::vector<std::string>& pipelines, double since) {
  try {
    pqxx::nontransaction tx(c.raw());
    std::vector<PipelineFacts> out;
    if (!tables_exist(tx, schema)) {
      for (const auto& p : pipelines) out.push_back({p, std::nullopt, std::nullopt, std::nullopt});
      return out;
    }
    char host[256] = {0};
    gethostname(host, sizeof host - 1);  // as StateStore::start_run records it
    char since_text[64];
    std::snprintf(since_text, sizeof since_text, "%.6f", since);
    const std::string runs = table(schema, "runs");
    // Both subqueries walk runs_pipeline_run_id backwards and stop at the first match.
    pqxx::result r = tx.exec(
        "SELECT p.name, (SELECT extract(epoch FROM x.finished_at)::float8 FROM " + runs + " x"
        " WHERE x.pipeline = p.name AND x.status = 'succeeded' AND x.mode <> 'reconcile'"
        " ORDER BY x.run_id DESC LIMIT 1),"
        " s.watermark::text,"
        " (SELECT extract(epoch FROM x.finished_at - x.started_at)::float8 FROM " + runs + " x"
        " WHERE x.pipeline = p.name AND x.mode <> 'reconcile' AND x.finished_at IS NOT NULL AND x.host = " +
        tx.quote(std::string(host)) + " AND x.pid = " + std::to_string(getpid()) +
        " AND x.started_at >= to_timestamp(" + since_text + ") ORDER BY x.run_id DESC LIMIT 1)"
        " FROM unnest(" + tx.quote(array_literal(pipelines)) + "::text[]) WITH ORDINALITY AS p(name, i)"
        " LEFT JOIN " + table(schema, "pipeline_state") + " s ON s.pipeline = p.name ORDER BY p.i");
    for (const auto& row : r) {
      PipelineFacts f;
      f.pipeline = row[0].c_str();
      f.last_success = opt<double>(row[1]);
      if (auto w = watermark(row[2]); w && w->safe && !w->safe->empty()) f.safe_cursor = w->safe->front();
      f.run_seconds = opt<double>(row[3]);
      out.push_back(std::move(f));
    }
    return out;
  } catch (...) {
    translate("state store '" + c.name() + "' (schema " + schema + ")");
  }
}

}  // namespace tidemark::pg
