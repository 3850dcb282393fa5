// The watermark's stored form and the rule that moves it (pure; see docs/correctness.md).
#include <algorithm>

#include "tidemark/errors.hpp"
#include "tidemark/plan.hpp"

namespace tidemark {

using nlohmann::json;

const ColumnInfo* SourceShape::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

std::string tuple_text(const std::optional<Tuple>& t) {
  if (!t) return "-";
  std::string out;
  for (size_t i = 0; i < t->size(); ++i) out += (i ? ", " : "") + (*t)[i];
  return t->size() == 1 ? out : "(" + out + ")";
}

static json tuple_json(const std::optional<Tuple>& t) { return t ? json(*t) : json(nullptr); }

json Watermark::to_json() const {
  json j = json::object();
  j["columns"] = columns;
  j["safe"] = tuple_json(safe);
  j["high"] = tuple_json(high);
  if (pending) {
    json s = json::array();
    for (const auto& x : pending->waiting_for.sessions) s.push_back({{"pid", x.pid}, {"xact_start", x.xact_start}});
    j["pending"] = {{"high", tuple_json(pending->high)},
                    {"xids", pending->waiting_for.xids},
                    {"sessions", s}};
  } else {
    j["pending"] = nullptr;
  }
  return j;
}

static std::optional<Tuple> tuple_from(const json& j, const char* what) {
  if (j.is_null()) return std::nullopt;
  if (!j.is_array()) throw RunError(std::string("stored watermark: '") + what + "' is not a list");
  if (j.empty()) throw RunError(std::string("stored watermark: '") + what + "' is an empty list");
  Tuple t;
  for (const auto& v : j) {
    if (!v.is_string()) throw RunError(std::string("stored watermark: '") + what + "' holds a non-text value");
    t.push_back(v.get<std::string>());
  }
  return t;
}

Watermark Watermark::from_json(const json& j) {
  Watermark w;
  if (j.is_null()) return w;
  if (!j.is_object()) throw RunError("stored watermark is not a JSON object");
  if (j.contains("columns") && j["columns"].is_array())
    for (const auto& c : j["columns"])
      if (c.is_string()) w.columns.push_back(c.get<std::string>());
  if (j.contains("safe")) w.safe = tuple_from(j["safe"], "safe");
  if (j.contains("high")) w.high = tuple_from(j["high"], "high");
  if (j.contains("pending") && !j["pending"].is_null()) {
    const json& p = j["pending"];
    Pending pend;
    if (p.contains("high")) pend.high = tuple_from(p["high"], "pending.high");
    try {
      for (const auto& x : p.value("xids", json::array())) pend.waiting_for.xids.push_back(x.get<std::string>());
      for (const auto& s : p.value("sessions", json::array()))
        pend.waiting_for.sessions.push_back({s.at("pid").get<int64_t>(), s.at("xact_start").get<std::string>()});
    } catch (const json::exception& e) {
      throw RunError(std::string("stored watermark: malformed pending set: ") + e.what());
    }
    w.pending = std::move(pend);
  }
  return w;
}

bool pending_ended(const Pending& pending, const std::vector<std::string>& snapshot_xip,
                   const std::vector<SessionRef>& sessions_before, bool prepared_exist) {
  for (const auto& x : pending.waiting_for.xids)
    if (std::find(snapshot_xip.begin(), snapshot_xip.end(), x) != snapshot_xip.end()) return false;
  for (const auto& s : pending.waiting_for.sessions)
    if (std::find(sessions_before.begin(), sessions_before.end(), s) != sessions_before.end()) return false;
  return pending.waiting_for.sessions.empty() || !prepared_exist;
}

StoredState tie_group_read(const StoredState& st) {
  StoredState out = st;
  if (out.watermark.safe && out.watermark.safe->size() > 1) out.watermark.safe->resize(1);
  return out;
}

// `safe` only moves to a candidate whose in-flight transactions have all ended by a later
// snapshot, and that later run read from the old `safe`, so it saw their rows. `high` never
// moves back.
Watermark next_watermark(const Watermark& old_in, const Observation& obs, bool reset) {
  const Watermark old = reset ? Watermark{} : old_in;
  const bool promote = old.pending && obs.pending_ended;
  const std::optional<Tuple> settled = promote && old.pending->high ? old.pending->high : old.safe;
  Watermark next;
  next.columns = obs.columns;
  if (!obs.high) {  // nothing beyond safe: keep high, only promote
    next.high = old.high;
    next.safe = settled;
    next.pending = promote ? std::nullopt : old.pending;
    return next;
  }
  next.high = obs.high;
  if (obs.in_flight.empty() && !obs.lag) {
    next.safe = obs.candidate;
    return next;
  }
  next.safe = settled;
  next.pending = Pending{obs.candidate, obs.in_flight};
  return next;
}

}  // namespace tidemark
