// The reconcile subcommand: one guarded key reconciliation per named pipeline
// (docs/deletes.md#reconcile). Exit 1 when a guard rail refused, 75 when a run holds the lock.
#include "cli/reconcile_cmd.hpp"

#include "cli/commands.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "tidemark/errors.hpp"
#include "tidemark/log.hpp"
#include "tidemark/reconcile.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark::cli {

using nlohmann::json;

static std::string key_text(const Tuple& k) {
  if (k.size() == 1) return k[0];
  std::string out = "(";
  for (size_t i = 0; i < k.size(); ++i) out += (i ? ", " : "") + k[i];
  return out + ")";
}

int cmd_reconcile(const ReconcileArgs& a) {
  Config cfg = load_config(a.config);
  if (a.max_delete_ratio && (*a.max_delete_ratio <= 0 || *a.max_delete_ratio > 1))
    throw ConfigError("--max-delete-ratio must be more than 0 and at most 1, e.g. 0.1");
  const Selection sel = select_expanded(cfg, a.pipelines);
  // A pipeline named is refused when reconcile does not apply to it; one a selector's name or a
  // glob brings (a selector's table auto loads whole, say) is passed by.
  std::vector<const PipelineConfig*> selected;
  for (const PipelineConfig* p : sel.pipelines) {
    if (find_strategy(p->detect.strategy)->caps().reconcile) {
      selected.push_back(p);
      continue;
    }
    const std::string why = "reconcile compares the keys of " + spoken_list(strategies_with(&StrategyCaps::reconcile)) +
                            " pipelines; strategy " + p->detect.strategy + " does not apply";
    if (sel.named(*p)) throw ConfigError("pipeline " + p->name + ": " + why);
    spdlog::info("{} passed by: {}", pipeline_text(*p), why);
  }
  if (selected.empty())
    throw ConfigError("reconcile: no pipeline selected by " + spoken_list(a.pipelines) + " compares keys (strategies " +
                      spoken_list(strategies_with(&StrategyCaps::reconcile), "or") + ")");
  std::vector<PipelineResult> outcomes;
  json out = json::array();
  for (const PipelineConfig* p : selected) {
    PipelineResult o;
    o.pipeline = p->name;
    json j = {{"pipeline", p->name}, {"dry_run", a.dry_run}};
    try {
      ReconcileResult r = reconcile_pipeline(cfg, *p, ReconcileOptions{a.dry_run, a.max_delete_ratio});
      json keys = json::array();
      for (const auto& k : r.sample) keys.push_back(k);
      j.update({{"status", "succeeded"},
                {"run_id", r.run_id},
                {"safe", r.safe},
                {"source_keys", r.source_keys},
                {"target_keys", r.target_keys},
                {"levels", r.levels},
                {"ranges_compared", r.ranges_compared},
                {"ranges_fetched", r.ranges_fetched},
                {"keys_fetched", r.keys_fetched},
                {"queries", r.queries},
                {"to_delete", r.to_delete},
                {"rows_deleted", r.deleted},
                {"keys", keys},
                {"max_delete_ratio", r.max_delete_ratio},
                {"seconds", r.seconds},
                {"error", nullptr}});
      if (!a.json) {
        std::cout << p->name << ": " << r.source_keys << " source and " << r.target_keys
                  << " target keys at or below safe " << r.safe << "; " << r.ranges_compared << " range(s) compared, "
                  << r.ranges_fetched << " read; " << (a.dry_run ? "would delete " : "deleted ")
                  << (a.dry_run ? r.to_delete : r.deleted) << " row(s)\n";
        if (a.dry_run && !r.sample.empty()) {
          std::cout << "  keys" << (r.to_delete > static_cast<int64_t>(r.sample.size()) ? " (first 20)" : "") << ":";
          for (const auto& k : r.sample) std::cout << " " << key_text(k);
          std::cout << "\n";
        }
        if (a.dry_run) std::cout << "  (dry run: nothing was deleted)\n";
      }
      if (!a.dry_run) {
        log::PipelineScope scope(p->name);
        log::PipelineScope::set_run_id(r.run_id);
        spdlog::info("reconcile: deleted {} row(s); {} range(s) compared, {} read; {:.3f}s", r.deleted,
                     r.ranges_compared, r.ranges_fetched, r.seconds);
      }
    } catch (const LockBusy& e) {
      o.outcome = PipelineResult::Outcome::kLocked;
      o.error = e.what();
      log::PipelineScope scope(p->name);
      spdlog::warn("{}", e.what());
    } catch (const ConfigError& e) {
      o.outcome = PipelineResult::Outcome::kConfig;
      o.error = e.what();
      log::PipelineScope scope(p->name);
      spdlog::error("{}", e.what());
    } catch (const std::exception& e) {
      o.outcome = PipelineResult::Outcome::kFailed;
      o.error = redact_text(e.what());
      log::PipelineScope scope(p->name);
      spdlog::error("reconcile: {}", o.error);
    }
    if (o.outcome != PipelineResult::Outcome::kOk)
      j.update({{"status", o.outcome == PipelineResult::Outcome::kLocked ? "skipped_locked"
                           : o.outcome == PipelineResult::Outcome::kConfig ? "config_error"
                                                                           : "refused_or_failed"},
                {"error", o.error}});
    out.push_back(j);
    outcomes.push_back(o);
  }
  if (a.json) std::cout << out.dump(2) << "\n";
  return exit_code(outcomes);
}

}  // namespace tidemark::cli
