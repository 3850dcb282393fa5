// Strategy `files`, the pure part: which files a run loads, skips or checks (plan_files), the
// --from/--to bounds (parse_time_bound, date_from_name), the directory listing (list_files),
// and the config keys of a files pipeline with the errors a user sees for each mistake.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_plan.hpp"
#include "unit/config_error.hpp"

using Catch::Contains;
using tidemark::ConfigError;
using tidemark::FilesDetect;
using tidemark::parse_config;
using tidemark::RunMode;
using tidemark::RunRequest;
using namespace tidemark::files;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNs = 1000000000;
constexpr int64_t kJan31 = 1706659200;  // 2024-01-31T00:00:00Z
constexpr int64_t kFeb1 = kJan31 + 86400;
constexpr int64_t kDay = 86400;

// The message of the ConfigError parsing `text` throws; "<no ConfigError>" when it parses.
std::string config_error(const std::string& text) { return tmtest::config_error_in(text, "x.yaml"); }

// A valid files pipeline; tests insert or replace one thing at a time.
const std::string kFiles =
    "version: 1\n"
    "connections:\n"
    "  dw: postgresql://etl@dw/warehouse\n"
    "  other: postgresql://etl@other/db\n"
    "pipelines:\n"
    "  - name: landing\n"
    "    detect:\n"
    "      strategy: files\n"
    "      path: /data/in\n"
    "    target:\n"
    "      connection: dw\n"
    "      table: raw.landing\n";

std::string with(const std::string& at, const std::string& insert, std::string text = kFiles) {
  const size_t i = text.find(at);
  REQUIRE(i != std::string::npos);
  return text.insert(i + at.size(), insert);
}
std::string detect_with(const std::string& lines) { return with("      path: /data/in\n", lines); }

std::vector<Decision> plan(const std::vector<FileInfo>& listing, const std::map<std::string, ManifestEntry>& manifest,
                           int64_t settle = 0, const RunRequest& req = {}, const FilesDetect& f = {}) {
  return plan_files(f, listing, manifest, kFeb1 * kNs, settle, req);
}

RunRequest range(std::optional<std::string> from, std::optional<std::string> to) {
  return RunRequest{RunMode::kRange, std::move(from), std::move(to), std::nullopt};
}

// A fresh directory under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("tidemark-plan-" + std::to_string(std::random_device{}()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_, ec_); }
  void file(const std::string& rel, const std::string& content) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary) << content;
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  std::error_code ec_;
};

std::vector<std::string> rels(const std::vector<FileInfo>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.rel);
  return out;
}

}  // namespace

TEST_CASE("files plan: a file with the same size and mtime as in the manifest is not read, a new one is loaded",
          "[unit][files]") {
  const auto d = plan({{"a.csv", 10, kJan31 * kNs + 5}, {"b.csv", 7, kJan31 * kNs}},
                      {{"a.csv", {10, kJan31 * kNs + 5, "sha256:aa"}}});
  REQUIRE(d.size() == 2);
  CHECK(d[0].action == Action::kUnchanged);
  CHECK(d[1].action == Action::kLoad);  // listing order is kept
  CHECK(d[1].file.rel == "b.csv");
}

TEST_CASE("files plan: a changed size or modification time is checked, with the change in the note",
          "[unit][files]") {
  const std::map<std::string, ManifestEntry> manifest{{"a.csv", {10, kJan31 * kNs, "sha256:aa"}}};
  const auto grown = plan({{"a.csv", 12, kJan31 * kNs}}, manifest);
  CHECK(grown[0].action == Action::kCheck);
  CHECK(grown[0].note == "size 10 -> 12");
  const auto touched = plan({{"a.csv", 10, kJan31 * kNs + 1}}, manifest);
  CHECK(touched[0].action == Action::kCheck);
  CHECK(touched[0].note == "modification time changed");
}

