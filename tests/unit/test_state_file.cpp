// The state file (`state: {file: path}`): its document and checksum, compare-and-set saves,
// and the write path: a kill between the temp file and the rename leaves the old state, and
// processes saving at once lose no update (flock).
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tidemark/errors.hpp"
#include "tidemark/state_file.hpp"
#include "common/files.hpp"

using Catch::Contains;
using Catch::StartsWith;
using namespace tidemark;
namespace fs = std::filesystem;

using tmtest::slurp;
using tmtest::spit;

namespace {

// A fresh directory from mkdtemp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tidemark-state-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};



std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

// A watermark with every part set: safe, high, and a pending mark waiting for a transaction.
Watermark full_mark(const std::string& high = "2024-05-01 10:00:00+00") {
  Watermark w;
  w.columns = {"updated_at", "id"};
  w.safe = Tuple{"2024-05-01 09:00:00+00", "17"};
  w.high = Tuple{high, "42"};
  Pending p;
  p.high = Tuple{"2024-05-01 09:30:00+00", "30"};
  p.waiting_for.xids = {"1000", "18446744073709551"};
  p.waiting_for.sessions = {{4242, "1714557600000000"}};
  w.pending = p;
  return w;
}

Watermark high_mark(int64_t n) {
  Watermark w;
  w.columns = {"id"};
  w.safe = w.high = Tuple{std::to_string(n)};
  return w;
}

LastRun succeeded(int64_t rows = 5) {
  LastRun r;
  r.mode = "incremental";
  r.status = "succeeded";
  r.started_at = "2026-11-24T21:40:00.123Z";
  r.finished_at = "2026-11-24T21:40:01.456Z";
  r.rows_read = r.rows_written = rows;
  return r;
}

// Runs `body` in a child process; returns its wait status.
template <typename F>
int in_child(F body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      body();
    } catch (const std::exception& e) {
      std::cerr << "child: " << e.what() << "\n";
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("state file: a watermark with safe, high and pending round-trips through the file", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  file.save("orders", "updated_at", StoredState{}, full_mark(), succeeded(7));

  const StoredState s = file.load("orders");
  CHECK(s.exists);
  CHECK(s.strategy == "updated_at");
  CHECK(s.version == 1);
  CHECK(s.watermark == full_mark());
  REQUIRE(s.watermark.pending);
  CHECK(s.watermark.pending->waiting_for.sessions[0].pid == 4242);

  const StateDocument doc = file.read();
  const StateEntry& e = doc.pipelines.at("orders");
  REQUIRE(e.last_run);
  CHECK(e.last_run->rows_written == 7);
  CHECK(e.last_run->finished_at == "2026-11-24T21:40:01.456Z");
  CHECK(e.updated_at.size() == 24);  // 2026-11-24T21:40:00.123Z
  CHECK(e.updated_at.back() == 'Z');
  // The file is exactly what render prints, so export/import and the file agree.
  CHECK(slurp(file.path()) == render_state_document(doc));
  CHECK(render_state_document(parse_state_document(slurp(file.path()), "x", true)) == slurp(file.path()));
}

TEST_CASE("state file: the document is pretty JSON whose checksum is SHA-256 of the compact pipelines",
          "[unit][state_file]") {
  // sha256("{}") from `printf '{}' | sha256sum`
  CHECK(render_state_document(StateDocument{}) ==
        "{\n  \"format\": \"tidemark-state\",\n  \"version\": 1,\n  \"pipelines\": {},\n"
        "  \"checksum\": \"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"\n}\n");
  StateDocument doc;
  doc.pipelines["a"].state = StoredState{true, "id", 3, high_mark(9)};
  const auto j = nlohmann::json::parse(render_state_document(doc));
  CHECK(j.at("pipelines").at("a").at("version") == 3);
  CHECK(j.at("pipelines").at("a").at("watermark") == high_mark(9).to_json());
  CHECK_FALSE(j.at("pipelines").at("a").contains("last_run"));  // absent when there is none
}

TEST_CASE("state file: a missing file is no state, not an error", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  CHECK(file.read().pipelines.empty());
  CHECK_FALSE(file.load("orders").exists);
  CHECK_FALSE(StateFile(dir.path("no/such/dir/state.json")).load("orders").exists);
}

TEST_CASE("state file: corrupt JSON is an error naming the file and the byte", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  spit(file.path(), "{\"format\": \"tidemark-state\", oops}");
  CHECK_THROWS_WITH(file.load("orders"), StartsWith("state file " + file.path() + ": not valid JSON at byte "));
  // a save refuses too: a corrupt file is never overwritten with fresh state
  CHECK_THROWS_AS(file.save("orders", "id", StoredState{}, high_mark(1), succeeded()), RunError);
  CHECK(slurp(file.path()) == "{\"format\": \"tidemark-state\", oops}");
}

TEST_CASE("state file: an empty file is corrupt, not \"no state\"", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  spit(file.path(), "");
  CHECK_THROWS_WITH(file.load("orders"), StartsWith("state file " + file.path() + ": the file is empty"));
  CHECK_THROWS_AS(file.save("orders", "id", StoredState{}, high_mark(1), succeeded()), RunError);
}

TEST_CASE("state file: a hand-edited file is an error naming the file, never a reset", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  file.save("orders", "id", StoredState{}, high_mark(100), succeeded());
  const StoredState seen = file.load("orders");
  std::string text = slurp(file.path());
  REQUIRE(text.find("\"100\"") != std::string::npos);
  for (auto at = text.find("\"100\""); at != std::string::npos; at = text.find("\"100\"", at))
    text.replace(at, 5, "\"999\"");  // the values change (safe and high), the checksum stays
  spit(file.path(), text);

  const std::string expected = "state file " + file.path() +
                               ": checksum does not match its content: it was changed outside tidemark; to load "
                               "hand-made state on purpose, use `tidemark state import`";
  CHECK_THROWS_WITH(file.load("orders"), expected);
  CHECK_THROWS_WITH(file.save("orders", "id", seen, high_mark(200), succeeded()), expected);
  CHECK_THROWS_WITH(file.forget("orders"), expected);
  CHECK(slurp(file.path()) == text);
  // import reads it (it does not require the checksum)
  CHECK(parse_state_document(text, "stdin", false).pipelines.at("orders").state.watermark == high_mark(999));
}

TEST_CASE("state file: a document without checksum is refused by the file but accepted by import parsing",
          "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  const std::string text = R"({"format": "tidemark-state", "version": 1, "pipelines": {"orders": {
      "strategy": "id", "version": 4,
      "watermark": {"columns": ["id"], "safe": ["7"], "high": ["7"], "pending": null}}}})";
  spit(file.path(), text);
  CHECK_THROWS_WITH(file.load("orders"), StartsWith("state file " + file.path() + ": has no checksum"));
  CHECK_THROWS_WITH(file.load("orders"), Contains("tidemark state import"));

  const StateDocument doc = parse_state_document(text, "stdin", false);
  const StoredState& s = doc.pipelines.at("orders").state;
  CHECK(s.exists);
  CHECK(s.version == 4);
  CHECK(s.watermark == high_mark(7));
  CHECK_FALSE(doc.pipelines.at("orders").last_run);

  // `state import` then writes it with a checksum
  file.put(doc.pipelines);
  CHECK(file.load("orders").version == 4);
  CHECK_THAT(slurp(file.path()), Contains("\"checksum\": \"sha256:"));
}

TEST_CASE("state document: malformed content is an error naming the field", "[unit][state_file]") {
  const auto doc = [](const std::string& pipelines,
                      const std::string& head = R"("format": "tidemark-state", "version": 1)") {
    return "{" + head + ", \"pipelines\": " + pipelines + "}";
  };
  const std::string wm = R"("watermark": {"columns": ["id"], "safe": null, "high": null, "pending": null})";
  CHECK_NOTHROW(parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1, )" + wm + "}}"), "W", false));
  CHECK_THROWS_WITH(parse_state_document(doc(R"({"o": {"strategy": "id", "version": "1", )" + wm + "}}"), "W", false),
                    "W: 'pipelines.o.version' must be an integer");
  CHECK_THROWS_WITH(parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1.5, )" + wm + "}}"), "W", false),
                    "W: 'pipelines.o.version' must be an integer");
  CHECK_THROWS_WITH(parse_state_document(doc(R"({"o": {"version": 1, )" + wm + "}}"), "W", false),
                    "W: 'pipelines.o.strategy' is missing");
  CHECK_THROWS_WITH(parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1}})"), "W", false),
                    "W: 'pipelines.o.watermark' is missing");
  CHECK_THROWS_WITH(
      parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1, "watermark": {"safe": "7"}}})"), "W", false),
      StartsWith("W: 'pipelines.o.watermark' is malformed: stored watermark: 'safe' is not a list"));
  CHECK_THROWS_WITH(
      parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1, "last_run": 3, )" + wm + "}}"), "W", false),
      "W: 'pipelines.o.last_run' must be an object");
  CHECK_THROWS_WITH(
      parse_state_document(doc(R"({"o": {"strategy": "id", "version": 1, "verison": 2, )" + wm + "}}"), "W", false),
      StartsWith("W: 'pipelines.o.verison' is not a field"));
  CHECK_THROWS_WITH(parse_state_document(doc("[]"), "W", false), "W: 'pipelines' must be an object");
  CHECK_THROWS_WITH(parse_state_document(doc("{}", R"("format": "other", "version": 1)"), "W", false),
                    StartsWith("W: not a tidemark state document"));
  CHECK_THROWS_WITH(parse_state_document(doc("{}", R"("format": "tidemark-state", "version": 2)"), "W", false),
                    StartsWith("W: written by a newer tidemark (state format version 2"));
  CHECK_THROWS_WITH(parse_state_document("[1, 2]", "W", false), StartsWith("W: not a tidemark state document"));
  CHECK_THROWS_WITH(parse_state_document("{\"format\": ", "W", false), StartsWith("W: not valid JSON at byte "));
}

