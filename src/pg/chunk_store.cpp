// Backfill chunk bookkeeping: tidemark.backfill_chunks (one row per chunk, its claim and
// lease) and tidemark.backfills (one row per backfilled range).
#include "pg/internal.hpp"
#include "pg/state_sql.hpp"

namespace tidemark::pg {

using state_sql::table;

// Claiming a chunk: the candidates not done, in range order, each locked FOR UPDATE SKIP
// LOCKED so concurrent claimers never wait on each other. A pending chunk is claimed with
// the chunk's session advisory lock. A running chunk is taken over when its advisory lock is
// free (the worker's session ended: the process died) or when its lease ran out without a
// heartbeat (the worker's host froze or vanished while its session lingers on the server).
ChunkClaim ChunkStore::claim_chunk(const std::string& pipeline, const ChunkRef& range, const std::string& worker,
                                   int64_t lease_seconds) {
  try {
    pqxx::work tx(c_.raw());
    const std::string where = " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
                              tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to);
    int64_t after = -1;
    for (;;) {
      pqxx::result r = tx.exec("SELECT chunk_from, chunk_to, seq, status, coalesce(worker, ''),"
                               " coalesce(lease_until < clock_timestamp(), true) FROM " +
                               table(schema_, "backfill_chunks") + where + " AND status <> 'done' AND seq > " +
                               std::to_string(after) + " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED");
      if (r.empty()) break;
      const pqxx::row row = r[0];
      after = row[2].as<int64_t>();
      const Chunk c{row[0].c_str(), row[1].c_str()};
      const bool running = std::string(row[3].c_str()) == "running";
      const bool locked = tx.exec1("SELECT pg_try_advisory_lock(" + state_sql::chunk_key(c_, schema_, pipeline, range, c) + ")")[0].as<bool>();
      const bool expired = row[5].as<bool>();
      if (!locked && !(running && expired)) continue;  // a live worker has it
      tx.exec("UPDATE " + table(schema_, "backfill_chunks") + " SET status = 'running', worker = " + tx.quote(worker) +
              ", lease_until = clock_timestamp() + " + std::to_string(lease_seconds) +
              " * interval '1 second', attempts = attempts + 1" + where + " AND chunk_from = " + tx.quote(c.from));
      tx.commit();
      ChunkClaim claim{ChunkClaim::Kind::kClaimed, c, {}};
      if (running) claim.previous_worker = row[4].c_str();
      return claim;
    }
    // Nothing claimable: done, or every chunk left is with a live worker (or being claimed).
    const bool left = tx.exec1("SELECT count(*) > 0 FROM " + table(schema_, "backfill_chunks") + where +
                               " AND status <> 'done'")[0]
                          .as<bool>();
    tx.commit();
    return ChunkClaim{left ? ChunkClaim::Kind::kBusy : ChunkClaim::Kind::kNone, {}, {}};
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

bool ChunkStore::renew_lease(const std::string& pipeline, const ChunkRef& range, const Chunk& c,
                             const std::string& worker, int64_t lease_seconds) {
  try {
    pqxx::nontransaction tx(c_.raw());
    return tx.exec("UPDATE " + table(schema_, "backfill_chunks") + " SET lease_until = clock_timestamp() + " +
                   std::to_string(lease_seconds) + " * interval '1 second' WHERE pipeline = " + tx.quote(pipeline) +
                   " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to) +
                   " AND chunk_from = " + tx.quote(c.from) + " AND status = 'running' AND worker = " +
                   tx.quote(worker))
               .affected_rows() == 1;
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

void ChunkStore::release_chunk(const std::string& pipeline, const ChunkRef& range, const Chunk& c,
                               const std::string& worker) {
  try {
    pqxx::nontransaction tx(c_.raw());
    // Still ours and not done (the run failed): failed, claimable at once.
    tx.exec("UPDATE " + table(schema_, "backfill_chunks") + " SET status = 'failed', lease_until = NULL" +
            " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) +
            " AND range_to = " + tx.quote(range.range_to) + " AND chunk_from = " + tx.quote(c.from) +
            " AND status = 'running' AND worker = " + tx.quote(worker));
    tx.exec("SELECT pg_advisory_unlock(" + state_sql::chunk_key(c_, schema_, pipeline, range, c) + ")");
  } catch (...) {  // a lost connection released the lock already; the lease runs out
  }
}

void ChunkStore::fail_worker_chunks(const std::string& pipeline, const ChunkRef& range, const std::string& worker) {
  try {
    pqxx::nontransaction tx(c_.raw());
    tx.exec("UPDATE " + table(schema_, "backfill_chunks") + " SET status = 'failed', lease_until = NULL WHERE pipeline = " +
            tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " +
            tx.quote(range.range_to) + " AND status = 'running' AND worker = " + tx.quote(worker));
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

ChunkTotals ChunkStore::chunk_totals(const std::string& pipeline, const ChunkRef& range,
                                     const std::vector<std::string>& workers, int64_t after_run_id) {
  try {
    pqxx::nontransaction tx(c_.raw());
    const pqxx::row r = tx.exec1(
        "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_written), 0), coalesce(sum(rows_deleted), 0)"
        " FROM " + table(schema_, "backfill_chunks") + " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
        tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to) + " AND status = 'done'" +
        " AND run_id > " + std::to_string(after_run_id) + " AND worker = ANY(" + tx.quote(array_literal(workers)) +
        "::text[])");
    return {r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>()};
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<Chunk> ChunkStore::register_chunks(const std::string& pipeline, const ChunkRef& range,
                                               const std::vector<Chunk>& chunks, bool restart,
                                               const std::optional<std::string>& advance_blocker) {
  try {
    pqxx::work tx(c_.raw());
    const std::string where = " WHERE pipeline = " + tx.quote(pipeline) + " AND range_from = " +
                              tx.quote(range.range_from) + " AND range_to = " + tx.quote(range.range_to);
    if (restart) {
      tx.exec("DELETE FROM " + table(schema_, "backfill_chunks") + where);
      tx.exec("DELETE FROM " + table(schema_, "backfills") + where);
    }
    pqxx::result known = tx.exec("SELECT chunk_from, chunk_to, status FROM " + table(schema_, "backfill_chunks") + where);
    // What the source looked like before the first chunk was read decides whether the
    // watermark may move to the range's end (advance.cpp); a resumed backfill keeps it.
    const std::optional<std::string> blocker =
        known.empty() ? advance_blocker
                      : std::optional<std::string>("the backfill began under an earlier tidemark; rerun it with --restart");
    tx.exec("INSERT INTO " + table(schema_, "backfills") + " (pipeline, range_from, range_to, advance_blocker) VALUES (" +
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
      tx.exec("INSERT INTO " + table(schema_, "backfill_chunks") +
              " (pipeline, range_from, range_to, chunk_from, chunk_to, seq, status) VALUES (" + tx.quote(pipeline) + ", " +
              tx.quote(range.range_from) + ", " + tx.quote(range.range_to) + ", " + tx.quote(chunks[i].from) + ", " +
              tx.quote(chunks[i].to) + ", " + std::to_string(i) + ", 'pending') ON CONFLICT DO NOTHING");
    pqxx::result pending = tx.exec("SELECT chunk_from, chunk_to FROM " + table(schema_, "backfill_chunks") + where +
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

std::optional<std::string> ChunkStore::advance_blocker(const std::string& pipeline, const ChunkRef& range) {
  try {
    pqxx::nontransaction tx(c_.raw());
    pqxx::result r = tx.exec("SELECT advance_blocker FROM " + table(schema_, "backfills") + " WHERE pipeline = " +
                             tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) +
                             " AND range_to = " + tx.quote(range.range_to));
    if (r.empty()) return std::string("no record of when the backfill began");
    if (r[0][0].is_null()) return std::nullopt;
    return std::string(r[0][0].c_str());
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

namespace state_sql {

void mark_chunk_done(pqxx::transaction_base& tx, const std::string& schema, const std::string& pipeline,
                     const ChunkRef& range, const std::string& chunk_from, const RunRecord& r) {
  tx.exec("UPDATE " + table(schema, "backfill_chunks") + " SET status = 'done', rows_read = " + std::to_string(r.rows_read) +
          ", rows_written = " + std::to_string(r.rows_written) + ", rows_deleted = " + std::to_string(r.rows_deleted) +
          ", run_id = " + std::to_string(r.id) + ", finished_at = clock_timestamp() WHERE pipeline = " +
          tx.quote(pipeline) + " AND range_from = " + tx.quote(range.range_from) + " AND range_to = " +
          tx.quote(range.range_to) + " AND chunk_from = " + tx.quote(chunk_from));
}

}  // namespace state_sql

void ChunkStore::mark_chunk_done(Target& tgt, const std::string& pipeline, const ChunkRef& range,
                                 const std::string& chunk_from, const RunRecord& r) {
  try {
    state_sql::mark_chunk_done(tgt.tx(), schema_, pipeline, range, chunk_from, r);
  } catch (...) {
    translate("state store '" + c_.name() + "'");
  }
}

std::vector<BackfillProgress> ChunkStore::backfills(const std::vector<std::string>& pipelines) {
  try {
    pqxx::nontransaction tx(c_.raw());
    std::vector<BackfillProgress> out;
    if (tx.exec1("SELECT to_regclass(" + tx.quote(table(schema_, "backfill_chunks")) + ") IS NULL")[0].as<bool>()) return out;
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
        table(schema_, "backfill_chunks") + " c WHERE c.pipeline = ANY(" + tx.quote(array_literal(pipelines)) +
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

}  // namespace tidemark::pg