TEST_CASE("files plan: a file modified within settle is skipped, also when it is in the manifest", "[unit][files]") {
  const int64_t ten_s_ago = (kFeb1 - 10) * kNs;
  const auto d = plan({{"new.csv", 1, ten_s_ago}, {"known.csv", 2, ten_s_ago}, {"old.csv", 3, (kFeb1 - 61) * kNs}},
                      {{"known.csv", {1, kJan31 * kNs, ""}}}, 60);
  CHECK(d[0].action == Action::kUnsettled);
  CHECK(d[0].note == "modified 10s ago, settle is 60s");
  CHECK(d[1].action == Action::kUnsettled);
  CHECK(d[2].action == Action::kLoad);
  CHECK(plan({{"new.csv", 1, ten_s_ago}}, {}, 0)[0].action == Action::kLoad);
}

TEST_CASE("files plan: a range by mtime reloads files from --from inclusive to --to exclusive", "[unit][files]") {
  const int64_t from = kJan31 - 10 * kDay, to = kJan31;  // 2024-01-21 .. 2024-01-31
  const std::vector<FileInfo> listing{{"before.csv", 1, (from - 1) * kNs},
                                      {"first.csv", 1, from * kNs},
                                      {"last.csv", 1, to * kNs - 1},
                                      {"at_to.csv", 1, to * kNs}};
  // In the manifest unchanged: a range reloads it anyway.
  const std::map<std::string, ManifestEntry> manifest{{"first.csv", {1, from * kNs, "sha256:aa"}}};
  const auto d = plan(listing, manifest, 0, range("2024-01-21", "2024-01-31"));
  CHECK(d[0].action == Action::kOutOfRange);
  CHECK(d[1].action == Action::kReload);
  CHECK(d[2].action == Action::kReload);
  CHECK(d[3].action == Action::kOutOfRange);
  // Only one bound: the other side is open.
  const auto open = plan(listing, {}, 0, range("2024-01-21", std::nullopt));
  CHECK(open[0].action == Action::kOutOfRange);
  CHECK(open[3].action == Action::kReload);
}

TEST_CASE("files plan: with date_from_name a range selects by the date in the file name, not the mtime",
          "[unit][files]") {
  FilesDetect f;
  f.date_from_name = R"((\d{4}-?\d{2}-?\d{2}))";
  const int64_t old = (kJan31 - 400 * kDay) * kNs;
  const std::vector<FileInfo> listing{{"sales_20240115.csv", 1, old},
                                      {"daily/2024-01-20.csv", 1, old},
                                      {"sales_20240105.csv", 1, (kJan31 - 20 * kDay) * kNs},
                                      {"readme.csv", 1, old},
                                      {"sales_20240116.csv", 1, (kFeb1 - 5) * kNs}};
  const auto d = plan(listing, {}, 60, range("2024-01-10", "2024-01-20"), f);
  CHECK(d[0].action == Action::kReload);
  CHECK(d[1].action == Action::kOutOfRange);  // --to is exclusive
  CHECK(d[2].action == Action::kOutOfRange);  // modified inside the range, named before it
  CHECK(d[3].action == Action::kOutOfRange);
  CHECK(d[3].note == "no date in its name");
  CHECK(d[4].action == Action::kUnsettled);  // in range but still being written
}

TEST_CASE("files plan: a bad --from or --to is a ConfigError naming the flag", "[unit][files]") {
  const std::vector<FileInfo> listing{{"a.csv", 1, kJan31 * kNs}};
  CHECK_THROWS_WITH(plan(listing, {}, 0, range("last tuesday", std::nullopt)),
                    Contains("--from 'last tuesday' is not a date or time"));
  CHECK_THROWS_WITH(plan(listing, {}, 0, range("2024-01-01", "2024-02-31")), Contains("--to '2024-02-31'"));
  CHECK_THROWS_AS(plan({}, {}, 0, range("nope", std::nullopt)), ConfigError);  // even with no files
}

