// Change detection: one implementation per file in src/strategy/, looked up by name.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tidemark/plan.hpp"

namespace tidemark {

using FieldProblems = std::vector<std::pair<std::string, std::string>>;  // (field, problem)

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual std::string default_write() const = 0;
  virtual bool has_cursor() const = 0;
  // Whether --from/--to can select something: a cursor range, or files by date.
  virtual bool has_range() const { return has_cursor(); }
  // Config rules this strategy needs (fields relative to the pipeline, e.g. "detect.cursor").
  virtual FieldProblems check(const PipelineConfig& p) const = 0;
  // Pure: what to read and how. Throws ConfigError for a request it cannot serve.
  virtual ExtractPlan plan(const PlanInput& in) const = 0;
};

// Batches (plan.batching): the query returning the tuple that ends the next batch (its
// batch_size-th row after `after`, or after the first window), and the rows of one batch,
// after `after` up to and including `upto` (to the end when `upto` is empty).
Sql batch_bound_query(const ExtractPlan& plan, const std::optional<Tuple>& after);
Sql batch_select(const ExtractPlan& plan, const std::optional<Tuple>& after, const std::optional<Tuple>& upto);

// Backfill chunks: a query on the source returning the [lower, upper) pairs (as text, in the
// cursor's own type) that split [from, to) into steps of `chunk` (a number of ids, or a
// duration like 1d for timestamps). Throws ConfigError for a chunk that does not fit.
Sql chunk_query(const std::string& cursor_type, const std::string& from, const std::string& to,
                const std::string& chunk);

const Strategy* find_strategy(const std::string& name);
std::vector<std::string> strategy_names();

}  // namespace tidemark
