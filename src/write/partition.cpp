// Write mode partition_overwrite, the pure part (include/tidemark/partition.hpp): window
// arithmetic as SQL, the source query for whole windows, and partition-bound matching.
#include "tidemark/partition.hpp"

#include <algorithm>

namespace tidemark {

namespace {

bool is_date(const std::string& t) { return t == "date"; }
bool is_timestamptz(const std::string& t) {
  return t.rfind("timestamp", 0) == 0 && t.find("with time zone") != std::string::npos &&
         t.find("without") == std::string::npos;
}
bool is_timestamp(const std::string& t) { return t.rfind("timestamp", 0) == 0 && !is_timestamptz(t); }

const char* unit(PartitionBy::Granularity g) { return g == PartitionBy::Granularity::kDay ? "day" : "month"; }

// The column as a local timestamp, and a local timestamp back in the column's type.
Sql to_local(const PartitionBy& pb, const std::string& type, const std::string& col) {
  if (is_date(type)) return Sql("CAST(" + col + " AS timestamp)");
  if (is_timestamptz(type)) return Sql("(" + col + " AT TIME ZONE ").value(pb.time_zone).text(")");
  return Sql(col);
}
Sql from_local(const PartitionBy& pb, const std::string& type, const std::string& local) {
  if (is_date(type)) return Sql("CAST(" + local + " AS date)");
  if (is_timestamptz(type)) return Sql("(" + local + " AT TIME ZONE ").value(pb.time_zone).text(")");
  return Sql(local);
}

}  // namespace

std::optional<std::string> partition_type_problem(const PartitionBy& pb, const std::string& type) {
  if (pb.granularity == PartitionBy::Granularity::kValue) return std::nullopt;
  if (is_date(type) || is_timestamp(type) || is_timestamptz(type)) return std::nullopt;
  return "partition_by.column '" + pb.column + "' is of type " + type + "; granularity " + unit(pb.granularity) +
         " needs a date or timestamp column (use granularity: value to make each value a window)";
}

Sql window_query(const PartitionBy& pb, const std::string& type, const Sql& delta) {
  const std::string c = "d." + quote_ident(pb.column);
  if (pb.granularity == PartitionBy::Granularity::kValue)
    return Sql("SELECT DISTINCT CAST(" + c + " AS text), CAST(NULL AS text) FROM (").append(delta).text(") AS d");
  const std::string interval = std::string(" + interval '1 ") + unit(pb.granularity) + "'";
  return Sql("SELECT CAST(")
      .append(from_local(pb, type, "w.l"))
      .text(" AS text), CAST(")
      .append(from_local(pb, type, "(w.l" + interval + ")"))
      .text(std::string(" AS text) FROM (SELECT DISTINCT date_trunc('") + unit(pb.granularity) + "', ")
      .append(to_local(pb, type, c))
      .text(") AS l FROM (")
      .append(delta)
      .text(") AS d) AS w ORDER BY w.l");
}

Windows windows_from_rows(const std::vector<std::vector<std::optional<std::string>>>& rows) {
  Windows w;
  for (const auto& r : rows) {
    if (r.empty() || !r[0]) {
      w.null_window = true;
      continue;
    }
    w.lo.push_back(*r[0]);
    w.hi.push_back(r.size() > 1 && r[1] ? *r[1] : "");
  }
  return w;
}

Sql in_windows(const PartitionBy& pb, const std::string& type, const Windows& w, const std::string& alias) {
  const std::string c = alias + "." + quote_ident(pb.column);
  if (pb.granularity == PartitionBy::Granularity::kValue)
    return Sql(c + " = ANY(CAST(").value(array_literal(w.lo)).text(" AS " + type + "[]))");
  // Literal ranges, adjacent windows merged (a backfill's days become one range): the
  // planner estimates each from the column's statistics and scans an index per range. A
  // join to the window list would be estimated blind and scan the whole table.
  Sql out("(");
  for (size_t i = 0; i < w.lo.size();) {
    size_t j = i;
    while (j + 1 < w.lo.size() && w.hi[j] == w.lo[j + 1]) ++j;
    out.text((i ? " OR (" : "(") + c + " >= CAST(")
        .value(w.lo[i])
        .text(" AS " + type + ") AND " + c + " < CAST(")
        .value(w.hi[j])
        .text(" AS " + type + "))");
    i = j + 1;
  }
  return out.text(")");
}

Sql window_rows_select(const PartitionBy& pb, const std::string& type, const Windows& w,
                       const std::vector<std::string>& columns, const SourceConfig& source) {
  const std::string head = "SELECT " + ident_list(columns, "s") + " FROM " +
                           (source.table ? source.table->quoted() : "(" + source.query + ")") + " AS s WHERE ";
  if (w.empty()) return Sql(head + "false");
  Sql out;
  if (!w.lo.empty()) out = Sql(head).append(in_windows(pb, type, w, "s"));
  if (w.null_window)
    out.text((w.lo.empty() ? "" : " UNION ALL ") + head + "s." + quote_ident(pb.column) + " IS NULL");
  return out;
}

std::string describe_windows(const Windows& w) {
  std::string out;
  const size_t shown = std::min<size_t>(w.lo.size(), 3);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + w.lo[i];
  if (w.null_window) out += std::string(out.empty() ? "" : ", ") + "NULL";
  if (w.size() > shown + (w.null_window ? 1 : 0)) out += " … (" + std::to_string(w.size()) + " windows)";
  return out;
}

std::optional<std::vector<std::string>> parse_partition_bound(const std::string& bound) {
  if (bound == "DEFAULT") return std::vector<std::string>{"DEFAULT"};
  std::vector<std::string> out;
  size_t i = 0;
  auto skip = [&](const std::string& word) {
    if (bound.compare(i, word.size(), word) != 0) return false;
    i += word.size();
    return true;
  };
  // One parenthesised list of literals: 'text' (quotes doubled), NULL, or a bare token.
  auto list = [&]() -> bool {
    if (!skip("(")) return false;
    for (;;) {
      std::string v;
      if (i < bound.size() && bound[i] == '\'') {
        for (++i;; ++i) {
          if (i >= bound.size()) return false;
          if (bound[i] == '\'') {
            if (i + 1 < bound.size() && bound[i + 1] == '\'') {
              v += '\'';
              ++i;
              continue;
            }
            ++i;
            break;
          }
          v += bound[i];
        }
      } else {
        while (i < bound.size() && bound[i] != ',' && bound[i] != ')') v += bound[i++];
        if (v.empty()) return false;
        if (v == "NULL") v = "\\N";
      }
      out.push_back(v);
      if (skip(", ")) continue;
      return skip(")");
    }
  };
  if (skip("FOR VALUES FROM ")) {
    out.push_back("FROM");
    if (!list() || out.size() != 2 || !skip(" TO ") || !list() || out.size() != 3) return std::nullopt;
  } else if (skip("FOR VALUES IN ")) {
    out.push_back("IN");
    if (!list()) return std::nullopt;
  } else {
    return std::nullopt;  // hash partitions, or a form this version does not know
  }
  if (i != bound.size()) return std::nullopt;
  return out;
}

std::vector<std::string> take_partition_windows(Windows& w, const std::vector<PartitionInfo>& partitions,
                                                PartitionBy::Granularity g) {
  const bool range = g != PartitionBy::Granularity::kValue;
  std::vector<std::pair<std::vector<std::string>, std::string>> bounds;
  for (const auto& p : partitions)
    if (auto b = parse_partition_bound(p.bound)) bounds.emplace_back(std::move(*b), p.quoted_name);
  auto find = [&](const std::vector<std::string>& want) -> const std::string* {
    for (const auto& [b, name] : bounds)
      if (b == want) return &name;
    return nullptr;
  };
  std::vector<std::string> taken;
  Windows rest;
  for (size_t i = 0; i < w.lo.size(); ++i) {
    const std::string* name = find(range ? std::vector<std::string>{"FROM", w.lo[i], w.hi[i]}
                                         : std::vector<std::string>{"IN", w.lo[i]});
    if (name) {
      taken.push_back(*name);
    } else {
      rest.lo.push_back(w.lo[i]);
      rest.hi.push_back(w.hi[i]);
    }
  }
  rest.null_window = w.null_window;
  if (w.null_window && !range)
    if (const std::string* name = find({"IN", "\\N"})) {
      taken.push_back(*name);
      rest.null_window = false;
    }
  w = std::move(rest);
  return taken;
}

Sql delta_keys_select(const std::vector<std::string>& key, const Sql& delta) {
  return Sql("SELECT DISTINCT " + ident_list(key, "d") + " FROM (").append(delta).text(") AS d");
}

}  // namespace tidemark
