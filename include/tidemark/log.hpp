// Logging: spdlog to stderr, as short text or one JSON object per line. Every line of a
// pipeline's run carries its name and run id.
#pragma once
#include <cstdint>
#include <string>

namespace tidemark::log {

enum class Format { kText, kJson };

// verbosity: -1 quiet (errors only), 0 normal, 1 debug, 2 trace (SQL text).
void setup(Format format, int verbosity);

// A single updating status line on a terminal (text logs, not -q, stderr a tty): log lines
// are written above it. progress() does nothing when progress_on_terminal() is false, where
// progress goes to the log lines instead. progress_done() ends the line.
bool progress_on_terminal();
void progress(const std::string& line);
void progress_done();

// While alive, log lines of the calling thread name this pipeline (and run id once known);
// each worker thread of `run --jobs` has its own scope.
class PipelineScope {
 public:
  explicit PipelineScope(const std::string& pipeline);
  ~PipelineScope();
  static void set_run_id(int64_t id);
  PipelineScope(const PipelineScope&) = delete;
  PipelineScope& operator=(const PipelineScope&) = delete;
};

}  // namespace tidemark::log
