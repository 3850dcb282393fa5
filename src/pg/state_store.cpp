// tidemark.pipeline_state and tidemark.runs, and the per-pipeline advisory lock.
#include <unistd.h>

#include <algorithm>

#include "pg/internal.hpp"

namespace tidemark::pg {

std::string StateStore::table(const std::string& t) const { return quote_ident(schema_) + "." + quote_ident(t); }

void StateStore::ensure_schema() {
  try {
    {
      pqxx::nontransaction tx(c_.raw());
      pqxx::row r = tx.exec1("SELECT to_regclass(" + tx.quote(table("pipeline_state")) + ") IS NOT NULL AND to_regclass(" +
                             tx.quote(table("runs")) + ") IS NOT NULL AND to_regclass(" +
                             tx.quote(table("backfill_chunks")) + ") IS NOT NULL AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" +
                             tx.quote(table("backfill_chunks")) + ") AND attname = 'attempts') AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" +
                             tx.quote(table("pipeline_state")) + ") AND attname = 'identity') AND to_regclass(" + tx.quote(table("backfills")) + ") IS NOT NULL AND to_regclass(" +
                             tx.quote(table("files")) + ") IS NOT NULL AND to_regclass(" + tx.quote(table("rejects")) +
                             ") IS NOT NULL");
      if (r[0].as<bool>()) {  // the common case: one cheap query per run
        schema_ready_ = true;
        return;
      }
    }
    pqxx::work tx(c_.raw());
    // Serialise concurrent first runs: CREATE … IF NOT EXISTS races on the catalog otherwise.
    tx.exec("SELECT pg_advisory_xact_lock(hashtextextended(" + tx.quote("tidemark-schema:" + schema_) + ", 0))");
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema_));
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("pipeline_state") +
            " (pipeline text PRIMARY KEY, strategy text NOT NULL, watermark jsonb,"
            " version bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), identity jsonb)");
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("runs") +
            " (run_id bigserial PRIMARY KEY, pipeline text NOT NULL, mode text NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,"
            " status text NOT NULL, rows_read bigint, rows_written bigint, rows_deleted bigint,"
            " watermark_before jsonb, watermark_after jsonb, error text, host text, pid integer)");
    tx.exec("CREATE INDEX IF NOT EXISTS runs_pipeline_run_id ON " + table("runs") + " (pipeline, run_id DESC)");
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("backfill_chunks") +
            " (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL, chunk_from text NOT NULL,"
            " chunk_to text NOT NULL, seq integer NOT NULL, status text NOT NULL, rows_read bigint, rows_written bigint, rows_deleted bigint,"
            " run_id bigint, finished_at timestamptz, worker text, lease_until timestamptz, attempts integer NOT NULL DEFAULT 0,"
            " PRIMARY KEY (pipeline, range_from, range_to, chunk_from))");
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("backfills") +
            " (pipeline text NOT NULL, range_from text NOT NULL, range_to text NOT NULL,"
            " registered_at timestamptz NOT NULL DEFAULT clock_timestamp(), advance_blocker text,"
            " PRIMARY KEY (pipeline, range_from, range_to))");
    // Strategy files: the manifest of files loaded, and the rows quarantined (file_store.cpp).
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("files") +
            " (pipeline text NOT NULL, path text NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,"
            " checksum text NOT NULL, rows bigint NOT NULL, rejected bigint NOT NULL DEFAULT 0, run_id bigint,"
            " loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (pipeline, path))");
    tx.exec("CREATE TABLE IF NOT EXISTS " + table("rejects") +
            " (reject_id bigserial PRIMARY KEY, pipeline text NOT NULL, path text NOT NULL, line bigint NOT NULL,"
            " reason text NOT NULL, raw text, run_id bigint, rejected_at timestamptz NOT NULL DEFAULT clock_timestamp())");
    tx.exec("CREATE INDEX IF NOT EXISTS rejects_pipeline_path ON " + table("rejects") + " (pipeline, path)");
    // Tables made by an earlier tidemark: add what chunk claiming now needs.
    tx.exec("ALTER TABLE " + table("backfill_chunks") +
            " ADD COLUMN IF NOT EXISTS worker text, ADD COLUMN IF NOT EXISTS lease_until timestamptz,"
            " ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0");
    // What each state is of (docs/correctness.md#identity-of-state); rows of an earlier
    // tidemark have none until their next run records it.
    tx.exec("ALTER TABLE " + table("pipeline_state") + " ADD COLUMN IF NOT EXISTS identity jsonb");
    tx.commit();
    schema_ready_ = true;
  } catch (...) {
    translate("state store '" + c_.name() + "' (schema " + schema_ + ")");
  }
}