TEST_CASE("state file: a save whose seen version is stale throws StateConflict and leaves the file untouched",
          "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  file.save("orders", "id", StoredState{}, high_mark(1), succeeded());
  const StoredState v1 = file.load("orders");
  file.save("orders", "id", v1, high_mark(2), succeeded());  // another run moves it to version 2
  const std::string before = slurp(file.path());

  CHECK_THROWS_AS(file.save("orders", "id", v1, high_mark(3), succeeded()), StateConflict);
  CHECK_THROWS_WITH(file.save("orders", "id", v1, high_mark(3), succeeded()),
                    "pipeline orders: state file " + file.path() +
                        " changed while this run was working (another run moved it); the data this run committed is "
                        "re-read by the next run, which idempotent write modes absorb");
  // a first run that finds an entry, and a run that finds its entry gone, conflict too
  CHECK_THROWS_AS(file.save("orders", "id", StoredState{}, high_mark(3), succeeded()), StateConflict);
  CHECK_THROWS_AS(file.save("other", "id", v1, high_mark(3), succeeded()), StateConflict);
  CHECK(slurp(file.path()) == before);
  CHECK(file.load("orders").version == 2);
  CHECK(file.load("orders").watermark == high_mark(2));
}

TEST_CASE("state file: entries of two pipelines coexist and forget removes only one", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  file.save("orders", "id", StoredState{}, high_mark(1), succeeded());
  file.save("customers", "updated_at", StoredState{}, full_mark(), succeeded());
  CHECK(file.read().pipelines.size() == 2);
  CHECK(file.load("orders").watermark == high_mark(1));
  CHECK(file.load("customers").watermark == full_mark());

  file.forget("orders");
  CHECK_FALSE(file.load("orders").exists);
  CHECK(file.load("customers").watermark == full_mark());
  file.forget("never-there");  // no-op
  CHECK(file.read().pipelines.size() == 1);
}

