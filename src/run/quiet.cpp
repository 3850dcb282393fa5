// Unchanged pipelines checked together (run/quiet.hpp). Per group of pipelines sharing their
// source, target and state connections: their states in one query, their source tables in
// one, their targets in one, then whether anything lies beyond each watermark in one
// statement (one snapshot), and the runs of those with nothing beyond recorded in one
// statement that takes each pipeline's lock and compares its state's version. A pipeline the
// check cannot decide, or whose lock or state moved, runs on its own as it always did.
#include "run/quiet.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <variant>

#include "run/fault.hpp"
#include "tidemark/log.hpp"
#include "tidemark/quiet.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

bool enabled(const Config& cfg, const RunOptions& opts) {
  const char* off = std::getenv("TIDEMARK_QUIET_CHECK");
  if (off && std::strcmp(off, "off") == 0) return false;
  // A crash test aims at a step of a pipeline's own run: it gets that run (the check has
  // fault points of its own, quiet_*).
  const char* fault = std::getenv("TIDEMARK_FAULT");
  if (fault && std::strncmp(fault, "quiet_", 6) != 0) return false;
  return !opts.dry_run && opts.request.mode == RunMode::kIncremental && cfg.state.file.empty() && !naive_watermark();
}

// Before anything is read: a table source of a cursor strategy run by the query executor,
// whose shape the check can read as Source::describe does.
bool candidate(const PipelineConfig& p) {
  if (!p.config_error.empty() || !p.source.table || p.detect.time_zone) return false;
  const Strategy* s = find_strategy(p.detect.strategy);
  return s && s->caps().executor == ExecutorKind::kQuery && s->has_cursor();
}

struct Group {
  std::string source, target, state;
  std::vector<const PipelineConfig*> pipelines;
};

