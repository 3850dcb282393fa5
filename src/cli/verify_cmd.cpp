// `tidemark verify`: does the target hold exactly the source's rows (for a cursor range, or
// all of them)? For CI smoke tests and after repairs: exit 0 when equal, 1 when not.
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "pg/pg.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark::cli {
namespace {

constexpr int64_t kListLimit = 200000;  // rows per side up to which differing keys are listed
constexpr size_t kShown = 10;

struct Side {
  int64_t rows = 0;
  std::string hash;
};

}  // namespace

int cmd_verify(const VerifyArgs& a) {
  Config cfg = load_config(a.config);
  const PipelineConfig& p = *select_pipelines(cfg, {a.pipeline}).at(0);
  if (p.detect.strategy == "files")
    throw ConfigError("pipeline " + p.name + ": strategy files has no source table to compare with");
  pg::Connection source(p.source.connection, cfg.connections.at(p.source.connection), "tidemark-source");
  pg::Connection target(p.target.connection, cfg.connections.at(p.target.connection), "tidemark");
  pg::Source src(source), tgt(target);
  const SourceShape shape = src.describe(p);
  std::vector<std::string> cols;
  for (const auto& c : shape.columns) cols.push_back(c.name);
  std::optional<Sql> range;
  if (!a.from.empty() || !a.to.empty()) {
    const RunRequest req{RunMode::kRange, a.from.empty() ? std::nullopt : std::optional<std::string>(a.from),
                         a.to.empty() ? std::nullopt : std::optional<std::string>(a.to), std::nullopt};
    range = find_strategy(p.detect.strategy)->plan({p, shape, StoredState{}, req}).target_range;
  }
  const std::string from_source = p.source.table ? p.source.table->quoted() : "(" + p.source.query + ") AS _tm_src";
  // The same columns and the same predicate on both sides; each row compared by its text.
  auto rows_of = [&](const std::string& from) {
    Sql s("SELECT " + ident_list(cols) + " FROM " + from);
    if (range) s.text(" WHERE ").append(*range);
    return s;
  };
  auto summary = [&](pg::Source& side, const std::string& from) {
    Sql s("SELECT count(*)::text, coalesce(sum(hashtextextended(v::text, 0)::numeric), 0)::text FROM (");
    s.append(rows_of(from)).text(") AS v");
    const Tuple t = side.query_rows(s).at(0);
    return Side{std::stoll(t[0]), t[1]};
  };
  const Side s = summary(src, from_source), t = summary(tgt, p.target.table.quoted());
  const bool same = s.rows == t.rows && s.hash == t.hash;

  std::vector<std::string> differences;
  if (!same && !p.target.key.empty() && s.rows <= kListLimit && t.rows <= kListLimit) {
    // Each key column comes with its NULL flag: a NULL key is shown as NULL, and rows with one
    // are listed on their own, since no key comparison can match them.
    std::string key_cols;
    for (const auto& k : p.target.key)
      key_cols += (key_cols.empty() ? "" : ", ") + ("(v." + quote_ident(k) + " IS NULL)::text, v." + quote_ident(k));
    auto key_text = [&](const Tuple& k) {
      std::string out;
      for (size_t i = 0; i < k.size(); ++i) out += (i ? ", " : "") + p.target.key[i] + "=" + k[i];
      return out;
    };
    auto keyed = [&](pg::Source& side, const std::string& from, const char* where) {
      Sql q("SELECT " + key_cols + ", md5(v::text) FROM (");
      q.append(rows_of(from)).text(") AS v ORDER BY " + ident_list(p.target.key, "v"));
      std::map<Tuple, std::string> out;
      for (auto& row : side.query_rows(q)) {
        Tuple key;
        bool null_key = false;
        for (size_t i = 0; i + 1 < row.size(); i += 2) {
          const bool is_null = row[i] == "true";
          null_key = null_key || is_null;
          key.push_back(is_null ? "NULL" : row[i + 1]);
        }
        if (null_key) differences.push_back(std::string("row with a NULL key in the ") + where + " (never matched): " +
                                            key_text(key));
        else out.emplace(std::move(key), row.back());
      }
      return out;
    };
    const auto a_rows = keyed(src, from_source, "source"), b_rows = keyed(tgt, p.target.table.quoted(), "target");
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
  return same ? kExitOk : kExitRunFailed;
}

int cmd_advise(const AdviseArgs& a) {
  Config cfg = load_config(a.config);
  nlohmann::json all = nlohmann::json::array();
  int rc = kExitOk;
  for (const PipelineConfig* p : select_pipelines(cfg, a.pipelines)) {
    if (!p->source.table) {
      if (!a.json)
        std::cout << p->name << ": nothing to inspect (" << (p->detect.strategy == "files" ? "a directory" : "a query")
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
