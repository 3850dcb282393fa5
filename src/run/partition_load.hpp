// partition_overwrite inside a query run (partition_load.cpp): the windows `delta` touches
// (read in the source's open snapshot) and the select of their complete rows; once staged,
// windows that are exactly a partition of the target move to TRUNCATE (logging which path
// replaced them).
#pragma once
#include "pg/pg.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {

Sql partition_windows(pg::Source& src, const PipelineConfig& p, const Sql& delta, WriteInput& wi);
void partition_fast_path(pg::Target& tgt, const PipelineConfig& p, WriteInput& wi);
// The direct form (no duplicate keys): removes the windows' target rows (and the old copies
// of rows the delta moved between windows) before their rows are copied into the target;
// returns the rows deleted.
int64_t partition_clear(pg::Source& src, pg::Target& tgt, const PipelineConfig& p, const Sql& delta,
                        const Writer& writer, WriteInput& wi);

}  // namespace tidemark
