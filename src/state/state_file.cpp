// `state: {file: path}`: pipeline state in one local JSON file (tidemark/state_file.hpp). The
// document carries a SHA-256 of its canonical `pipelines` dump, so a hand edit is an error, and
// every write is a read-modify-write under an exclusive flock, made atomic by
// replace_file_atomically (temp file, fsync, rename, fsync of the directory).
#include "tidemark/state_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <utility>

#include "tidemark/errors.hpp"
#include "tidemark/file_util.hpp"
#include "tidemark/identity.hpp"

namespace tidemark {

using nlohmann::json;

namespace {

constexpr const char* kFormat = "tidemark-state";
constexpr int64_t kFormatVersion = 1;
constexpr const char* kImportHint = "to load hand-made state on purpose, use `tidemark state import`";

// "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error …" -> "syntax error …"
std::string json_message(std::string m) {
  if (m.compare(0, 1, "[") == 0)
    if (const auto end = m.find("] "); end != std::string::npos) m.erase(0, end + 2);
  if (m.compare(0, 12, "parse error ") == 0)
    if (const auto colon = m.find(": "); colon != std::string::npos) m.erase(0, colon + 2);
  return m;
}

// Reading one object of the document, naming the offending field ('pipelines.orders.version').
struct Fields {
  const std::string& where;
  const json& obj;
  std::string at;  // "pipelines.orders"

  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    throw RunError(where + ": '" + (at.empty() ? key : at + "." + key) + "' " + what);
  }
  void only(std::initializer_list<const char*> keys) const {
    for (const auto& kv : obj.items()) {
      bool known = false;
      for (const char* k : keys) known = known || kv.key() == k;
      if (!known) bad(kv.key(), "is not a field of a tidemark state document");
    }
  }
  bool has(const char* key) const { return obj.contains(key) && !obj.at(key).is_null(); }
  bool present(const char* key, bool required) const {
    if (!has(key) && required) bad(key, "is missing");
    return has(key);
  }
  std::string text(const char* key, bool required = false) const {
    if (!present(key, required)) return {};
    if (!obj.at(key).is_string()) bad(key, "must be a string");
    return obj.at(key).get<std::string>();
  }
  int64_t integer(const char* key, bool required = false) const {
    if (!present(key, required)) return 0;
    const json& v = obj.at(key);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
      bad(key, "must be an integer");
    return v.get<int64_t>();
  }
};

StateEntry entry_from(const std::string& where, const std::string& name, const json& j) {
  const Fields f{where, j, "pipelines." + name};
  if (!j.is_object()) throw RunError(where + ": '" + f.at + "' must be an object");
  f.only({"strategy", "version", "watermark", "identity", "updated_at", "last_run"});
  StateEntry e;
  e.state.exists = true;
  e.state.strategy = f.text("strategy", true);
  e.state.version = f.integer("version", true);
  if (e.state.version < 1) f.bad("version", "must be at least 1");
  if (!j.contains("watermark")) f.bad("watermark", "is missing");
  try {
    e.state.watermark = Watermark::from_json(j.at("watermark"));
  } catch (const std::exception& ex) {  // RunError, or a json::exception it did not expect
    f.bad("watermark", std::string("is malformed: ") + json_message(ex.what()));
  }
  if (f.has("identity")) {
    try {
      e.state.identity = StateIdentity::from_json(j.at("identity"), f.at + ".identity");
    } catch (const RunError& ex) {
      throw RunError(where + ": " + ex.what());
    }
  }
  e.updated_at = f.text("updated_at");
  if (f.has("last_run")) {
    const Fields r{where, j.at("last_run"), f.at + ".last_run"};
    if (!r.obj.is_object()) f.bad("last_run", "must be an object");
    r.only({"mode", "status", "started_at", "finished_at", "rows_read", "rows_written", "rows_deleted", "error"});
    LastRun& run = e.last_run.emplace();
    run.mode = r.text("mode", true);
    run.status = r.text("status", true);
    run.started_at = r.text("started_at");
    run.finished_at = r.text("finished_at");
    run.rows_read = r.integer("rows_read");
    run.rows_written = r.integer("rows_written");
    run.rows_deleted = r.integer("rows_deleted");
    run.error = r.text("error");
  }
  return e;
}

json pipelines_json(const StateDocument& doc) {
  json out = json::object();
  for (const auto& [name, e] : doc.pipelines) {
    json j = {{"strategy", e.state.strategy},
              {"version", e.state.version},
              {"watermark", e.state.watermark.to_json()},
              {"updated_at", e.updated_at}};
    if (e.state.identity) j["identity"] = e.state.identity->to_json();
    if (const auto& r = e.last_run)
      j["last_run"] = {{"mode", r->mode},           {"status", r->status},
                       {"started_at", r->started_at}, {"finished_at", r->finished_at},
                       {"rows_read", r->rows_read},   {"rows_written", r->rows_written},
                       {"rows_deleted", r->rows_deleted}, {"error", r->error}};
    out[name] = std::move(j);
  }
  return out;
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd;
  ~Fd() { close(); }
  int get() const { return fd; }
  int close() { return fd < 0 ? 0 : ::close(std::exchange(fd, -1)); }
};

}  // namespace

