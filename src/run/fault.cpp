#include "run/fault.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "tidemark/errors.hpp"

namespace tidemark {

void fault_point(const char* point) {
  static const char* spec_env = std::getenv("TIDEMARK_FAULT");
  static std::atomic<int> hits{0};  // the worker threads of run --jobs pass the points too
  if (!spec_env) return;
  const std::string spec = spec_env;
  const std::string head = spec.substr(0, spec.find(':'));
  const std::string where = head.substr(0, head.find('@'));
  if (where != point) return;
  const int nth = head.find('@') == std::string::npos ? 1 : std::atoi(head.c_str() + head.find('@') + 1);
  const std::string how = spec.size() > head.size() ? spec.substr(head.size() + 1) : "";
  const int hit = ++hits;
  if (how == "pause") {  // this thread waits here, holding what it holds; the others go on
    if (hit < nth) return;
    const char* release = std::getenv("TIDEMARK_FAULT_RELEASE");
    struct stat st {};
    if (!release || ::stat(release, &st) == 0) return;
    spdlog::warn("paused at fault point {} until {} exists", point, release);
    while (::stat(release, &st) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return;
  }
  if (hit != nth) return;
  if (how == "kill") std::raise(SIGKILL);
  if (how == "stop") {  // a frozen host: every thread stops, the connections stay open
    std::raise(SIGSTOP);
    return;
  }
  throw RunError(std::string("injected fault at ") + point);
}

bool naive_watermark() {
  static const bool on = std::getenv("TIDEMARK_NAIVE_WATERMARK") != nullptr;
  return on;
}

}  // namespace tidemark
