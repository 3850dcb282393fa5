#include "run/context.hpp"

#include <spdlog/spdlog.h>

namespace tidemark {

pg::Connection& RunContext::get(const std::string& name, const std::string& role) {
  auto& slot = open_[{name, role}];
  if (slot && !slot->is_open()) slot.reset();  // the server or the network closed it
  if (!slot) {
    slot = std::make_unique<pg::Connection>(name, cfg_.connections.at(name), role);
    spdlog::debug("session opened on connection '{}' ({}), shared by the pipelines of this run", name, role);
  }
  return *slot;
}

}  // namespace tidemark
