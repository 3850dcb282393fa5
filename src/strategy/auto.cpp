// `detect: {strategy: auto}` of selector pipelines (docs/strategies.md#auto): which strategy a
// table's shape calls for. Not a strategy of the registry: it chooses one of them per table,
// once, and the choice is kept in that table's state (src/config/selector.cpp).
#include <sstream>

#include "tidemark/selector.hpp"

namespace tidemark {
namespace {

bool is_time(const std::string& type) { return type.rfind("timestamp", 0) == 0; }
bool is_int(const std::string& type) { return type == "bigint" || type == "integer" || type == "smallint"; }

bool small(const InspectedTable& t) {
  if (t.analysed && t.estimated_rows >= 0) return t.estimated_rows < kAutoFullRows;
  return t.size_bytes >= 0 && t.size_bytes <= kSmallTableBytes;
}

std::string size_text(const InspectedTable& t) {
  if (t.analysed && t.estimated_rows >= 0) return "about " + std::to_string(t.estimated_rows) + " rows";
  if (t.size_bytes >= 0) return "not analysed, " + std::to_string(t.size_bytes / 1024) + " kB on disk";
  return "an unknown number of rows";
}

}  // namespace

AutoChoice choose_strategy(const InspectedTable& t) {
  AutoChoice c;
  // 1. An indexed last-modified timestamp sees inserts and updates, reading only what changed.
  const InspectedColumn* cursor = nullptr;
  for (const auto& col : t.columns)
    if (is_time(col.type) && col.indexed && last_modified_score(col.name) > 0 &&
        (!cursor || last_modified_score(col.name) > last_modified_score(cursor->name)))
      cursor = &col;
  if (cursor && !t.primary_key.empty()) {
    c.strategy = "updated_at";
    c.cursor = cursor->name;
    c.reason = "indexed last-modified column " + quote_ident(cursor->name) + " (" + cursor->type + ")";
    return c;
  }
  // 2. A key from a sequence or identity: new rows only (updates and deletes are not seen).
  if (t.primary_key.size() == 1)
    for (const auto& col : t.columns)
      if (col.name == t.primary_key[0] && is_int(col.type) &&
          (col.identity || col.default_expr.rfind("nextval(", 0) == 0)) {
        c.strategy = "id";
        c.cursor = col.name;
        c.reason = "primary key " + quote_ident(col.name) + " from " + (col.identity ? "an identity" : "a sequence") +
                   " and no indexed last-modified column: new rows only (updates are not seen)";
        return c;
      }
  // 3. Small enough to reload whole every run.
  if (small(t)) {
    c.strategy = "full";
    c.reason = size_text(t) + " and no indexed last-modified column or sequence key: reloaded whole each run";
    return c;
  }
  c.refused = true;
  std::ostringstream why;
  why << "strategy auto refuses it: " << size_text(t) << " (at least " << kAutoFullRows
      << ") with no indexed last-modified timestamp and no sequence key, so every run would reload it whole";
  if (cursor == nullptr)
    for (const auto& col : t.columns)
      if (is_time(col.type) && last_modified_score(col.name) > 0) {
        why << "; index " << quote_ident(col.name) << " (CREATE INDEX ON " << t.table.quoted() << " ("
            << quote_ident(col.name) << ")) to make it updated_at";
        break;
      }
  why << "; or name its strategy in overrides";
  c.reason = why.str();
  return c;
}

}  // namespace tidemark