void check_group(RunContext& ctx, const Group& g, std::map<const PipelineConfig*, PipelineResult>& out) {
  const Config& cfg = ctx.config();
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t trips_before = ctx.round_trips(), opened_before = ctx.sessions_opened();
  ctx.begin_pipeline();
  ctx.open_for(*g.pipelines.front());
  pg::Connection& state_conn = ctx.writer(g.state);
  pg::Connection& source = ctx.source(g.source);
  pg::Connection& target = ctx.writer(g.target);
  pg::StateStore store(state_conn, cfg.state.schema);
  store.ensure_schema();
  std::vector<std::string> names;
  for (const PipelineConfig* p : g.pipelines) names.push_back(p->name);
  const std::map<std::string, StoredState> states = store.load_all(names);
  // Only pipelines with a state go on: the others' first runs load their tables.
  std::vector<const PipelineConfig*> ps;
  for (const PipelineConfig* p : g.pipelines)
    if (states.count(p->name)) ps.push_back(p);
  if (ps.empty()) return;
  const DatabaseIdentity source_db = pg::identify(source, std::nullopt).database;
  const DatabaseIdentity target_db = pg::identify(target, std::nullopt).database;
  const auto shapes = pg::describe_tables(source, ps);
  std::vector<QualifiedName> target_tables;
  for (const PipelineConfig* p : ps) target_tables.push_back(p->target.table);
  const auto targets = pg::describe_targets(target, target_tables);

  struct Decided {
    const PipelineConfig* p;
    QuietPlan plan;
    StateIdentity identity;
  };
  std::vector<Decided> quiet;
  std::vector<Sql> checks;
  for (size_t i = 0; i < ps.size(); ++i) {
    const PipelineConfig& p = *ps[i];
    log::PipelineScope scope(p.name);
    if (!shapes[i]) {
      spdlog::trace("runs on its own: its source table is missing or has a column of a domain type");
      continue;
    }
    StateIdentity now;
    now.source_database = source_db;
    now.source_table = shapes[i]->resolved;
    now.target_database = target_db;
    now.target_table = targets[i] ? targets[i]->resolved : std::string();
    now.cursor = p.detect.cursor;
    std::optional<std::vector<TargetColumn>> tcols;
    if (targets[i]) tcols = targets[i]->columns;
    auto verdict = plan_quiet({cfg, p, states.at(p.name), shapes[i]->shape, tcols, now});
    if (auto* why = std::get_if<std::string>(&verdict)) {
      spdlog::trace("runs on its own: {}", *why);
      continue;
    }
    QuietPlan& plan = std::get<QuietPlan>(verdict);
    checks.push_back(plan.check);
    quiet.push_back({&p, std::move(plan), std::move(now)});
  }
  // A NULL answer is not taken for "nothing beyond".
  const std::vector<int64_t> answers = pg::query_integers(source, checks, QuietPlan::kBeyond);
  std::vector<pg::StateStore::QuietRun> runs;
  std::vector<const Decided*> unchanged;
  for (size_t i = 0; i < quiet.size(); ++i) {
    if (answers[i] & QuietPlan::kBeyond) continue;
    Decided& d = quiet[i];
    if (answers[i] & QuietPlan::kTieHeld) d.plan.window = d.plan.tie_window;
    runs.push_back({d.p->name, d.plan.mode, states.at(d.p->name).version, d.plan.next, d.identity});
    unchanged.push_back(&d);
  }
  if (runs.empty()) return;
  fault_point("quiet_before_record");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::map<std::string, int64_t> recorded = store.record_quiet(runs, seconds);
  fault_point("quiet_after_record");
  if (recorded.empty()) return;
  // The check's round trips, shared by the pipelines it recorded (rounded up); the sessions it
  // opened are the first one's, as a run alone counts them.
  const int64_t n = static_cast<int64_t>(recorded.size());
  const int64_t trips = ctx.round_trips() - trips_before, opened = ctx.sessions_opened() - opened_before;
  spdlog::debug("{} of {} pipeline(s) on source '{}' found unchanged together: {} round trip(s), {} session(s) opened",
                n, g.pipelines.size(), g.source, trips, opened);
  const size_t before = out.size();
  for (const Decided* d : unchanged) {
    auto it = recorded.find(d->p->name);
    if (it == recorded.end()) continue;  // its lock was held or its state moved: it runs alone
    PipelineResult r;
    r.pipeline = d->p->name;
    r.run_id = it->second;
    r.before = r.after = d->plan.next;
    r.window = d->plan.window;
    r.seconds = seconds;
    r.round_trips = (trips + n - 1) / n;
    r.sessions_opened = out.size() == before ? opened : 0;
    r.checked_together = n;
    out.emplace(d->p, std::move(r));
  }
}

}  // namespace

std::map<const PipelineConfig*, PipelineResult> run_quiet(RunContext& ctx,
                                                          const std::vector<const PipelineConfig*>& selected,
                                                          const RunOptions& opts) {
  std::map<const PipelineConfig*, PipelineResult> out;
  const Config& cfg = ctx.config();
  if (!enabled(cfg, opts)) return out;
  std::vector<Group> groups;
  for (const PipelineConfig* p : selected) {
    if (!candidate(*p)) continue;
    const std::string state = cfg.state_with_target(*p) ? p->target.connection : cfg.state_connection(*p);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.source == p->source.connection && g.target == p->target.connection && g.state == state;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{p->source.connection, p->target.connection, state, {}});
    it->pipelines.push_back(p);
  }
  for (const Group& g : groups) {
    try {
      check_group(ctx, g, out);
    } catch (const std::exception& e) {
      // Nothing the check could not finish was recorded (its one write is one statement):
      // each pipeline runs on its own, which reports what is wrong, on new sessions.
      spdlog::debug("the check of unchanged pipelines on source '{}' failed; each runs on its own: {}", g.source,
                    redact_text(e.what()));
      ctx.reset();
    }
  }
  return out;
}

}  // namespace tidemark