TEST_CASE("files plan: every action has a distinct readable name", "[unit][files]") {
  CHECK(std::string(action_name(Action::kLoad)) == "load (new)");
  CHECK(std::string(action_name(Action::kUnchanged)) == "skip (unchanged)");
  std::vector<std::string> names;
  for (Action a : {Action::kLoad, Action::kCheck, Action::kReload, Action::kUnchanged, Action::kUnsettled,
                   Action::kOutOfRange})
    names.emplace_back(action_name(a));
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
}

TEST_CASE("files plan: parse_time_bound reads dates, date-times with zones, and times relative to now",
          "[unit][files]") {
  const int64_t now = kFeb1 + 5 * 3600 + 17;  // 2024-02-01T05:00:17Z
  CHECK(parse_time_bound("2024-01-31", now) == kJan31);
  CHECK(parse_time_bound("20240131", now) == kJan31);
  CHECK(parse_time_bound("2024-01-31T12:00Z", now) == kJan31 + 12 * 3600);
  CHECK(parse_time_bound("2024-01-31T12:00", now) == kJan31 + 12 * 3600);
  CHECK(parse_time_bound("2024-01-31 12:00:30+02:00", now) == kJan31 + 10 * 3600 + 30);
  CHECK(parse_time_bound("2024-01-31T12:00-0130", now) == kJan31 + 13 * 3600 + 30 * 60);
  CHECK(parse_time_bound("today", now) == kFeb1);
  CHECK(parse_time_bound("yesterday", now) == kJan31);
  CHECK(parse_time_bound("now", now) == now);
  CHECK(parse_time_bound("-7d", now) == now - 7 * kDay);
  CHECK(parse_time_bound("-36h", now) == now - 36 * 3600);
  CHECK(parse_time_bound("-15m", now) == now - 15 * 60);
}

TEST_CASE("files plan: parse_time_bound refuses impossible dates and other text", "[unit][files]") {
  for (const char* bad : {"2024-02-31", "2024-13-01", "2024-00-10", "2024-01-32", "2024-01-31T24:00", "garbage", "",
                          "-7x", "7d", "2024-01", "Today"}) {
    INFO(bad);
    CHECK_FALSE(parse_time_bound(bad, kFeb1).has_value());
  }
  CHECK(parse_time_bound("2024-02-29", kFeb1) == kJan31 + 29 * kDay);  // a leap day is a date
}

TEST_CASE("files plan: date_from_name reads the date its one group captures, in several spellings",
          "[unit][files]") {
  CHECK(date_from_name(R"((\d{8}))", "in/sales_20240131.csv") == kJan31);
  CHECK(date_from_name(R"(_(\d{4}-\d{2}-\d{2})\.)", "sales_2024-01-31.csv") == kJan31);
  CHECK(date_from_name(R"((\d{4}_\d{2}_\d{2}))", "x_2024_01_31.jsonl") == kJan31);
  CHECK(date_from_name(R"(^(\d{4}/\d{2}/\d{2})/)", "2024/01/31/a.csv") == kJan31);
  CHECK_FALSE(date_from_name(R"((\d{8}))", "readme.csv"));
  CHECK_FALSE(date_from_name(R"((\d{8}))", "sales_20240231.csv"));  // no such day
  CHECK_FALSE(date_from_name(R"((\w+)\.csv)", "sales.csv"));        // captured text is not a date
}

TEST_CASE("files list: nested files sorted by their '/'-separated relative path, minus hidden, temporary and "
          "excluded files",
          "[unit][files]") {
  TempDir dir;
  for (const char* rel : {"b.csv", "a.csv", "Z.csv", "sub/c.csv", "sub/deep/d.jsonl", ".hidden.csv", ".git/x.csv",
                          "sub/.staging/e.csv", "f.csv.tmp", "skip/ignored.csv"})
    dir.file(rel, "hello");
  FilesDetect f;
  f.exclude = {"skip/**"};
  const auto all = list_files(dir.str(), f);
  CHECK(rels(all) == std::vector<std::string>{"Z.csv", "a.csv", "b.csv", "sub/c.csv", "sub/deep/d.jsonl"});
  for (const auto& fi : all) {
    CHECK(fi.size == 5);
    CHECK(fi.mtime_ns > 0);
  }
  f.pattern = "*.csv";  // no '/' and no '**': the top directory only
  CHECK(rels(list_files(dir.str(), f)) == std::vector<std::string>{"Z.csv", "a.csv", "b.csv"});
  f.pattern = "sub/**/*.jsonl";
  CHECK(rels(list_files(dir.str(), f)) == std::vector<std::string>{"sub/deep/d.jsonl"});
  f.pattern = "not_yet/*.csv";  // its directory does not exist yet: nothing, not an error
  CHECK(list_files(dir.str(), f).empty());
}

