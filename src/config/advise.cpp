// `tidemark advise`: is this pipeline's strategy a good fit for its source table, and what is
// risky about it? Pure: reads an inspected table, changes nothing (docs/operations.md#advise).
#include "tidemark/config.hpp"
#include "tidemark/inspect.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark {

const char* advice_kind(Advice::Kind k) {
  switch (k) {
    case Advice::Kind::kOk: return "ok";
    case Advice::Kind::kAdvice: return "advice";
    case Advice::Kind::kRisk: return "risk";
  }
  return "?";
}

// The strategy judges its own fit and its source's change capture; the key is everyone's.
std::vector<Advice> advise(const PipelineConfig& p, const InspectedTable& t) {
  using K = Advice::Kind;
  const Strategy* strategy = find_strategy(p.detect.strategy);
  std::vector<Advice> out = strategy ? strategy->fit_advice(p, t) : std::vector<Advice>{};
  if (t.primary_key.empty()) {
    out.push_back({K::kRisk, "the table has no primary key: without a target.key that truly identifies a row, "
                             "writes cannot be idempotent upserts"});
  } else if (p.target.key.empty() && (!strategy || strategy->caps().source)) {
    out.push_back({K::kAdvice, "the source's primary key is (" + ident_list(t.primary_key) +
                                   "): set target.key to it"});
  }
  if (strategy)
    for (auto& a : strategy->capture_advice(p, t)) out.push_back(std::move(a));
  return out;
}

}  // namespace tidemark
