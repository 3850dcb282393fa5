// tidemark.pipeline_state (the watermark, compare-and-set on its version) and tidemark.runs
// (the run records), and the status view of both.
#include <unistd.h>

#include <algorithm>

#include "pg/internal.hpp"
#include "pg/reconcile.hpp"
#include "pg/state_sql.hpp"

namespace tidemark::pg {

using state_sql::table;

namespace {

// The compare-and-set of StateStore::save as one statement: one row affected when it took.
std::string save_sql(pqxx::transaction_base& tx, const std::string& schema, const std::optional<StateIdentity>& identity,
                     const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                     const Watermark& next) {
  const std::string wm = tx.quote(next.to_json().dump()) + "::jsonb";
  const std::string id = identity ? tx.quote(identity->to_json().dump()) + "::jsonb" : std::string("NULL");
  if (!seen.exists)
    return "INSERT INTO " + table(schema, "pipeline_state") + " (pipeline, strategy, watermark, version, identity) VALUES (" +
           tx.quote(pipeline) + ", " + tx.quote(strategy) + ", " + wm + ", 1, " + id +
           ") ON CONFLICT (pipeline) DO NOTHING";
  return "UPDATE " + table(schema, "pipeline_state") + " SET strategy = " + tx.quote(strategy) + ", watermark = " + wm +
         (identity ? ", identity = " + id : std::string()) +
         ", version = version + 1, updated_at = now() WHERE pipeline = " + tx.quote(pipeline) +
         " AND version = " + std::to_string(seen.version);
}

[[noreturn]] void state_conflict(const std::string& pipeline) {
  throw StateConflict("pipeline " + pipeline +
                      ": its state changed while this run was working (another run moved it); nothing was committed");
}

// The compare-and-set of StateStore::save; throws StateConflict.
void save_in(pqxx::transaction_base& tx, const std::string& schema, const std::optional<StateIdentity>& identity,
           const std::string& pipeline, const std::string& strategy, const StoredState& seen, const Watermark& next) {
  if (tx.exec(save_sql(tx, schema, identity, pipeline, strategy, seen, next)).affected_rows() != 1)
    state_conflict(pipeline);
}

std::string finish_sql(pqxx::transaction_base& tx, const std::string& schema, const RunRecord& r);

std::string finish_sql(pqxx::transaction_base& tx, const std::string& schema, const RunRecord& r) {
  std::string wm = r.watermark_after ? tx.quote(r.watermark_after->to_json().dump()) + "::jsonb" : "NULL";
  return "UPDATE " + table(schema, "runs") + " SET finished_at = " +
         (r.status == "running" ? std::string("NULL") : std::string("clock_timestamp()")) +
         ", status = " + tx.quote(r.status) +
         ", rows_read = " + std::to_string(r.rows_read) + ", rows_written = " + std::to_string(r.rows_written) +
         ", rows_deleted = " + std::to_string(r.rows_deleted) + ", watermark_after = " + wm +
         ", error = " + (r.error.empty() ? std::string("NULL") : tx.quote(r.error)) +
         " WHERE run_id = " + std::to_string(r.id);
}

void finish_in(pqxx::transaction_base& tx, const std::string& schema, const RunRecord& r) {
  tx.exec(finish_sql(tx, schema, r));
}

// A pipeline_state row read as (strategy, version, watermark::text, identity::text, …).
StoredState stored_state(const pqxx::row& row) {
  StoredState s;
  s.exists = true;
  s.strategy = row[0].c_str();
  s.version = row[1].as<int64_t>();
  if (!row[2].is_null()) {
    try {
      s.watermark = Watermark::from_json(nlohmann::json::parse(row[2].c_str()));
    } catch (const nlohmann::json::exception& e) {
      throw RunError(std::string("stored watermark is not valid JSON: ") + e.what());
    }
  }
  if (!row[3].is_null()) {
    try {
      s.identity = StateIdentity::from_json(nlohmann::json::parse(row[3].c_str()));
    } catch (const nlohmann::json::exception& e) {
      throw RunError(std::string("stored identity is not valid JSON: ") + e.what());
    } catch (const RunError& e) {
      throw RunError(std::string("stored identity is malformed: ") + e.what());
    }
  }
  return s;
}

}  // namespace

void StateStore::forget(const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("DELETE FROM " + table(schema_, "pipeline_state") + " WHERE pipeline = " + tx.quote(pipeline));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

StoredState StateStore::load(const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(c_.raw());
    StoredState s;
    // A dry run before the first real run finds no state tables: that is "no state yet".
    if (!c_.state_ready(schema_) &&
        tx.exec1("SELECT to_regclass(" + tx.quote(table(schema_, "pipeline_state")) + ") IS NULL")[0].as<bool>())
      return s;
    // A dry run may meet the table of an earlier tidemark, before ensure_schema added identity.
    const bool has_identity =
        c_.state_ready(schema_) || tx.exec1("SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" +
                                  tx.quote(table(schema_, "pipeline_state")) + ") AND attname = 'identity')")[0]
                             .as<bool>();
    pqxx::result r = tx.exec("SELECT strategy, version, watermark::text, " +
                             std::string(has_identity ? "identity::text" : "NULL") + " FROM " + table(schema_, "pipeline_state") +
                             " WHERE pipeline = " + tx.quote(pipeline));
    if (r.empty()) return s;
    return stored_state(r[0]);
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

std::map<std::string, StoredState> StateStore::load_all(const std::vector<std::string>& pipelines) {
  try {
    std::map<std::string, StoredState> out;
    if (!c_.state_ready(schema_)) return out;
    pqxx::nontransaction tx(c_.raw());
    const pqxx::result r = tx.exec("SELECT strategy, version, watermark::text, identity::text, pipeline FROM " +
                                   table(schema_, "pipeline_state") + " WHERE pipeline = ANY (" +
                                   tx.quote(array_literal(pipelines)) + "::text[])");
    for (const auto& row : r) out.emplace(row[4].c_str(), stored_state(row));
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::put(const std::string& pipeline, const std::string& strategy, const Watermark& w,
                     const std::optional<StateIdentity>& identity) {
  try {
    pqxx::work tx(c_.raw());
    const std::string id = identity ? tx.quote(identity->to_json().dump()) + "::jsonb" : std::string("NULL");
    tx.exec("INSERT INTO " + table(schema_, "pipeline_state") + " (pipeline, strategy, watermark, version, identity) VALUES (" +
            tx.quote(pipeline) + ", " + tx.quote(strategy) + ", " + tx.quote(w.to_json().dump()) + "::jsonb, 1, " + id +
            ") ON CONFLICT (pipeline) DO UPDATE SET strategy = EXCLUDED.strategy, watermark = "
            "EXCLUDED.watermark, identity = EXCLUDED.identity, version = " + table(schema_, "pipeline_state") +
            ".version + 1, updated_at = now()");
    tx.commit();
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

bool StateStore::set_identity(const std::string& pipeline, const StateIdentity& identity, bool only_if_none) {
  try {
    pqxx::work tx(c_.raw());
    const bool changed = tx.exec("UPDATE " + table(schema_, "pipeline_state") + " SET identity = " +
                                 tx.quote(identity.to_json().dump()) + "::jsonb WHERE pipeline = " + tx.quote(pipeline) +
                                 (only_if_none ? " AND identity IS NULL" : ""))
                             .affected_rows() == 1;
    tx.commit();
    return changed;
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

int64_t StateStore::start_run(const std::string& pipeline, const std::string& mode, const Watermark& before) {
  try {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    // One statement, so one round trip and atomic: we hold the pipeline's lock, so a run
    // still marked running was killed; it is marked abandoned as the new record goes in.
    pqxx::nontransaction tx(c_.raw());
    pqxx::row r = tx.exec1("WITH abandoned AS (UPDATE " + table(schema_, "runs") +
                           " SET status = 'abandoned', finished_at = clock_timestamp(),"
                           " error = 'the process ended without finishing the run' WHERE pipeline = " +
                           tx.quote(pipeline) + " AND status = 'running') INSERT INTO " + table(schema_, "runs") +
                           " (pipeline, mode, status, watermark_before, host, pid) VALUES (" + tx.quote(pipeline) + ", " +
                           tx.quote(mode) + ", 'running', " + tx.quote(before.to_json().dump()) + "::jsonb, " +
                           tx.quote(std::string(host)) + ", " + std::to_string(getpid()) + ") RETURNING run_id");
    return r[0].as<int64_t>();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::record_failure(const std::string& pipeline, const std::string& mode,
                                const std::optional<Watermark>& before, const std::string& error, double seconds) {
  try {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    pqxx::work tx(c_.raw());
    tx.exec("INSERT INTO " + table(schema_, "runs") +
            " (pipeline, mode, started_at, finished_at, status, rows_read, rows_written, rows_deleted,"
            " watermark_before, error, host, pid) VALUES (" + tx.quote(pipeline) + ", " + tx.quote(mode) +
            ", clock_timestamp() - " + tx.quote(std::to_string(std::max(0.0, seconds))) +
            " * interval '1 second', clock_timestamp(), 'failed', 0, 0, 0, " +
            (before ? tx.quote(before->to_json().dump()) + "::jsonb" : std::string("NULL")) + ", " + tx.quote(error) +
            ", " + tx.quote(std::string(host)) + ", " + std::to_string(getpid()) + ")");
    tx.commit();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::map<std::string, int64_t> StateStore::record_quiet(const std::vector<QuietRun>& runs, double seconds) {
  try {
    std::map<std::string, int64_t> out;
    if (runs.empty()) return out;
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    pqxx::nontransaction tx(c_.raw());
    std::string values;
    for (const QuietRun& q : runs)
      values += std::string(values.empty() ? "" : ", ") + "(" + tx.quote(q.pipeline) + ", " +
                std::to_string(q.seen_version) + "::bigint, " + tx.quote(q.watermark.to_json().dump()) + "::jsonb, " +
                tx.quote(q.identity.to_json().dump()) + "::jsonb, " + tx.quote(q.mode) + ", " +
                state_sql::lock_key(c_, schema_, q.pipeline) + ")";
    // One statement, atomic: a pipeline whose lock a run holds, or whose state moved since it
    // was read (the version), is left out, and runs on its own. The rest: the state saved as a
    // run saves it (a new version, the identity), the runs killed before marked abandoned (we
    // hold the lock, as start_run does), and a finished record of a run that read nothing.
    const std::string sql =
        "WITH c(pipeline, version, watermark, identity, mode, lock_key) AS (VALUES " + values + "),"
        " locked AS (SELECT * FROM c WHERE pg_try_advisory_xact_lock(c.lock_key)),"
        " state AS (UPDATE " + table(schema_, "pipeline_state") + " s SET watermark = l.watermark,"
        "   identity = l.identity, version = s.version + 1, updated_at = now() FROM locked l"
        "   WHERE s.pipeline = l.pipeline AND s.version = l.version RETURNING s.pipeline),"
        " abandoned AS (UPDATE " + table(schema_, "runs") + " SET status = 'abandoned', finished_at = clock_timestamp(),"
        "   error = 'the process ended without finishing the run' WHERE status = 'running'"
        "   AND pipeline IN (SELECT pipeline FROM state)),"
        " run AS (INSERT INTO " + table(schema_, "runs") +
        "   (pipeline, mode, started_at, finished_at, status, rows_read, rows_written, rows_deleted,"
        "   watermark_before, watermark_after, host, pid) SELECT c.pipeline, c.mode, clock_timestamp() - " +
        tx.quote(std::to_string(std::max(0.0, seconds))) + " * interval '1 second', clock_timestamp(), 'succeeded',"
        "   0, 0, 0, c.watermark, c.watermark, " + tx.quote(std::string(host)) + ", " + std::to_string(getpid()) +
        "   FROM c JOIN state USING (pipeline) RETURNING pipeline, run_id)"
        " SELECT pipeline, run_id FROM run";
    for (const auto& row : tx.exec(sql)) out.emplace(row[0].c_str(), row[1].as<int64_t>());
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::save(Target& tgt, const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                      const Watermark& next) {
  try {
    save_in(tgt.tx(), schema_, identity_, pipeline, strategy, seen, next);
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

void StateStore::finish_run(Target& tgt, const RunRecord& r) {
  try {
    finish_in(tgt.tx(), schema_, r);
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::finish_run(KeySide& target, const RunRecord& r) {
  try {
    finish_in(target.tx(), schema_, r);
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::finish_run(const RunRecord& r) {
  try {
    pqxx::work tx(c_.raw());
    finish_in(tx, schema_, r);
    tx.commit();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::save_and_finish(const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                                 const std::optional<Watermark>& next, const RunRecord& r,
                                 const std::optional<std::pair<ChunkRef, std::string>>& chunk) {
  try {
    if (!chunk) {
      // One statement (one round trip, atomic): the compare-and-set in a CTE, the run record
      // updated only when it took; no state row changed: the state moved under us.
      pqxx::nontransaction tx(c_.raw());
      const std::string finish = finish_sql(tx, schema_, r);
      if (!next) {
        tx.exec(finish);
        return;
      }
      const pqxx::row done = tx.exec1("WITH state AS (" + save_sql(tx, schema_, identity_, pipeline, strategy, seen, *next) +
                                      " RETURNING 1), run AS (" + finish + " AND EXISTS (SELECT FROM state) RETURNING 1)"
                                      " SELECT (SELECT count(*) FROM state), (SELECT count(*) FROM run)");
      if (done[0].as<int64_t>() != 1) state_conflict(pipeline);
      return;
    }
    pqxx::work tx(c_.raw());
    if (next) {
      try {
        save_in(tx, schema_, identity_, pipeline, strategy, seen, *next);
      } catch (...) {
        translate("state of pipeline " + pipeline);
      }
    }
    if (chunk) state_sql::mark_chunk_done(tx, schema_, pipeline, chunk->first, chunk->second, r);
    finish_in(tx, schema_, r);
    tx.commit();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

int64_t StateStore::last_run_id() {
  try {
    pqxx::nontransaction tx(c_.raw());
    return tx.exec1("SELECT coalesce(max(run_id), 0) FROM " + table(schema_, "runs"))[0].as<int64_t>();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<std::pair<std::string, StoredState>> StateStore::list(const std::string& prefix) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<std::pair<std::string, StoredState>> out;
    if (!c_.state_ready(schema_) &&
        tx.exec1("SELECT to_regclass(" + tx.quote(table(schema_, "pipeline_state")) + ") IS NULL")[0].as<bool>())
      return out;
    // to_jsonb(s) reads identity from a table of an earlier tidemark that lacks the column too.
    pqxx::result r = tx.exec("SELECT pipeline, strategy, (to_jsonb(s) -> 'identity')::text FROM " +
                             table(schema_, "pipeline_state") + " s WHERE left(pipeline, " +
                             std::to_string(prefix.size()) + ") = " + tx.quote(prefix) + " ORDER BY pipeline");
    for (const auto& row : r) {
      StoredState st;
      st.exists = true;
      st.strategy = row[1].c_str();
      if (!row[2].is_null() && std::string(row[2].c_str()) != "null") {
        try {
          st.identity = StateIdentity::from_json(nlohmann::json::parse(row[2].c_str()));
        } catch (const std::exception&) {  // the run of that pipeline reports it; a listing goes on
        }
      }
      out.emplace_back(row[0].c_str(), std::move(st));
    }
    return out;
  } catch (...) {
    translate("state '" + c_.name() + "'");
  }
}

std::vector<StatusRow> StateStore::status(const std::vector<std::string>& pipelines) {
  try {
    pqxx::nontransaction tx(c_.raw());
    pqxx::result exists = tx.exec("SELECT to_regclass(" + tx.quote(table(schema_, "pipeline_state")) + ") IS NOT NULL AND to_regclass(" +
                                  tx.quote(table(schema_, "runs")) + ") IS NOT NULL");
    std::vector<StatusRow> out;
    if (!exists[0][0].as<bool>()) {
      for (const auto& p : pipelines) {
        StatusRow row;
        row.pipeline = p;
        out.push_back(row);
      }
      return out;
    }
    pqxx::result r = tx.exec(
        "SELECT p.name, s.strategy, s.watermark::text, " + rfc3339("s.updated_at") + ", r.run_id, r.mode,"
        " r.status, " + rfc3339("r.started_at") + ", " + rfc3339("r.finished_at") + ","
        " r.rows_read, r.rows_written, r.error"
        " FROM unnest(" + tx.quote(array_literal(pipelines)) + "::text[]) WITH ORDINALITY AS p(name, i)"
        " LEFT JOIN " + table(schema_, "pipeline_state") + " s ON s.pipeline = p.name"
        " LEFT JOIN LATERAL (SELECT * FROM " + table(schema_, "runs") + " x WHERE x.pipeline = p.name ORDER BY x.run_id DESC LIMIT 1) r ON true"
        " ORDER BY p.i");
    for (const auto& row : r) {
      StatusRow s;
      s.pipeline = row[0].c_str();
      s.has_state = !row[1].is_null();
      if (s.has_state) {
        s.strategy = row[1].c_str();
        if (!row[2].is_null()) s.watermark = Watermark::from_json(nlohmann::json::parse(row[2].c_str()));
        s.state_updated_at = row[3].c_str();
      }
      if (!row[4].is_null()) {
        s.last_run_id = row[4].as<int64_t>();
        s.last_mode = row[5].c_str();
        s.last_status = row[6].c_str();
        s.last_started = row[7].c_str();
        s.last_finished = row[8].is_null() ? "" : row[8].c_str();
        s.last_rows_read = row[9].is_null() ? 0 : row[9].as<int64_t>();
        s.last_rows_written = row[10].is_null() ? 0 : row[10].as<int64_t>();
        s.last_error = row[11].is_null() ? "" : row[11].c_str();
      }
      out.push_back(std::move(s));
    }
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

}  // namespace tidemark::pg