TEST_CASE("files list: size and mtime come from the file, to the nanosecond", "[unit][files]") {
  TempDir dir;
  dir.file("a.csv", "id\n1\n");
  const timespec times[2] = {{kJan31, 123456789}, {kJan31, 123456789}};
  REQUIRE(::utimensat(AT_FDCWD, (dir.str() + "/a.csv").c_str(), times, 0) == 0);
  const auto files = list_files(dir.str(), FilesDetect{});
  REQUIRE(files.size() == 1);
  CHECK(files[0].size == 5);
  CHECK(files[0].mtime_ns == kJan31 * kNs + 123456789);
}

TEST_CASE("files list: a detect.path written with a trailing '/' gives the same relative paths", "[unit][files]") {
  TempDir dir;
  dir.file("sub/a.csv", "x");
  CHECK(rels(list_files(dir.str() + "/", FilesDetect{})) == std::vector<std::string>{"sub/a.csv"});
}

TEST_CASE("files list: a missing directory, or a file given as the directory, is a RunError", "[unit][files]") {
  TempDir dir;
  dir.file("a.csv", "x");
  CHECK_THROWS_AS(list_files(dir.str() + "/missing", FilesDetect{}), tidemark::RunError);
  CHECK_THROWS_WITH(list_files(dir.str() + "/missing", FilesDetect{}), Contains("is not a readable directory"));
  CHECK_THROWS_AS(list_files(dir.str() + "/a.csv", FilesDetect{}), tidemark::RunError);
}

TEST_CASE("files config: a files pipeline needs no source and gets the defaults", "[unit][files]") {
  const auto cfg = parse_config(kFiles, "x.yaml");
  REQUIRE(cfg.pipelines.size() == 1);
  const auto& p = cfg.pipelines[0];
  const auto& f = p.detect.files;
  CHECK(p.source.connection.empty());
  CHECK(p.target.write == "delete_insert");
  CHECK((f.path == "/data/in" && f.pattern == "" && f.format == "" && f.exclude.empty()));
  CHECK(f.file_column == "_source_file");
  CHECK(f.on_bad_row == tidemark::BadRows::kFail);
  CHECK((f.delimiter == "" && f.quote == "\"" && f.null_string == ""));
}

TEST_CASE("files config: source and a missing detect.path are errors", "[unit][files]") {
  CHECK_THAT(config_error(with("  - name: landing\n", "    source: {connection: dw, table: public.x}\n")),
             Contains("pipelines[0].source: strategy files reads the directory in detect.path; remove source"));
  std::string no_path = kFiles;
  const std::string path_line = "      path: /data/in\n";
  no_path.erase(no_path.find(path_line), path_line.size());
  CHECK_THAT(config_error(no_path), Contains("pipelines[0].detect.path: required by strategy files"));
}