std::string StateStore::lock_key(const std::string& name) const {
  return "hashtextextended(" + c_.raw().quote("tidemark:" + schema_ + ":" + name) + ", 0)";
}

bool StateStore::try_lock(const std::string& pipeline, bool shared) {
  try {
    pqxx::nontransaction tx(c_.raw());
    if (shared) {  // backfill chunks: wait out an incremental run, run beside other chunks
      tx.exec("SELECT pg_advisory_lock_shared(" + lock_key(pipeline) + ")");
      return true;
    }
    return tx.exec1("SELECT pg_try_advisory_lock(" + lock_key(pipeline) + ")")[0].as<bool>();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

PipelineLock::PipelineLock(StateStore& store, std::string pipeline, bool take, bool shared, const std::string& what)
    : store_(store), pipeline_(std::move(pipeline)), held_(false), shared_(shared) {
  if (!take) return;
  if (!store_.try_lock(pipeline_, shared_))
    throw LockBusy("pipeline " + pipeline_ + " is already running (advisory lock held); " + what);
  held_ = true;
}

PipelineLock::~PipelineLock() {
  if (held_) store_.unlock(pipeline_, shared_);
}

void StateStore::unlock(const std::string& pipeline, bool shared) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec(std::string("SELECT pg_advisory_unlock") + (shared ? "_shared(" : "(") + lock_key(pipeline) + ")");
  } catch (...) {  // a lost connection released the lock already
  }
}

