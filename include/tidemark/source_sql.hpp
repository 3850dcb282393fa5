// SQL pieces of a pipeline's source that the strategies build with and the Postgres layer and
// the comparisons reuse (defined in src/strategy/cursor.cpp; pure).
#pragma once
#include <string>

#include "tidemark/config.hpp"
#include "tidemark/sql.hpp"

namespace tidemark::strategy {

// `CAST(<value> AS <type>)` with the value kept apart from the text.
Sql cast_value(const std::string& value, const std::string& type);

// The instant (timestamptz) a cursor value of `type` denotes; a plain timestamp is read as
// wall-clock time in `zone` (an ambiguous reading resolves to the later instant, a skipped
// one to the instant after the gap, both conservative for the in-flight bound).
Sql cursor_instant(const std::string& value, const std::string& type, const std::string& zone);

// `FROM …` text for the pipeline's source (a table or a parenthesised query).
std::string source_from(const SourceConfig& s);

}  // namespace tidemark::strategy
