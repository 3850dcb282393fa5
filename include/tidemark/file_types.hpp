// Strategy `files`: the values its plan is made of (a file of the listing, what the manifest
// knows of it, what a run does with it). Pure data, part of the plan (tidemark/plan.hpp).
#pragma once
#include <cstdint>
#include <string>

namespace tidemark::files {

struct FileInfo {
  std::string rel;       // path relative to detect.path, '/'-separated
  int64_t size = 0;      // bytes
  int64_t mtime_ns = 0;  // modification time, ns since the epoch
};

struct ManifestEntry {
  int64_t size = 0, mtime_ns = 0;
  std::string checksum;
};

enum class Action {
  kLoad,       // new: load it
  kCheck,      // size or mtime changed: checksum it; reload when the content changed
  kReload,     // a --from/--to range selects it: load it again whatever the manifest says
  kUnchanged,  // same size and mtime as when loaded: not read at all
  kUnsettled,  // modified within detect.settle: maybe still being written
  kOutOfRange  // outside --from/--to, or no date in its name for date_from_name
};

struct Decision {
  FileInfo file;
  Action action = Action::kLoad;
  std::string note;  // e.g. "size 10 -> 12", "modified 3s ago"
};

}  // namespace tidemark::files
