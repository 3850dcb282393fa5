// Small pure helpers shared by config, planning and the CLI.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemark {

// "90s", "15m", "2h", "1d", "500ms" -> seconds (fractions kept in microseconds).
std::optional<int64_t> parse_duration_us(const std::string& text);
std::string format_interval_us(int64_t us);  // -> PostgreSQL interval literal "900 seconds"

// The closest candidate by edit distance, if close enough to be a likely typo.
std::optional<std::string> suggest(const std::string& word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
// Words as a message says them: "a", "a and b", "a, b and c" (or "a or b").
std::string spoken_list(const std::vector<std::string>& words, const std::string& conjunction = "and");

// A value as a COPY text-format field: backslash, tab, newline and carriage return escaped.
std::string copy_text(const std::string& v);

// Removes passwords from a libpq DSN or URI so it can appear in a log line or error.
std::string redact_dsn(const std::string& dsn);
// Removes any `password=…` or `://user:pw@` fragment from free text (e.g. a driver message).
std::string redact_text(const std::string& text);

}  // namespace tidemark
