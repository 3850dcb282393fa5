// `tidemark verify`: does the target hold exactly the source's rows (for a cursor range, or
// all of them)? For CI smoke tests and after repairs: exit 0 when equal, 1 when not.
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "pg/compare.hpp"
#include "pg/pg.hpp"
#include "tidemark/compare.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark::cli {
namespace {

constexpr int64_t kListLimit = 200000;  // rows per side up to which differing keys are listed
constexpr size_t kShown = 10;

// One pipeline compared: prints its result, returns whether both sides are the same.
bool verify_pipeline(const Config& cfg, const PipelineConfig& p, const VerifyArgs& a) {
  const Strategy& strategy = *find_strategy(p.detect.strategy);
  pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
  pg::Connection target(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
  const SourceShape shape = pg::Source(source).describe(p);
  std::vector<std::string> cols;
  for (const auto& c : shape.columns) cols.push_back(c.name);
  std::optional<Sql> range;
  if (!a.from.empty() || !a.to.empty()) {
    const RunRequest req{RunMode::kRange, a.from.empty() ? std::nullopt : std::optional<std::string>(a.from),
                         a.to.empty() ? std::nullopt : std::optional<std::string>(a.to), std::nullopt};
    range = strategy.plan({p, shape, StoredState{}, req}).target_range;
  }
  // The same columns and the same predicate on both sides; each row compared by its text.
  const compare::RowSet from_source{compare::source_relation(p.source), cols, range};
  const compare::RowSet from_target{p.target.table.quoted(), cols, range};
  pg::CompareSide src(source, "source"), tgt(target, "target");
  const pg::CompareSide::Summary s = src.summary(from_source), t = tgt.summary(from_target);
  const bool same = s.rows == t.rows && s.hash == t.hash;

  std::vector<std::string> differences;
  if (!same && !p.target.key.empty() && s.rows <= kListLimit && t.rows <= kListLimit) {
    auto key_text = [&](const Tuple& k) {
      std::string out;
      for (size_t i = 0; i < k.size(); ++i) out += (i ? ", " : "") + p.target.key[i] + "=" + k[i];
      return out;
    };
    // A NULL key is shown as NULL, and rows with one are listed on their own, since no key
    // comparison can match them.
    auto keyed = [&](pg::CompareSide& side, const compare::RowSet& rows, const char* where) {
      std::map<Tuple, std::string> out;
      for (auto& row : side.keyed(rows, p.target.key)) {
        Tuple key;
        bool null_key = false;
        for (const auto& v : row.key) {
          null_key = null_key || !v;
          key.push_back(v ? *v : "NULL");
        }
        if (null_key) differences.push_back(std::string("row with a NULL key in the ") + where + " (never matched): " +
                                            key_text(key));
        else out.emplace(std::move(key), std::move(row.md5));
      }
      return out;
    };
    const auto a_rows = keyed(src, from_source, "source"), b_rows = keyed(tgt, from_target, "target");
    for (const auto& [k, h] : a_rows) {
      auto it = b_rows.find(k);
      if (it == b_rows.end()) differences.push_back("missing in the target: " + key_text(k));
      else if (it->second != h) differences.push_back("different: " + key_text(k));
    }
    for (const auto& [k, h] : b_rows)
      if (!a_rows.count(k)) differences.push_back("not in the source: " + key_text(k));
  }
  const std::string scope = range ? "range " + range->display() : std::string("all rows");
  if (a.json) {
    nlohmann::json j = {{"pipeline", p.name},       {"scope", scope},
                        {"equal", same},            {"source_rows", s.rows},
                        {"target_rows", t.rows},    {"differences", differences.size()}};
    j["examples"] = nlohmann::json::array();
    for (size_t i = 0; i < differences.size() && i < kShown; ++i) j["examples"].push_back(differences[i]);
    std::cout << j.dump() << "\n";
  } else {
    std::cout << p.name << ": " << scope << ": source " << s.rows << " rows, target " << t.rows << " rows: "
              << (same ? "identical" : "DIFFERENT") << "\n";
    for (size_t i = 0; i < differences.size() && i < kShown; ++i) std::cout << "  " << differences[i] << "\n";
    if (differences.size() > kShown) std::cout << "  … and " << differences.size() - kShown << " more\n";
  }
  return same;
}

}  // namespace

int cmd_verify(const VerifyArgs& a) {
  Config cfg = load_config(a.config);
  // A selector's name or a glob verifies each pipeline it selects, one after another (one line,
  // or one JSON object a line, each).
  const Selection sel = select_expanded(cfg, {a.pipeline});
  std::vector<const PipelineConfig*> todo;
  for (const PipelineConfig* p : sel.pipelines) {
    if (find_strategy(p->detect.strategy)->caps().verify) {
      todo.push_back(p);
    } else if (sel.named(*p)) {
      throw ConfigError("pipeline " + p->name + ": strategy " + p->detect.strategy +
                        " has no source table to compare with");
    } else {
      spdlog::info("{}: strategy {} has no source table to compare with; not verified", pipeline_text(*p),
                   p->detect.strategy);
    }
  }
  if (todo.empty())
    throw ConfigError("'" + a.pipeline + "' selects no pipeline with a source table to compare with (strategies " +
                      spoken_list(strategies_with(&StrategyCaps::verify), "or") + ")");
  bool all_same = true;
  for (const PipelineConfig* p : todo) all_same = verify_pipeline(cfg, *p, a) && all_same;
  return all_same ? kExitOk : kExitRunFailed;
}

int cmd_advise(const AdviseArgs& a) {
  Config cfg = load_config(a.config);
  nlohmann::json all = nlohmann::json::array();
  int rc = kExitOk;
  for (const PipelineConfig* p : select_expanded(cfg, a.pipelines).pipelines) {
    if (!p->source.table) {
      if (!a.json)
        std::cout << p->name << ": nothing to inspect ("
                  << (find_strategy(p->detect.strategy)->caps().source ? "a query" : "a directory")
                  << " source)\n";
      continue;
    }
    std::vector<Advice> advice;
    try {
      pg::Connection c(p->source.connection, cfg.connections.at(p->source.connection), "tidemark-source");
      advice = advise(*p, pg::inspect_table(c, *p->source.table));
    } catch (const RunError& e) {
      spdlog::error("{}: {}", p->name, e.what());
      rc = kExitRunFailed;
      continue;
    }
    nlohmann::json items = nlohmann::json::array();
    if (!a.json) std::cout << p->name << " (" << p->detect.strategy << ", " << p->source.table->display() << "):\n";
    for (const auto& x : advice) {
      if (a.json) items.push_back({{"kind", advice_kind(x.kind)}, {"text", x.text}});
      else std::cout << "  " << advice_kind(x.kind) << ": " << x.text << "\n";
    }
    all.push_back({{"pipeline", p->name}, {"advice", items}});
  }
  if (a.json) std::cout << all.dump(2) << "\n";
  return rc;
}

int cmd_init(const InitArgs& a) {
  std::string error;
  const auto table = QualifiedName::parse(a.table, &error);
  if (!table) throw ConfigError("--table '" + a.table + "': " + error);
  std::optional<QualifiedName> target = QualifiedName{"analytics", table->name};
  if (!a.target.empty()) {
    target = QualifiedName::parse(a.target, &error);
    if (!target) throw ConfigError("--target '" + a.target + "': " + error);
  }
  const std::string name = a.name.empty() ? default_pipeline_name(*table) : a.name;
  if (!valid_pipeline_name(name))
    throw ConfigError("--name '" + a.name + "': must be 1-63 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
  pg::Connection c("source", a.dsn, "tidemark-source");
  // init_config checks its text validates before returning it: nothing is printed otherwise.
  std::cout << init_config(pg::inspect_table(c, *table), name, *target);
  return kExitOk;
}

}  // namespace tidemark::cli
