// `tidemark drop-slot` and the slot lines of `tidemark status` (strategy cdc, docs/cdc.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "cli/commands.hpp"
#include "pg/pg.hpp"
#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"

namespace tidemark::cli {

std::vector<SlotStatus> cdc_slots(const Config& cfg, const std::vector<const PipelineConfig*>& selected) {
  std::vector<SlotStatus> out;
  for (const auto* p : selected) {
    if (!find_strategy(p->detect.strategy)->caps().slot) continue;
    SlotStatus s;
    s.pipeline = p->name;
    s.slot = cdc::slot_name(p->name, p->detect.slot);
    try {
      pg::Connection c(p->source.connection, cfg.connections.at(p->source.connection), "tidemark");
      const auto info = pg::ChangeSource(c, s.slot).info();
      s.exists = info.exists;
      s.active = info.active;
      s.wal_status = info.wal_status;
      s.retained_bytes = info.retained_bytes;
    } catch (const RunError& e) {
      s.error = e.what();
    }
    out.push_back(s);
  }
  return out;
}

int cmd_drop_slot(const DropSlotArgs& a) {
  Config cfg = load_config(a.config);
  const Selection sel = select_expanded(cfg, {a.pipeline});
  std::vector<const PipelineConfig*> slotted;
  for (const PipelineConfig* q : sel.pipelines)
    if (find_strategy(q->detect.strategy)->caps().slot) slotted.push_back(q);
  if (sel.pipelines.size() == 1 && slotted.empty()) {
    const PipelineConfig* q = sel.pipelines[0];
    throw ConfigError("pipeline " + q->name + " has strategy " + q->detect.strategy + ", not " +
                      spoken_list(strategies_with(&StrategyCaps::slot), "or") + ": it has no slot" +
                      (q->selector.empty() ? "" : " (it is a table of selector pipeline " + q->selector +
                                                      ", whose tables have no slots)"));
  }
  if (slotted.empty()) {
    const bool tables = std::any_of(sel.pipelines.begin(), sel.pipelines.end(),
                                    [](const PipelineConfig* q) { return !q->selector.empty(); });
    throw ConfigError("drop-slot drops the slot of a " + spoken_list(strategies_with(&StrategyCaps::slot), "or") +
                      " pipeline: none of the " + std::to_string(sel.pipelines.size()) + " pipeline(s) '" + a.pipeline +
                      "' selects has one" + (tables ? " (the tables of a selector pipeline have no slots)" : ""));
  }
  // One slot at a time: a glob must come down to one pipeline.
  if (slotted.size() > 1) {
    std::string which;
    for (size_t i = 0; i < slotted.size() && i < 5; ++i) which += (i ? ", " : "") + slotted[i]->name;
    if (slotted.size() > 5) which += ", …";
    throw ConfigError("drop-slot drops the slot of one pipeline: '" + a.pipeline + "' selects " +
                      std::to_string(slotted.size()) + " with a slot (" + which + "); name the one whose slot to drop");
  }
  const PipelineConfig* p = slotted[0];
  const std::string slot = cdc::slot_name(p->name, p->detect.slot);
  const std::string& state_name = cfg.state_connection(*p);
  pg::Connection state(state_name, cfg.connections.at(state_name), "tidemark");
  pg::StateStore store(state, cfg.state.schema);
  store.ensure_schema();
  pg::AdvisoryLocks locks(state, cfg.state.schema);
  if (!locks.try_lock(p->name)) throw LockBusy("pipeline " + p->name + " is running (advisory lock held); try again");
  pg::Connection source(p->source.connection, cfg.connections.at(p->source.connection), "tidemark");
  pg::ChangeSource changes(source, slot);
  const bool existed = changes.info().exists;
  if (existed) changes.drop();
  // Without its slot the position means nothing: the next run starts with a new snapshot.
  store.forget(p->name);
  locks.unlock(p->name);
  std::cout << (existed ? "dropped slot " + slot : "slot " + slot + " did not exist") << "; pipeline " << p->name
            << " starts over with a snapshot on its next run\n";
  return kExitOk;
}

}  // namespace tidemark::cli