TEST_CASE("state file: record_run changes only last_run, and a pipeline without an entry gets none",
          "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  LastRun failed = succeeded(0);
  failed.status = "failed";
  failed.error = "source unreachable";

  file.record_run("orders", failed);  // a failed first run leaves the file as it was: absent
  CHECK_FALSE(fs::exists(file.path()));

  file.save("orders", "id", StoredState{}, high_mark(5), succeeded());
  const StateEntry before = file.read().pipelines.at("orders");
  file.record_run("orders", failed);
  file.record_run("customers", failed);
  const StateDocument doc = file.read();
  REQUIRE(doc.pipelines.size() == 1);
  const StateEntry& after = doc.pipelines.at("orders");
  CHECK(after.state.version == before.state.version);
  CHECK(after.state.watermark == before.state.watermark);
  CHECK(after.updated_at == before.updated_at);
  REQUIRE(after.last_run);
  CHECK(after.last_run->status == "failed");
  CHECK(after.last_run->error == "source unreachable");
}

TEST_CASE("state file: put replaces the given entries and keeps the others", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  file.save("orders", "id", StoredState{}, high_mark(1), succeeded());
  file.save("customers", "id", StoredState{}, high_mark(2), succeeded());
  StateEntry e;
  e.state = StoredState{false, "id", 9, high_mark(90)};
  e.updated_at = "2026-01-01T00:00:00.000Z";
  file.put({{"orders", e}, {"items", e}});
  const StateDocument doc = file.read();
  CHECK(doc.pipelines.size() == 3);
  CHECK(doc.pipelines.at("orders").state.version == 9);
  CHECK(doc.pipelines.at("orders").state.exists);
  CHECK(doc.pipelines.at("items").state.watermark == high_mark(90));
  CHECK(doc.pipelines.at("customers").state.watermark == high_mark(2));
}