StateDocument parse_state_document(const std::string& text, const std::string& where, bool require_checksum) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw RunError(where + ": not valid JSON at byte " + std::to_string(e.byte) + ": " + json_message(e.what()));
  } catch (const json::exception& e) {
    throw RunError(where + ": not valid JSON: " + json_message(e.what()));
  }
  if (!j.is_object() || !j.contains("format") || j.at("format") != kFormat)
    throw RunError(where + ": not a tidemark state document (its 'format' must be \"" + kFormat + "\")");
  const Fields top{where, j, ""};
  const int64_t version = top.integer("version", true);
  if (version > kFormatVersion)
    throw RunError(where + ": written by a newer tidemark (state format version " + std::to_string(version) +
                   "; this one reads version " + std::to_string(kFormatVersion) + ")");
  if (version < 1) top.bad("version", "must be 1");
  top.only({"format", "version", "pipelines", "checksum"});
  if (!j.contains("pipelines") || !j.at("pipelines").is_object()) top.bad("pipelines", "must be an object");
  if (require_checksum) {
    if (!top.has("checksum"))
      throw RunError(where + ": has no checksum: it was not written by tidemark; " + kImportHint);
    if (j.at("checksum") != "sha256:" + sha256_hex(j.at("pipelines").dump()))
      throw RunError(where + ": checksum does not match its content: it was changed outside tidemark; " + kImportHint);
  }
  StateDocument doc;
  for (const auto& [name, entry] : j.at("pipelines").items()) {
    if (name.empty()) throw RunError(where + ": a pipeline name in 'pipelines' is empty");
    doc.pipelines.emplace(name, entry_from(where, name, entry));
  }
  return doc;
}

std::string render_state_document(const StateDocument& doc) {
  try {
    const std::string canonical = pipelines_json(doc).dump();
    nlohmann::ordered_json out;  // format and version first, the checksum last
    out["format"] = kFormat;
    out["version"] = kFormatVersion;
    out["pipelines"] = nlohmann::ordered_json::parse(canonical);
    out["checksum"] = "sha256:" + sha256_hex(canonical);
    return out.dump(2) + "\n";
  } catch (const json::type_error& e) {  // 316: a string that is not UTF-8
    throw RunError("state document: a value cannot be stored as JSON: " + json_message(e.what()));
  }
}

namespace {

StateDocument read_state(const std::string& path, bool require_checksum) {
  const std::string where = "state file " + path;
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.get() < 0) {
    if (errno == ENOENT) return {};  // no state yet
    throw RunError(where + ": cannot open it: " + std::strerror(errno));
  }
  std::string text;
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RunError(where + ": cannot read it: " + std::strerror(errno));
    text.append(buf, static_cast<size_t>(n));
  }
  if (text.empty())
    throw RunError(where + ": the file is empty, which tidemark never writes: it was truncated outside tidemark; "
                   "restore it from a backup, or " + kImportHint);
  return parse_state_document(text, where, require_checksum);
}