TEST_CASE("files config: csv delimiter, quote and null (a plain or quoted key); tab spelled three ways; one "
          "character only",
          "[unit][files]") {
  const auto f = parse_config(detect_with("      csv: {delimiter: \";\", quote: \"'\", null: \"NA\"}\n"), "x.yaml")
                     .pipelines[0]
                     .detect.files;
  CHECK(f.delimiter == ";");
  CHECK(f.quote == "'");
  CHECK(f.null_string == "NA");
  CHECK(parse_config(detect_with("      csv: {\"null\": NA}\n"), "x.yaml").pipelines[0].detect.files.null_string ==
        "NA");
  for (const char* tab : {"\"\\t\"", "'\\t'", "tab"}) {
    INFO(tab);
    CHECK(parse_config(detect_with(std::string("      csv: {delimiter: ") + tab + "}\n"), "x.yaml")
              .pipelines[0]
              .detect.files.delimiter == "\t");
  }
  CHECK_THAT(config_error(detect_with("      csv: {delimiter: \";;\"}\n")),
             Contains("pipelines[0].detect.csv.delimiter: ';;' must be one character"));
  CHECK_THAT(config_error(detect_with("      csv: {delimiter: \"'\", quote: \"'\"}\n")),
             Contains("the delimiter and the quote must differ"));
}

TEST_CASE("files config: on_bad_row is fail or quarantine, with a suggestion", "[unit][files]") {
  CHECK_THAT(config_error(detect_with("      on_bad_row: quarantin\n")),
             Contains("pipelines[0].detect.on_bad_row: must be fail or quarantine (did you mean 'quarantine'?)"));
  CHECK(parse_config(detect_with("      on_bad_row: quarantine\n"), "x.yaml").pipelines[0].detect.files.on_bad_row ==
        tidemark::BadRows::kQuarantine);
}

TEST_CASE("files config: date_from_name must be a valid regex with exactly one capture group", "[unit][files]") {
  CHECK_NOTHROW(parse_config(detect_with("      date_from_name: '_(\\d{8})\\.csv'\n"), "x.yaml"));
  CHECK_THAT(config_error(detect_with("      date_from_name: '\\d{8}'\n")),
             Contains("pipelines[0].detect.date_from_name: needs exactly one capture group"));
  CHECK_THAT(config_error(detect_with("      date_from_name: '(\\d{4})-(\\d{2})'\n")),
             Contains("pipelines[0].detect.date_from_name: needs exactly one capture group"));
  CHECK_THAT(config_error(detect_with("      date_from_name: '(\\d{8}'\n")),
             Contains("pipelines[0].detect.date_from_name: not a valid regular expression"));
}

TEST_CASE("files config: files keys on another strategy are errors", "[unit][files]") {
  const std::string id_pipeline =
      "connections: {dw: postgresql://etl@dw/warehouse}\n"
      "pipelines:\n"
      "  - name: ids\n"
      "    source: {connection: dw, table: public.t}\n"
      "    detect: {strategy: id, cursor: id, path: /x, on_bad_row: fail}\n"
      "    target: {connection: dw, table: raw.t, key: [id]}\n";
  const std::string msg = config_error(id_pipeline);
  CHECK_THAT(msg, Contains("pipelines[0].detect.path: only for strategy files"));
  CHECK_THAT(msg, Contains("pipelines[0].detect.on_bad_row: only for strategy files"));
}

TEST_CASE("files config: cursor, write upsert, chunk, batch_size and a separate state connection are refused",
          "[unit][files]") {
  CHECK_THAT(config_error(detect_with("      cursor: id\n")),
             Contains("pipelines[0].detect.cursor: not used by strategy files"));
  CHECK_THAT(config_error(kFiles + "      key: [id]\n      write: upsert\n"),
             Contains("pipelines[0].target.write: strategy files replaces each file's rows"));
  CHECK_THAT(config_error(kFiles + "    chunk: 1d\n"), Contains("pipelines[0].chunk: strategy files loads one file"));
  CHECK_THAT(config_error(kFiles + "    batch_size: 1000\n"),
             Contains("pipelines[0].batch_size: strategy files loads one file"));
  CHECK_THAT(config_error(with("  other: postgresql://etl@other/db\n", "state: {connection: other}\n")),
             Contains("pipelines[0].target.connection: strategy files keeps its manifest with the data"));
  CHECK_NOTHROW(parse_config(with("  other: postgresql://etl@other/db\n", "state: {connection: dw}\n"), "x.yaml"));
}
