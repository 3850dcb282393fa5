#include "strategy/registry.hpp"

namespace tidemark {

static const std::vector<const Strategy*>& all_strategies() {
  static const std::vector<const Strategy*> all = {&strategy::id_strategy(), &strategy::updated_at_strategy(),
                                                   &strategy::full_strategy(), &strategy::files_strategy(),
                                                   &strategy::cdc_strategy()};
  return all;
}

const Strategy* find_strategy(const std::string& name) {
  for (const Strategy* s : all_strategies())
    if (s->name() == name) return s;
  return nullptr;
}

std::vector<std::string> strategy_names() {
  std::vector<std::string> out;
  for (const Strategy* s : all_strategies()) out.push_back(s->name());
  return out;
}

}  // namespace tidemark
