#include "strategy/registry.hpp"

#include "tidemark/registry.hpp"

namespace tidemark {

static const Registry<Strategy>& strategies() {
  static const Registry<Strategy> r = {&strategy::id_strategy(), &strategy::updated_at_strategy(),
                                       &strategy::full_strategy(), &strategy::files_strategy(),
                                       &strategy::cdc_strategy()};
  return r;
}

const Strategy* find_strategy(const std::string& name) { return strategies().find(name); }
std::vector<std::string> strategy_names() { return strategies().names(); }

}  // namespace tidemark
