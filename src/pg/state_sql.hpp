// What the state classes of src/pg share (internal to the Postgres layer): table names, the
// advisory lock keys, and the chunk update that also runs in the state store's transaction.
#pragma once
#include <string>

#include "pg/pg.hpp"

namespace tidemark::pg::state_sql {

inline std::string table(const std::string& schema, const std::string& t) {
  return quote_ident(schema) + "." + quote_ident(t);
}

// The advisory lock key of `name` (a pipeline, or a pipeline's chunk) in state schema `schema`.
inline std::string lock_key(Connection& c, const std::string& schema, const std::string& name) {
  return "hashtextextended(" + c.raw().quote("tidemark:" + schema + ":" + name) + ", 0)";
}
inline std::string chunk_key(Connection& c, const std::string& schema, const std::string& pipeline,
                             const ChunkRef& range, const Chunk& chunk) {
  return lock_key(c, schema, pipeline + ":chunk:" + range.range_from + ":" + range.range_to + ":" + chunk.from);
}

void mark_chunk_done(pqxx::transaction_base& tx, const std::string& schema, const std::string& pipeline,
                     const ChunkRef& range, const std::string& chunk_from, const RunRecord& r);

}  // namespace tidemark::pg::state_sql
