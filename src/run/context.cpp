#include "run/context.hpp"

#include <spdlog/spdlog.h>

namespace tidemark {

pg::Connection& RunContext::get(const std::string& name, const std::string& role) {
  const std::pair<std::string, std::string> key{name, role};
  auto& slot = open_[key];
  if (slot && !checked_.count(key) && !slot->responds()) {
    spdlog::debug("session on connection '{}' ({}) is gone; opening a new one", name, role);
    slot.reset();
  }
  if (!slot) {
    slot = std::make_unique<pg::Connection>(name, cfg_.connections.at(name), role);
    spdlog::debug("session opened on connection '{}' ({}), shared by the pipelines of this run", name, role);
  }
  checked_.insert(key);
  return *slot;
}

}  // namespace tidemark