// The read-modify-write of StateFile::update; put() reads without the checksum (see there).
void write_state(const std::string& path, const std::function<void(const char*)>& step, bool require_checksum,
                 const std::function<void(StateDocument&)>& change) {
  const std::string where = "state file " + path, dir = dir_of(path), lock_path = path + ".lock";
  // errno first: building the message may change it
  auto fail = [&](const char* what, const std::string& name) {
    const int err = errno;
    throw RunError(where + ": " + what + " " + name + ": " + std::strerror(err));
  };
  Fd lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (lock.get() < 0) {
    const int err = errno;
    struct stat st {};
    if (err == ENOENT && ::stat(dir.c_str(), &st) != 0)
      throw RunError(where + ": directory " + dir + " does not exist");
    errno = err;
    fail("cannot open its lock file", lock_path);
  }
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) fail("cannot lock", lock_path);

  StateDocument doc = read_state(path, require_checksum);
  const json before = pipelines_json(doc);
  change(doc);
  // Nothing changed: no write, and no file created. put() always writes: it also re-seals a file
  // whose checksum was not checked.
  if (require_checksum && pipelines_json(doc) == before) return;
  const std::string text = render_state_document(doc);

  // Under the lock every temp file is a leftover of a writer that died before its rename.
  const std::string stale = path.substr(path.rfind('/') + 1) + ".tmp.";
  if (std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir); d)
    while (const dirent* e = ::readdir(d.get()))
      if (std::strncmp(e->d_name, stale.c_str(), stale.size()) == 0) ::unlink((dir + "/" + e->d_name).c_str());

  AtomicWrite how{0600, nullptr};  // the state is the user's alone
  if (step) how.before_rename = [&step] { step("state_file_written"); };
  replace_file_atomically(path, text, where, how);
}

}  // namespace

StateFile::StateFile(std::string path, std::function<void(const char*)> step)
    : path_(std::move(path)), step_(std::move(step)) {}

StateDocument StateFile::read() const { return read_state(path_, true); }

void StateFile::check_writable() const {
  const std::string dir = dir_of(path_), where = "state file " + path_;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    throw RunError(where + ": directory " + dir + (err == ENOENT ? " does not exist" : ": " + std::string(std::strerror(err))) +
                   "; nothing was read or written (create the directory, or change state.file)");
  }
  if (!S_ISDIR(st.st_mode)) throw RunError(where + ": " + dir + " is not a directory; nothing was read or written");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    throw RunError(where + ": cannot write in directory " + dir + ": " + std::strerror(err) +
                   "; nothing was read or written");
  }
  for (const std::string& f : {path_, path_ + ".lock"})
    if (::access(f.c_str(), F_OK) == 0 && ::access(f.c_str(), R_OK | W_OK) != 0) {
      const int err = errno;
      throw RunError(where + ": cannot write " + f + ": " + std::strerror(err) + "; nothing was read or written");
    }
}

StoredState StateFile::load(const std::string& pipeline) const {
  const StateDocument doc = read();
  const auto it = doc.pipelines.find(pipeline);
  return it == doc.pipelines.end() ? StoredState{} : it->second.state;
}

void StateFile::update(const std::function<void(StateDocument&)>& change) { write_state(path_, step_, true, change); }

void StateFile::save(const std::string& pipeline, const std::string& strategy, const StoredState& seen,
                     const Watermark& next, const LastRun& run, const std::optional<StateIdentity>& identity) {
  update([&](StateDocument& doc) {
    const auto it = doc.pipelines.find(pipeline);
    const bool exists = it != doc.pipelines.end();
    if (exists != seen.exists || (exists && it->second.state.version != seen.version))
      throw StateConflict("pipeline " + pipeline + ": state file " + path_ +
                          " changed while this run was working (another run moved it); the data this run committed is "
                          "re-read by the next run, which idempotent write modes absorb");
    StateEntry& e = doc.pipelines[pipeline];
    std::optional<StateIdentity> keep = identity ? identity : e.state.identity;
    e.state = StoredState{true, strategy, seen.exists ? seen.version + 1 : 1, next, std::move(keep)};
    e.updated_at = utc_now_iso();
    e.last_run = run;
  });
}

bool StateFile::set_identity(const std::string& pipeline, const StateIdentity& identity) {
  bool found = false;
  update([&](StateDocument& doc) {
    if (const auto it = doc.pipelines.find(pipeline); it != doc.pipelines.end()) {
      it->second.state.identity = identity;
      found = true;
    }
  });
  return found;
}

void StateFile::record_run(const std::string& pipeline, const LastRun& run) {
  update([&](StateDocument& doc) {
    if (const auto it = doc.pipelines.find(pipeline); it != doc.pipelines.end()) it->second.last_run = run;
  });
}

// Import is how hand-made state is loaded on purpose, and the checksum error sends the user
// here, so the current file may be one they edited: it must still parse, but its checksum is
// not required (otherwise `tidemark state import` of an edited state file could never work).
void StateFile::put(const std::map<std::string, StateEntry>& entries) {
  write_state(path_, step_, false, [&](StateDocument& doc) {
    for (const auto& [name, e] : entries) (doc.pipelines[name] = e).state.exists = true;
  });
}

void StateFile::forget(const std::string& pipeline) {
  update([&](StateDocument& doc) { doc.pipelines.erase(pipeline); });
}

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::floor<std::chrono::seconds>(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

}  // namespace tidemark
