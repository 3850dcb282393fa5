#include "run/context.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <future>
#include <algorithm>
#include <vector>

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

void RunContext::open_for(const PipelineConfig& p) {
  using Key = std::pair<std::string, std::string>;
  const std::string state_name =
      cfg_.state_with_target(p) || !cfg_.state.file.empty() ? p.target.connection : cfg_.state_connection(p);
  std::vector<Key> want;
  for (const Key& k : {Key{p.target.connection, "tidemark"}, Key{state_name, "tidemark"},
                       Key{p.source.connection, "tidemark-source"}})
    if (std::find(want.begin(), want.end(), k) == want.end() && !open_.count(k) && cfg_.connections.count(k.first))
      want.push_back(k);
  if (want.size() < 2) return;  // one session: nothing to overlap, get() opens it
  std::vector<std::future<std::unique_ptr<pg::Connection>>> pending;
  for (const Key& k : want)
    pending.push_back(std::async(std::launch::async, [this, k] {
      return std::make_unique<pg::Connection>(k.first, cfg_.connections.at(k.first), k.second);
    }));
  std::exception_ptr first;
  for (size_t i = 0; i < want.size(); ++i) {
    try {
      open_[want[i]] = pending[i].get();
      ++sessions_opened_;
      checked_.insert(want[i]);
      spdlog::debug("session opened on connection '{}' ({}), shared by the pipelines of this run", want[i].first,
                    want[i].second);
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
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
