#include "tidemark/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include <unistd.h>

namespace tidemark::log {
namespace {

// The pipeline scope is the calling thread's: pipelines run side by side on worker threads
// (run --jobs), and the sink writes on the thread that logs, so each line names its own.
thread_local std::string g_pipeline;
thread_local int64_t g_run_id = 0;
Format g_format = Format::kText;
bool g_quiet = false;
std::mutex g_progress_mutex;  // guards g_progress and stderr against the sink
std::string g_progress;       // the progress line on the terminal, if one is shown

std::string timestamp(const spdlog::log_clock::time_point& tp) {
  auto t = spdlog::log_clock::to_time_t(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Both formats come from one sink so the pipeline context is added the same way. The sink is
// the multi-threaded kind (base_sink<std::mutex>): worker threads log at once.
class Sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit Sink(Format f) : format_(f) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    std::string level(spdlog::level::to_string_view(msg.level).data(), spdlog::level::to_string_view(msg.level).size());
    std::string line;
    if (format_ == Format::kJson) {
      nlohmann::json j = {{"ts", timestamp(msg.time)}, {"level", level}, {"msg", text}};
      if (!g_pipeline.empty()) j["pipeline"] = g_pipeline;
      if (g_run_id) j["run_id"] = g_run_id;
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      line = timestamp(msg.time) + " " + level + " ";
      if (!g_pipeline.empty()) line += "[" + g_pipeline + (g_run_id ? " #" + std::to_string(g_run_id) : "") + "] ";
      line += text + "\n";
    }
    // A progress line on the terminal is cleared, the log line written, and the progress
    // line drawn again below it.
    std::lock_guard<std::mutex> lock(g_progress_mutex);
    if (!g_progress.empty()) line = "\r\033[K" + line + g_progress;
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  Format format_;
};

}  // namespace

void setup(Format format, int verbosity) {
  auto logger = std::make_shared<spdlog::logger>("tidemark", std::make_shared<Sink>(format));
  spdlog::level::level_enum lvl = spdlog::level::info;
  if (verbosity < 0) lvl = spdlog::level::err;
  if (verbosity == 1) lvl = spdlog::level::debug;
  if (verbosity >= 2) lvl = spdlog::level::trace;
  g_format = format;
  g_quiet = verbosity < 0;
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

PipelineScope::PipelineScope(const std::string& pipeline) {
  g_pipeline = pipeline;
  g_run_id = 0;
}
PipelineScope::~PipelineScope() {
  g_pipeline.clear();
  g_run_id = 0;
}
void PipelineScope::set_run_id(int64_t id) { g_run_id = id; }

bool progress_on_terminal() { return g_format == Format::kText && !g_quiet && isatty(STDERR_FILENO) == 1; }

void progress(const std::string& line) {
  if (!progress_on_terminal()) return;
  std::lock_guard<std::mutex> lock(g_progress_mutex);
  g_progress = line;
  const std::string out = "\r\033[K" + line;
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

void progress_done() {
  std::lock_guard<std::mutex> lock(g_progress_mutex);
  if (g_progress.empty()) return;
  g_progress.clear();
  std::fputs("\n", stderr);
  std::fflush(stderr);
}

}  // namespace tidemark::log