TEST_CASE("state file: the file is created with mode 0600 and only it and its lock are left", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("state.json"));
  const mode_t old_mask = ::umask(0);  // even with a permissive umask
  file.save("orders", "id", StoredState{}, high_mark(1), succeeded());
  ::umask(old_mask);
  struct stat st {};
  REQUIRE(::stat(file.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto names = entries_of(dir.path(""));
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"state.json", "state.json.lock"});
}

TEST_CASE("state file: a save into a missing directory says the directory does not exist", "[unit][state_file]") {
  TempDir dir;
  StateFile file(dir.path("missing/state.json"));
  CHECK_THROWS_WITH(file.save("orders", "id", StoredState{}, high_mark(1), succeeded()),
                    "state file " + file.path() + ": directory " + dir.path("missing") + " does not exist");
}

TEST_CASE("state file: a process killed between the temp file and the rename leaves the old state",
          "[unit][state_file]") {
  TempDir dir;
  const std::string path = dir.path("state.json");
  StateFile file(path);
  file.save("orders", "id", StoredState{}, high_mark(1), succeeded());
  const StoredState old = file.load("orders");
  const std::string old_text = slurp(path);

  bool sigkill = false;
  SECTION("killed by SIGKILL") { sigkill = true; }
  SECTION("exits with _exit(9)") { sigkill = false; }

  const int status = in_child([&] {
    StateFile doomed(path, [sigkill](const char* step) {
      if (std::strcmp(step, "state_file_written") != 0) return;
      if (sigkill) std::raise(SIGKILL);
      ::_exit(9);
    });
    doomed.save("orders", "id", old, high_mark(2), succeeded());
  });
  if (sigkill) {
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
  } else {
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 9);
  }

  CHECK(slurp(path) == old_text);
  CHECK(parse_state_document(slurp(path), "state file", true).pipelines.at("orders").state.version == 1);
  CHECK(entries_of(dir.path("")).size() == 3);  // state.json, its lock, the dead writer's temp file

  // The leftover temp file breaks nothing: the next save works and removes it.
  file.save("orders", "id", old, high_mark(2), succeeded());
  CHECK(file.load("orders").version == 2);
  CHECK(file.load("orders").watermark == high_mark(2));
  CHECK(entries_of(dir.path("")).size() == 2);
}

TEST_CASE("state file: processes saving at once lose no update", "[unit][state_file]") {
  TempDir dir;
  const std::string path = dir.path("state.json");
  constexpr int kProcs = 4, kSaves = 20;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        StateFile file(path);
        const std::string name = "p" + std::to_string(p);
        for (int i = 1; i <= kSaves; ++i) file.save(name, "id", file.load(name), high_mark(i), succeeded(i));
      } catch (const std::exception& e) {
        std::cerr << "child " << p << ": " << e.what() << "\n";
        code = 3;
      }
      ::_exit(code);
    }
    kids.push_back(pid);
  }
  for (const pid_t pid : kids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const StateDocument doc = StateFile(path).read();  // checksum verified
  REQUIRE(doc.pipelines.size() == kProcs);
  for (const auto& [name, e] : doc.pipelines) {
    INFO(name);
    CHECK(e.state.version == kSaves);
    CHECK(e.state.watermark == high_mark(kSaves));
  }
}
