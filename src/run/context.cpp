#include "run/context.hpp"

#include <spdlog/spdlog.h>

namespace tidemark {

pg::Connection& RunContext::get(const std::string& name, const std::string& role) {
  const std::pair<std::string, std::string> key{name, role};
  auto& slot = open_[key];
  if (slot && !checked_.count(key) && !slot->responds()) {
    spdlog::debug("session on connection '{}' ({}) is gone; opening a new one", name, role);
    closed_round_trips_ += slot->round_trips();
    slot.reset();
  }
  if (!slot) {
    slot = std::make_unique<pg::Connection>(name, cfg_.connections.at(name), role);
    ++sessions_opened_;
    spdlog::debug("session opened on connection '{}' ({}), shared by the pipelines of this run", name, role);
  }
  checked_.insert(key);
  return *slot;
}

void RunContext::reset() {
  closed_round_trips_ = round_trips();
  open_.clear();
}

int64_t RunContext::round_trips() const {
  int64_t n = closed_round_trips_;
  for (const auto& [key, conn] : open_)
    if (conn) n += conn->round_trips();
  return n;
}

}  // namespace tidemark
