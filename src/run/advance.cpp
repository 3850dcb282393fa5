// --advance-watermark (docs/backfill.md#moving-the-watermark): after a complete backfill of
// [from, to), the incremental watermark may jump to the largest tuple below `to` when no row
// below `to` can appear after the chunks were read, and no row below `from` is left unloaded.
#include <spdlog/spdlog.h>

#include <thread>

#include "run/backfill.hpp"
#include "run/run_state.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"

namespace tidemark {

std::optional<std::string> advance_blocker_now(pg::Source& src, const ExtractPlan& plan, const ChunkRef& range) {
  if (!plan.horizon)
    return "the cursor has no horizon (an id cursor needs its own sequence with CACHE 1, a timestamp cursor a "
           "time zone-aware or plain timestamp type)";
  const pg::Source::BeforeSnapshot before = src.observe_before(plan.horizon, plan.writer_locks);
  const std::string& type = plan.tuple_types[0];
  if (!before.horizon || !src.value_at_most(range.range_to, *before.horizon, type))
    return "--to " + range.range_to + " was ahead of the source when the backfill began (" +
           (before.horizon ? *before.horizon : std::string("no value")) + "), so rows below it can still appear";
  if (before.hidden_sessions > 0)
    return "the source role could not see " + std::to_string(before.hidden_sessions) +
           " session(s) when the backfill began (GRANT pg_read_all_stats closes this)";
  if (!before.prepared.empty())
    return std::to_string(before.prepared.size()) + " prepared transaction(s) were open when the backfill began";
  const bool clock = plan.horizon_kind == ExtractPlan::HorizonKind::kClock;
  const int64_t limit = clock ? src.epoch_us(range.range_to, type, plan.cursor_zone) : 0;
  int64_t open = 0;
  for (const auto& s : before.sessions)
    if (clock ? std::stoll(s.ref.xact_start) <= limit : s.holds_writer_lock) ++open;
  if (open > 0)
    return std::to_string(open) + " transaction(s) open when the backfill began could still write rows below --to";
  return std::nullopt;
}

void advance_watermark(const Backfill& b) {
  const PipelineConfig& p = b.p;
  const std::string& state_name = b.cfg.state_connection(p);
  pg::Connection state(state_name, b.cfg.connections.at(state_name), "tidemark");
  pg::StateStore store(state, b.cfg.state.schema);
  auto refuse = [&](const std::string& why) {
    spdlog::warn("--advance-watermark: the watermark stays where it is: {}; the incremental run catches up from it",
                 why);
  };
  if (auto why = pg::ChunkStore(state, b.cfg.state.schema).advance_blocker(p.name, b.range)) return refuse(*why);

  // The incremental run of the pipeline must not move the state meanwhile: take its lock.
  pg::AdvisoryLocks locks(state, b.cfg.state.schema);
  bool locked = false;
  for (int i = 0; i < 60 && !(locked = locks.try_lock(p.name)); ++i) std::this_thread::sleep_for(std::chrono::seconds(1));
  if (!locked) return refuse("a run of the pipeline held its lock for a minute; rerun the same command to try again");
  struct Unlock {
    pg::AdvisoryLocks& s;
    const std::string& name;
    ~Unlock() { s.unlock(name); }
  } unlock{locks, p.name};

  pg::Connection source(p.source.connection, b.cfg.connections.at(p.source.connection), "tidemark-source");
  pg::Source src(source);
  const StoredState st = store.load(p.name);
  {
    pg::Connection target(p.target.connection, b.cfg.connections.at(p.target.connection), "tidemark");
    check_state_identity(b.cfg, p, st, source, target, RunMode::kRange, false, &store, nullptr);
  }
  if (st.exists && st.strategy != p.detect.strategy)
    return refuse("the stored watermark belongs to strategy " + st.strategy);
  const SourceShape shape = src.describe(p);
  const RunRequest req{RunMode::kRange, b.range.range_from, b.range.range_to, {}};
  const ExtractPlan plan = find_strategy(p.detect.strategy)->plan({p, shape, st, req});
  const std::string& type = plan.tuple_types[0];
  const Watermark& old = st.watermark;
  if (!old.columns.empty() && old.columns != plan.tuple_columns)
    return refuse("the stored watermark is over other columns than the cursor and key now");
  if (old.safe && !src.value_at_most(b.range.range_from, (*old.safe)[0], type))
    return refuse("rows between the watermark's safe mark " + tuple_text(old.safe) + " and --from " +
                  b.range.range_from + " were never loaded");
  src.begin_snapshot();
  const std::optional<Tuple> top = src.query_tuple(plan.high_query);
  if (!top) return refuse("the range has no rows");
  if (old.safe && src.tuple_at_least(*old.safe, *top, plan.tuple_types)) {
    spdlog::info("--advance-watermark: the watermark {} is already at or past the backfill's end", tuple_text(old.safe));
    return;
  }
  Watermark next = old;
  next.columns = plan.tuple_columns;
  next.safe = top;
  if (!old.high || src.tuple_at_least(*top, *old.high, plan.tuple_types)) next.high = top;
  // Transactions a pending mark waits for had ended before the chunks were read, or write
  // above --to (advance_blocker_now): a pending mark at or below the new safe one is moot.
  if (old.pending && old.pending->high && src.tuple_at_least(*top, *old.pending->high, plan.tuple_types))
    next.pending.reset();
  const int64_t run = store.start_run(p.name, "advance", old);
  pg::RunRecord rec{run, "succeeded", 0, 0, 0, next, ""};
  store.save_and_finish(p.name, p.detect.strategy, st, next, rec);
  spdlog::info("--advance-watermark: watermark moved from {} to {}", tuple_text(old.safe), tuple_text(next.safe));
}

}  // namespace tidemark
