// For src/pg's own files: the seam header with libpqxx itself. Nothing outside src/pg
// includes this (scripts/check_boundary.sh).
#pragma once
#include <pqxx/pqxx>

#include "pg/pg.hpp"

namespace tidemark::pg {

// What Source::describe and describe_tables read of a table's cursor, from the same columns:
// `sequence` [name, CACHE] of the cursor's serial/identity sequence, `cursor` [may be NULL,
// leads an index] (either NULL: not read); and the session time zone a plain timestamp
// cursor is read in without detect.time_zone.
void read_cursor_facts(SourceShape& shape, const pqxx::field& sequence, const pqxx::field& cursor);
void session_time_zone_of(SourceShape& shape, const Connection& c);

}  // namespace tidemark::pg