// Claiming a chunk: the candidates not done, in range order, each locked FOR UPDATE SKIP
// LOCKED so concurrent claimers never wait on each other. A pending chunk is claimed with
// the chunk's session advisory lock. A running chunk is taken over when its advisory lock is
// free (the worker's session ended: the process died) or when its lease ran out without a
// heartbeat (the worker's host froze or vanished while its session lingers on the server).
ChunkClaim StateStore::claim_chunk(const std::string& pipeline, const ChunkRef& range, const std::string& worker,
                                   int64_t lease_seconds) {
  try {
    pqxx::work tx(c_.raw());
    const std::string where = " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
                              tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to);
    int64_t after = -1;
    for (;;) {
      pqxx::result r = tx.exec("SELECT chunk_from, chunk_to, seq, status, coalesce(worker, ''),"
                               " coalesce(lease_until < clock_timestamp(), true) FROM " +
                               table("backfill_chunks") + where + " AND status <> 'done' AND seq > " +
                               std::to_string(after) + " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED");
      if (r.empty()) break;
      const pqxx::row row = r[0];
      after = row[2].as<int64_t>();
      const Chunk c{row[0].c_str(), row[1].c_str()};
      const bool running = std::string(row[3].c_str()) == "running";
      const bool locked = tx.exec1("SELECT pg_try_advisory_lock(" + chunk_key(pipeline, range, c) + ")")[0].as<bool>();
      const bool expired = row[5].as<bool>();
      if (!locked && !(running && expired)) continue;  // a live worker has it
      tx.exec("UPDATE " + table("backfill_chunks") + " SET status = 'running', worker = " + tx.quote(worker) +
              ", lease_until = clock_timestamp() + " + std::to_string(lease_seconds) +
              " * interval '1 second', attempts = attempts + 1" + where + " AND chunk_from = " + tx.quote(c.from));
      tx.commit();
      ChunkClaim claim{ChunkClaim::Kind::kClaimed, c, {}};
      if (running) claim.previous_worker = row[4].c_str();
      return claim;
    }
    // Nothing claimable: done, or every chunk left is with a live worker (or being claimed).
    const bool left = tx.exec1("SELECT count(*) > 0 FROM " + table("backfill_chunks") + where +
                               " AND status <> 'done'")[0]
                          .as<bool>();
    tx.commit();
    return ChunkClaim{left ? ChunkClaim::Kind::kBusy : ChunkClaim::Kind::kNone, {}, {}};
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

bool StateStore::renew_lease(const std::string& pipeline, const ChunkRef& range, const Chunk& c,
                             const std::string& worker, int64_t lease_seconds) {
  try {
    pqxx::nontransaction tx(c_.raw());
    return tx.exec("UPDATE " + table("backfill_chunks") + " SET lease_until = clock_timestamp() + " +
                   std::to_string(lease_seconds) + " * interval '1 second' WHERE pipeline = " + tx.quote(pipeline) +
                   " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to) +
                   " AND chunk_from = " + tx.quote(c.from) + " AND status = 'running' AND worker = " +
                   tx.quote(worker))
               .affected_rows() == 1;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::release_chunk(const std::string& pipeline, const ChunkRef& range, const Chunk& c,
                               const std::string& worker) {
  try {
    pqxx::nontransaction tx(c_.raw());
    // Still ours and not done (the run failed): failed, claimable at once.
    tx.exec("UPDATE " + table("backfill_chunks") + " SET status = 'failed', lease_until = NULL" +
            " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) +
            " AND range_to = " + tx.quote(range.range_to) + " AND chunk_from = " + tx.quote(c.from) +
            " AND status = 'running' AND worker = " + tx.quote(worker));
    tx.exec("SELECT pg_advisory_unlock(" + chunk_key(pipeline, range, c) + ")");
  } catch (...) {  // a lost connection released the lock already; the lease runs out
  }
}

void StateStore::fail_worker_chunks(const std::string& pipeline, const ChunkRef& range, const std::string& worker) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("UPDATE " + table("backfill_chunks") + " SET status = 'failed', lease_until = NULL WHERE pipeline = " +
            tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " +
            tx.quote(range.range_to) + " AND status = 'running' AND worker = " + tx.quote(worker));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

int64_t StateStore::last_run_id() {
  try {
    pqxx::nontransaction tx(c_.raw());
    return tx.exec1("SELECT coalesce(max(run_id), 0) FROM " + table("runs"))[0].as<int64_t>();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

ChunkTotals StateStore::chunk_totals(const std::string& pipeline, const ChunkRef& range,
                                     const std::vector<std::string>& workers, int64_t after_run_id) {
  try {
    pqxx::nontransaction tx(c_.raw());
    const pqxx::row r = tx.exec1(
        "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_written), 0), coalesce(sum(rows_deleted), 0)"
        " FROM " + table("backfill_chunks") + " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
        tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to) + " AND status = 'done'" +
        " AND run_id > " + std::to_string(after_run_id) + " AND worker = ANY(" + tx.quote(array_literal(workers)) +
        "::text[])");
    return {r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>()};
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::string StateStore::chunk_key(const std::string& pipeline, const ChunkRef& range, const Chunk& c) const {
  return lock_key(pipeline + ":chunk:" + range.range_from + ":" + range.range_to + ":" + c.from);
}

void StateStore::forget(const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("DELETE FROM " + table("pipeline_state") + " WHERE pipeline = " + tx.quote(pipeline));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

StoredState StateStore::load(const std::string& pipeline) {
  try {
    pqxx::nontransaction tx(c_.raw());
    StoredState s;
    // A dry run before the first real run finds no state tables: that is "no state yet".
    if (!schema_ready_ &&
        tx.exec1("SELECT to_regclass(" + tx.quote(table("pipeline_state")) + ") IS NULL")[0].as<bool>())
      return s;
    // A dry run may meet the table of an earlier tidemark, before ensure_schema added identity.
    const bool has_identity =
        schema_ready_ || tx.exec1("SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(" +
                                  tx.quote(table("pipeline_state")) + ") AND attname = 'identity')")[0]
                             .as<bool>();
    pqxx::result r = tx.exec("SELECT strategy, version, watermark::text, " +
                             std::string(has_identity ? "identity::text" : "NULL") + " FROM " + table("pipeline_state") +
                             " WHERE pipeline = " + tx.quote(pipeline));
    if (r.empty()) return s;
    s.exists = true;
    s.strategy = r[0][0].c_str();
    s.version = r[0][1].as<int64_t>();
    if (!r[0][2].is_null()) {
      try {
        s.watermark = Watermark::from_json(nlohmann::json::parse(r[0][2].c_str()));
      } catch (const nlohmann::json::exception& e) {
        throw RunError(std::string("stored watermark is not valid JSON: ") + e.what());
      }
    }
    if (!r[0][3].is_null()) {
      try {
        s.identity = StateIdentity::from_json(nlohmann::json::parse(r[0][3].c_str()));
      } catch (const nlohmann::json::exception& e) {
        throw RunError(std::string("stored identity is not valid JSON: ") + e.what());
      } catch (const RunError& e) {
        throw RunError(std::string("stored identity is malformed: ") + e.what());
      }
    }
    return s;
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

void StateStore::put(const std::string& pipeline, const std::string& strategy, const Watermark& w,
                     const std::optional<StateIdentity>& identity) {
  try {
    pqxx::work tx(c_.raw());
    const std::string id = identity ? tx.quote(identity->to_json().dump()) + "::jsonb" : std::string("NULL");
    tx.exec("INSERT INTO " + table("pipeline_state") + " (pipeline, strategy, watermark, version, identity) VALUES (" +
            tx.quote(pipeline) + ", " + tx.quote(strategy) + ", " + tx.quote(w.to_json().dump()) + "::jsonb, 1, " + id +
            ") ON CONFLICT (pipeline) DO UPDATE SET strategy = EXCLUDED.strategy, watermark = "
            "EXCLUDED.watermark, identity = EXCLUDED.identity, version = " + table("pipeline_state") +
            ".version + 1, updated_at = now()");
    tx.commit();
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

bool StateStore::set_identity(const std::string& pipeline, const StateIdentity& identity, bool only_if_none) {
  try {
    pqxx::work tx(c_.raw());
    const bool changed = tx.exec("UPDATE " + table("pipeline_state") + " SET identity = " +
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
    pqxx::work tx(c_.raw());
    // We hold the pipeline's lock, so a run still marked running was killed.
    tx.exec("UPDATE " + table("runs") + " SET status = 'abandoned', finished_at = clock_timestamp()," +
            " error = 'the process ended without finishing the run' WHERE pipeline = " + tx.quote(pipeline) +
            " AND status = 'running'");
    pqxx::row r = tx.exec1("INSERT INTO " + table("runs") +
                           " (pipeline, mode, status, watermark_before, host, pid) VALUES (" + tx.quote(pipeline) + ", " +
                           tx.quote(mode) + ", 'running', " + tx.quote(before.to_json().dump()) + "::jsonb, " +
                           tx.quote(std::string(host)) + ", " + std::to_string(getpid()) + ") RETURNING run_id");
    tx.commit();
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
    tx.exec("INSERT INTO " + table("runs") +
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

void StateStore::save(pqxx::transaction_base& tx, const std::string& pipeline, const std::string& strategy,
                      const StoredState& seen, const Watermark& next) {
  try {
    const std::string wm = tx.quote(next.to_json().dump()) + "::jsonb";
    const std::string id = identity_ ? tx.quote(identity_->to_json().dump()) + "::jsonb" : std::string("NULL");
    pqxx::result r;
    if (!seen.exists) {
      r = tx.exec("INSERT INTO " + table("pipeline_state") + " (pipeline, strategy, watermark, version, identity) VALUES (" +
                  tx.quote(pipeline) + ", " + tx.quote(strategy) + ", " + wm + ", 1, " + id +
                  ") ON CONFLICT (pipeline) DO NOTHING");
    } else {
      r = tx.exec("UPDATE " + table("pipeline_state") + " SET strategy = " + tx.quote(strategy) + ", watermark = " + wm +
                  (identity_ ? ", identity = " + id : std::string()) +
                  ", version = version + 1, updated_at = now() WHERE pipeline = " + tx.quote(pipeline) +
                  " AND version = " + std::to_string(seen.version));
    }
    if (r.affected_rows() != 1)
      throw StateConflict("pipeline " + pipeline +
                          ": its state changed while this run was working (another run moved it); nothing was committed");
  } catch (...) {
    translate("state of pipeline " + pipeline);
  }
}

void StateStore::finish_run(pqxx::transaction_base& tx, const RunRecord& r) {
  try {
    std::string wm = r.watermark_after ? tx.quote(r.watermark_after->to_json().dump()) + "::jsonb" : "NULL";
    tx.exec("UPDATE " + table("runs") + " SET finished_at = " +
            (r.status == "running" ? std::string("NULL") : std::string("clock_timestamp()")) +
            ", status = " + tx.quote(r.status) +
            ", rows_read = " + std::to_string(r.rows_read) + ", rows_written = " + std::to_string(r.rows_written) +
            ", rows_deleted = " + std::to_string(r.rows_deleted) + ", watermark_after = " + wm +
            ", error = " + (r.error.empty() ? std::string("NULL") : tx.quote(r.error)) +
            " WHERE run_id = " + std::to_string(r.id));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::finish_run(const RunRecord& r) {
  try {
    pqxx::work tx(c_.raw());
    finish_run(tx, r);
    tx.commit();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::save_and_finish(const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                                 const std::optional<Watermark>& next, const RunRecord& r,
                                 const std::optional<std::pair<ChunkRef, std::string>>& chunk) {
  try {
    pqxx::work tx(c_.raw());
    if (next) save(tx, pipeline, strategy, seen, *next);
    if (chunk) mark_chunk_done(tx, pipeline, chunk->first, chunk->second, r);
    finish_run(tx, r);
    tx.commit();
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<Chunk> StateStore::register_chunks(const std::string& pipeline, const ChunkRef& range,
                                               const std::vector<Chunk>& chunks, bool restart,
                                               const std::optional<std::string>& advance_blocker) {
  try {
    pqxx::work tx(c_.raw());
    const std::string where = " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
                              tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to);
    if (restart) {
      tx.exec("DELETE FROM " + table("backfill_chunks") + where);
      tx.exec("DELETE FROM " + table("backfills") + where);
    }
    pqxx::result known = tx.exec("SELECT chunk_from, chunk_to, status FROM " + table("backfill_chunks") + where);
    // What the source looked like before the first chunk was read decides whether the
    // watermark may move to the range's end (advance.cpp); a resumed backfill keeps it.
    const std::optional<std::string> blocker =
        known.empty() ? advance_blocker
                      : std::optional<std::string>("the backfill began under an earlier tidemark; rerun it with --restart");
    tx.exec("INSERT INTO " + table("backfills") + " (pipeline, range_from, range_to, advance_blocker) VALUES (" +
            tx.quote(pipeline) + ", " + tx.quote(range.range_from) + ", " + tx.quote(range.range_to) + ", " +
            (blocker ? tx.quote(*blocker) : std::string("NULL")) + ") ON CONFLICT DO NOTHING");
    if (!known.empty()) {
      bool same = known.size() == chunks.size();
      for (const auto& row : known) {
        bool found = false;
        for (const auto& c : chunks) found = found || (c.from == row[0].c_str() && c.to == row[1].c_str());
        same = same && found;
      }
      bool complete = true;
      for (const auto& row : known) complete = complete && std::string(row[2].c_str()) == "done";
      // A completed backfill of the range is done whatever the chunking asked for now.
      if (!same && complete) {
        tx.commit();
        return {};
      }
      if (!same)
        throw ConfigError("pipeline " + pipeline + ": a backfill of [" + range.range_from + ", " + range.range_to +
                          ") with other chunks is in progress; rerun it with its chunk size, or add --restart");
    }
    for (size_t i = 0; i < chunks.size(); ++i)
      tx.exec("INSERT INTO " + table("backfill_chunks") +
              " (pipeline, range_from, range_to, chunk_from, chunk_to, seq, status) VALUES (" + tx.quote(pipeline) + ", " +
              tx.quote(range.range_from) + ", " + tx.quote(range.range_to) + ", " + tx.quote(chunks[i].from) + ", " +
              tx.quote(chunks[i].to) + ", " + std::to_string(i) + ", 'pending') ON CONFLICT DO NOTHING");
    pqxx::result pending = tx.exec("SELECT chunk_from, chunk_to FROM " + table("backfill_chunks") + where +
                                   " AND status <> 'done'");
    tx.commit();
    std::vector<Chunk> out;
    for (const auto& c : chunks)  // in range order
      for (const auto& row : pending)
        if (c.from == row[0].c_str()) out.push_back(c);
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::optional<std::string> StateStore::advance_blocker(const std::string& pipeline, const ChunkRef& range) {
  try {
    pqxx::nontransaction tx(c_.raw());
    pqxx::result r = tx.exec("SELECT advance_blocker FROM " + table("backfills") + " WHERE pipeline = " +
                             tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) +
                             " AND range_to = " + tx.quote(range.range_to));
    if (r.empty()) return std::string("no record of when the backfill began");
    if (r[0][0].is_null()) return std::nullopt;
    return std::string(r[0][0].c_str());
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void StateStore::mark_chunk_done(pqxx::transaction_base& tx, const std::string& pipeline, const ChunkRef& range,
                                 const std::string& chunk_from, const RunRecord& r) {
  try {
    tx.exec("UPDATE " + table("backfill_chunks") + " SET status = 'done', rows_read = " + std::to_string(r.rows_read) +
            ", rows_written = " + std::to_string(r.rows_written) + ", rows_deleted = " + std::to_string(r.rows_deleted) +
            ", run_id = " + std::to_string(r.id) + ", finished_at = clock_timestamp() WHERE pipeline = " +
            tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " +
            tx.quote(range.range_to) + " AND chunk_from = " + tx.quote(chunk_from));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<BackfillProgress> StateStore::backfills(const std::vector<std::string>& pipelines) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<BackfillProgress> out;
    if (tx.exec1("SELECT to_regclass(" + tx.quote(table("backfill_chunks")) + ") IS NULL")[0].as<bool>()) return out;
    pqxx::result r = tx.exec(
        "SELECT pipeline, range_from, range_to, count(*) FILTER (WHERE status = 'done'), count(*),"
        " coalesce(sum(rows_written), 0), coalesce(" + rfc3339("max(finished_at)") + ", '-'),"
        " coalesce(sum(rows_read), 0), count(*) FILTER (WHERE live), count(*) FILTER (WHERE status = 'failed' OR"
        " (status = 'running' AND NOT live))"
        " FROM (SELECT c.*, c.status = 'running' AND c.lease_until > clock_timestamp() AND EXISTS (SELECT FROM pg_locks l"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended(" +
        tx.quote("tidemark:" + schema_ + ":") + " || c.pipeline || ':chunk:' || c.range_from || ':' || c.range_to ||"
        " ':' || c.chunk_from, 0)) AS live FROM " +
        table("backfill_chunks") + " c WHERE c.pipeline = ANY(" + tx.quote(array_literal(pipelines)) +
        "::text[])) x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
    for (const auto& row : r)
      out.push_back({row[0].c_str(), row[1].c_str(), row[2].c_str(), row[6].c_str(), row[3].as<int64_t>(),
                     row[4].as<int64_t>(), row[5].as<int64_t>(), row[7].as<int64_t>(), row[8].as<int64_t>(),
                     row[9].as<int64_t>()});
    return out;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<StatusRow> StateStore::status(const std::vector<std::string>& pipelines) {
  try {
    pqxx::nontransaction tx(c_.raw());
    pqxx::result exists = tx.exec("SELECT to_regclass(" + tx.quote(table("pipeline_state")) + ") IS NOT NULL AND to_regclass(" +
                                  tx.quote(table("runs")) + ") IS NOT NULL");
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
        " LEFT JOIN " + table("pipeline_state") + " s ON s.pipeline = p.name"
        " LEFT JOIN LATERAL (SELECT * FROM " + table("runs") + " x WHERE x.pipeline = p.name ORDER BY x.run_id DESC LIMIT 1) r ON true"
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
