// `state: {file: path}` (docs/operations.md#state-file): pipeline state in one local JSON file
// instead of the `tidemark` schema of the target database, for users who may not create a
// schema in the warehouse. The file is rewritten atomically (temp file, fsync, rename, fsync
// of the directory) after the data commit, under an exclusive flock on "<path>.lock", and
// carries a checksum: a corrupt or hand-edited file is an error naming the file, never a
// silent reset. The same document is what `tidemark state export` prints and `import` reads.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "tidemark/plan.hpp"

namespace tidemark {

// The outcome of a pipeline's latest run, kept in the file in place of tidemark.runs.
struct LastRun {
  std::string mode;        // incremental | full_refresh | range | full
  std::string status;      // succeeded | failed
  std::string started_at;  // ISO 8601 UTC, e.g. 2026-11-24T21:40:00.123Z
  std::string finished_at;
  int64_t rows_read = 0, rows_written = 0, rows_deleted = 0;
  std::string error;  // failed runs: why (already redacted by the caller)
};

// One pipeline's entry of the document.
struct StateEntry {
  StoredState state;  // exists is true for every entry read back
  std::string updated_at;  // when the watermark last moved (ISO 8601 UTC)
  std::optional<LastRun> last_run;
};

// The document: {"format": "tidemark-state", "version": 1, "pipelines": {name: entry},
// "checksum": "sha256:<hex of the canonical dump of pipelines>"}.
struct StateDocument {
  std::map<std::string, StateEntry> pipelines;
};

// `where` names the file (or "stdin") in errors. With `require_checksum` (the state file) a
// missing or wrong checksum is an error that says the file was edited outside tidemark and
// how to load hand-made state on purpose (`tidemark state import`); import passes false.
// Throws RunError for anything malformed: not JSON (with the parser's byte position), a wrong
// format/version (a newer version too), a pipeline entry that is not the expected shape (an
// unknown field included); the message starts with `where` and names the field.
StateDocument parse_state_document(const std::string& text, const std::string& where, bool require_checksum);
// Pretty-printed JSON ending in a newline, with the checksum. Throws RunError for a string
// that is not UTF-8 (JSON cannot hold it).
std::string render_state_document(const StateDocument& doc);

class StateFile {
 public:
  // `step` is called at named points of a write ("state_file_written" after the temp file is
  // written and fsynced, before the rename) so crash tests can kill the process there.
  explicit StateFile(std::string path, std::function<void(const char*)> step = {});
  const std::string& path() const { return path_; }

  // The whole document; a missing file is an empty document (no state yet), a missing
  // directory too. Errors name the file.
  StateDocument read() const;
  // Throws RunError (saying nothing was read or written) unless the file can be written: its
  // directory exists and is writable, and the file and its lock file, where they exist, are
  // too. Runs check it before their data commit, since the file is written after it.
  void check_writable() const;
  // One pipeline's state (exists false when the file has none).
  StoredState load(const std::string& pipeline) const;

  // Compare-and-set, under the exclusive flock: the pipeline's version in the file must
  // still be `seen.version` (or absent when !seen.exists), else StateConflict and the file is
  // left alone. Writes the new watermark with version + 1 (1 for a first save), updated_at now,
// and `run`.
  // The entry records `identity` (nullopt: keeps the one it has).
  void save(const std::string& pipeline, const std::string& strategy, const StoredState& seen, const Watermark& next,
            const LastRun& run, const std::optional<StateIdentity>& identity = std::nullopt);
  // Records what the pipeline's state is of (docs/correctness.md#identity-of-state), keeping its
  // watermark; false (and nothing written) when the file has no entry for it.
  bool set_identity(const std::string& pipeline, const StateIdentity& identity);
  // Records a run that did not move the watermark (a failed run): only last_run changes. A
  // pipeline without an entry gets none (a failed first run leaves the file as it was).
  void record_run(const std::string& pipeline, const LastRun& run);
  // Replaces (or adds) the given entries, keeping the others; under the flock. Used by
  // `tidemark state import`, which is how hand-made state is loaded on purpose: the current
  // file must parse, but its checksum is not required (it may be the edited file itself), and
  // the result is written with a fresh checksum.
  void put(const std::map<std::string, StateEntry>& entries);
  // Removes a pipeline's entry (--full-refresh of a pipeline whose strategy changed).
  void forget(const std::string& pipeline);

 private:
  // Runs `change` on the current document under the exclusive flock and writes the result
  // atomically; nothing is written (nor created) when `change` left the document as it was.
  void update(const std::function<void(StateDocument&)>& change);
  std::string path_;
  std::function<void(const char*)> step_;
};

// Now as ISO 8601 UTC with milliseconds.
std::string utc_now_iso();

}  // namespace tidemark
