#include "run/fault.hpp"

#include <csignal>
#include <cstdlib>
#include <string>

#include "tidemark/errors.hpp"

namespace tidemark {

void fault_point(const char* point) {
  static const char* spec_env = std::getenv("TIDEMARK_FAULT");
  static int hits = 0;
  if (!spec_env) return;
  const std::string spec = spec_env;
  const std::string head = spec.substr(0, spec.find(':'));
  const std::string where = head.substr(0, head.find('@'));
  if (where != point) return;
  const int nth = head.find('@') == std::string::npos ? 1 : std::atoi(head.c_str() + head.find('@') + 1);
  if (++hits != nth) return;
  const std::string how = spec.size() > head.size() ? spec.substr(head.size() + 1) : "";
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
