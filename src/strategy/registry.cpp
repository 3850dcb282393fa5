#include "strategy/registry.hpp"

#include "tidemark/registry.hpp"
#include "tidemark/util.hpp"

namespace tidemark {

static const Registry<Strategy>& strategies() {
  static const Registry<Strategy> r = {&strategy::id_strategy(), &strategy::updated_at_strategy(),
                                       &strategy::full_strategy(), &strategy::files_strategy(),
                                       &strategy::cdc_strategy()};
  return r;
}

const Strategy* find_strategy(const std::string& name) { return strategies().find(name); }
std::vector<std::string> strategy_names() { return strategies().names(); }
const std::vector<const Strategy*>& all_strategies() { return strategies().all(); }

std::vector<std::string> strategies_with(bool StrategyCaps::*cap) { return strategies().names_with(cap); }

std::string strategies_text(bool StrategyCaps::*cap) {
  const std::vector<std::string> names = strategies_with(cap);
  return (names.size() == 1 ? "strategy " : "strategies ") + spoken_list(names);
}

}  // namespace tidemark
