// Strategy `files` planning (docs/files.md): which files of a listing to load, skip or check,
// decided from the listing, the manifest of files loaded before, the clock and the request.
// Pure: the listing is made by list_files, the manifest comes from the state store.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/file_types.hpp"
#include "tidemark/plan.hpp"

namespace tidemark::files {

// Files under `dir` that `f.pattern` selects, minus hidden/temporary files and f.exclude,
// sorted by path. Throws RunError when `dir` cannot be read.
std::vector<FileInfo> list_files(const std::string& dir, const FilesDetect& f);

const char* action_name(Action a);
// The target rows of file `rel`: those a load of it replaces (its file_column holds its path).
Sql file_rows(const FilesDetect& f, const std::string& rel);
// Whether a run reads the file (load, check, reload); the others are skipped.
inline bool reads(Action a) { return a == Action::kLoad || a == Action::kCheck || a == Action::kReload; }

// One decision per listed file, in listing order. For a range request, `from`/`to` select
// files by the date captured by f.date_from_name, else by modification time; they are read
// with parse_time_bound and a bad one is a ConfigError naming the flag.
std::vector<Decision> plan_files(const FilesDetect& f, const std::vector<FileInfo>& listing,
                                 const std::map<std::string, ManifestEntry>& manifest, int64_t now_ns,
                                 int64_t settle_seconds, const RunRequest& req);

// "sha256:<hex>" of the file's bytes as stored (compressed files are not decompressed).
std::string checksum_file(const std::string& path);

// A --from/--to value for files, as seconds since the epoch (UTC): 2024-01-31, 20240131,
// 2024-01-31T12:00[:00][Z|±hh[:mm]], today, yesterday, now, or -7d/-36h/-15m before `now_s`.
std::optional<int64_t> parse_time_bound(const std::string& text, int64_t now_s);
// The date f.date_from_name captures from a file name (YYYYMMDD, YYYY-MM-DD, YYYY_MM_DD or
// YYYY/MM/DD), as seconds since the epoch at 00:00 UTC.
std::optional<int64_t> date_from_name(const std::string& regex, const std::string& rel);

}  // namespace tidemark::files
