#include "strategy/cursor.hpp"

#include <algorithm>
#include <regex>

#include "tidemark/errors.hpp"
#include "tidemark/util.hpp"

namespace tidemark::strategy {
namespace {

const char* kind_name(CursorKind k) { return k == CursorKind::kInteger ? "id" : "updated_at"; }

bool type_fits(CursorKind kind, const std::string& type) {
  static const std::vector<std::string> ints = {"smallint", "integer", "bigint", "numeric"};
  static const std::vector<std::string> times = {"timestamp with time zone", "timestamp without time zone", "date"};
  const auto& ok = kind == CursorKind::kInteger ? ints : times;
  return std::find(ok.begin(), ok.end(), type) != ok.end() || type.rfind("numeric(", 0) == 0;
}

Sql cast(const std::string& value, const std::string& type) { return cast_value(value, type); }

// `(cols…) op (t…)` on the prefix of the tuple columns that `t` covers. With several columns
// a leading comparison on the cursor alone (`lead`, which must not exclude any row the row
// comparison keeps) lets a plain index on the cursor column serve the row comparison.
Sql tuple_compare(const std::vector<std::string>& cols, const std::vector<std::string>& types, const Tuple& t,
                  const char* op, const char* lead) {
  const size_t n = std::min(cols.size(), t.size());
  Sql s;
  if (n == 1) return s.text(quote_ident(cols[0]) + " " + op + " ").append(cast(t[0], types[0]));
  s.text(quote_ident(cols[0]) + " " + lead + " ").append(cast(t[0], types[0])).text(" AND (");
  for (size_t i = 0; i < n; ++i) s.text((i ? ", " : "") + quote_ident(cols[i]));
  s.text(std::string(") ") + op + " (");
  for (size_t i = 0; i < n; ++i) {
    if (i) s.text(", ");
    s.append(cast(t[i], types[i]));
  }
  return s.text(")");
}

// Rows strictly after tuple `t`; rows at or before it.
Sql after_tuple(const std::vector<std::string>& cols, const std::vector<std::string>& types, const Tuple& t) {
  return tuple_compare(cols, types, t, ">", ">=");
}
Sql up_to(const std::vector<std::string>& cols, const std::vector<std::string>& types, const Tuple& t) {
  return tuple_compare(cols, types, t, "<=", "<=");
}

Sql lookback_bound(const std::string& col, const std::string& type, const std::string& value,
                   const std::string& lookback, CursorKind kind, const std::string& zone) {
  // Inclusive, so a lookback of 0 still re-reads rows tied with the mark.
  Sql s(quote_ident(col) + " >= ");
  if (kind == CursorKind::kInteger) return s.append(cast(value, type)).text(" - " + std::to_string(std::stoll(lookback)));
  const std::string back = "CAST('" + format_interval_us(*parse_duration_us(lookback)) + "' AS interval)";
  // A plain timestamp: the lookback is real time before the mark's instant in the writers'
  // zone, and the bound the earliest wall-clock reading from then on (DST included).
  if (type == "timestamp without time zone")
    return s.append(local_floor(cursor_instant(value, type, zone).text(" - " + back), zone));
  return s.append(cast(value, type)).text(" - " + back);
}

void require_int(const std::optional<std::string>& v, const char* flag) {
  static const std::regex int_re(R"(\s*[-+]?[0-9]+\s*)");
  if (v && !std::regex_match(*v, int_re))
    throw ConfigError(std::string(flag) + " '" + *v + "' is not an integer, as the id cursor needs");
}

}  // namespace

Sql cast_value(const std::string& value, const std::string& type) {
  return Sql("CAST(").value(value).text(" AS " + type + ")");
}

bool zoned_type(const std::string& type) { return type == "timestamp without time zone" || type == "date"; }

static const std::string& zone_or_utc(const std::string& zone) {
  static const std::string utc = "UTC";
  return zone.empty() ? utc : zone;
}

Sql local_floor(const Sql& at, const std::string& zone) {
  const std::string& z = zone_or_utc(zone);
  Sql s("LEAST((");
  s.append(at).text(") AT TIME ZONE ").value(z).text(", ((");
  return s.append(at).text(") + interval '3 hours') AT TIME ZONE ").value(z).text(" - interval '3 hours')");
}

Sql clock_horizon(const Sql& now, const std::string& type, const std::string& zone) {
  if (type == "timestamp without time zone") return local_floor(now, zone).text(" - interval '1 microsecond'");
  return Sql("CAST(").append(now).text(" AS " + type + ") - interval '1 microsecond'");
}

Sql cursor_instant(const std::string& value, const std::string& type, const std::string& zone) {
  if (!zoned_type(type)) return Sql("CAST(").value(value).text(" AS timestamp with time zone)");
  Sql s("(CAST(");
  return s.value(value).text(" AS " + type + ")::timestamp without time zone AT TIME ZONE ").value(zone_or_utc(zone)).text(")");
}

std::string source_from(const SourceConfig& s) {
  return s.table ? s.table->quoted() : "(" + s.query + ") AS _tm_src";
}

// The largest cursor tuple among the rows matching `where`.
Sql largest_tuple(const PipelineConfig& p, const ExtractPlan& plan, const Sql& where) {
  Sql s("SELECT " + ident_list(plan.tuple_columns) + " FROM " + source_from(p.source) + " WHERE ");
  s.append(where).text(" ORDER BY ");
  for (size_t i = 0; i < plan.tuple_columns.size(); ++i)
    s.text((i ? ", " : "") + quote_ident(plan.tuple_columns[i]) + " DESC");
  return s.text(" LIMIT 1");
}

NullKeyRule null_key_rule(const PipelineConfig& p, const SourceShape& shape) {
  NullKeyRule r;
  std::vector<std::string> cols;
  for (const auto& k : p.target.key) {
    if (k == p.detect.cursor && p.detect.null_cursor != NullCursor::kInclude) continue;  // never read when NULL
    const ColumnInfo* c = shape.find(k);
    if (!c || !c->not_null) cols.push_back(k);
  }
  if (cols.empty()) return r;
  Sql keyed, nulls("(");
  for (size_t i = 0; i < cols.size(); ++i) {
    keyed.text((i ? " AND " : "") + quote_ident(cols[i]) + " IS NOT NULL");
    nulls.text((i ? " OR " : "") + quote_ident(cols[i]) + " IS NULL");
  }
  r.keyed = keyed;
  r.nulls = nulls.text(")");
  return r;
}

Sql null_key_probe(const std::string& from, const std::optional<Sql>& where, const NullKeyRule& rule,
                   const std::string& cursor) {
  Sql s("SELECT count(*), " + (cursor.empty() ? std::string("NULL") : "min(" + quote_ident(cursor) + ")") +
        "::text FROM " + from + " WHERE ");
  if (where) s.text("(").append(*where).text(") AND ");
  return s.append(*rule.nulls);
}

Sql select_columns(const PipelineConfig& p, const SourceShape& shape) {
  std::vector<std::string> names;
  for (const auto& c : shape.columns) names.push_back(c.name);
  return Sql("SELECT " + ident_list(names) + " FROM " + source_from(p.source));
}

FieldProblems check_cursor(const PipelineConfig& p, CursorKind kind) {
  FieldProblems out;
  const auto& d = p.detect;
  if (d.cursor.empty()) out.emplace_back("detect.cursor", std::string("required by strategy ") + kind_name(kind));
  if (kind == CursorKind::kTimestamp && p.target.key.empty())
    out.emplace_back("target.key", "required by strategy updated_at (rows that share a timestamp are ordered by key)");
  if (d.lookback) {
    if (kind == CursorKind::kInteger) {
      static const std::regex n_re(R"([0-9]{1,15})");
      if (!std::regex_match(*d.lookback, n_re))
        out.emplace_back("detect.lookback", "'" + *d.lookback + "' must be a whole number of ids for strategy id");
    } else if (!parse_duration_us(*d.lookback)) {
      out.emplace_back("detect.lookback", "'" + *d.lookback + "' is not a duration like 30s, 15m, 2h, 1d");
    }
  }
  if (!p.chunk.empty()) {
    static const std::regex n_re(R"([1-9][0-9]{0,17})");
    if (kind == CursorKind::kInteger && !std::regex_match(p.chunk, n_re))
      out.emplace_back("chunk", "'" + p.chunk + "' must be a positive number of ids for strategy id");
    if (kind == CursorKind::kTimestamp && (!parse_duration_us(p.chunk) || *parse_duration_us(p.chunk) <= 0))
      out.emplace_back("chunk", "'" + p.chunk + "' is not a duration like 1d, 6h, 30m");
  }
  if (d.settle_seconds && kind == CursorKind::kInteger)
    out.emplace_back("detect.settle", "only applies to timestamp cursors (strategy updated_at)");
  return out;
}

ExtractPlan plan_cursor(const PlanInput& in, CursorKind kind) {
  const PipelineConfig& p = in.pipeline;
  const std::string& cursor = p.detect.cursor;
  std::vector<std::string> names;
  for (const auto& c : in.shape.columns) names.push_back(c.name);

  ExtractPlan plan;
  plan.pipeline = p.name;
  plan.mode = in.request.mode;
  plan.columns = names;
  plan.order_column = cursor;
  plan.tuple_columns.push_back(cursor);
  for (const auto& k : p.target.key)
    if (k != cursor) plan.tuple_columns.push_back(k);
  for (const auto& c : plan.tuple_columns) {
    const ColumnInfo* info = in.shape.find(c);
    if (!info) throw RunError("pipeline " + p.name + ": the source has no column '" + c + "'" + did_you_mean(c, names));
    plan.tuple_types.push_back(info->type);
  }
  const std::string& ctype = plan.tuple_types[0];
  if (!type_fits(kind, ctype))
    throw RunError("pipeline " + p.name + ": cursor column '" + cursor + "' has type " + ctype +
                   ", which strategy " + kind_name(kind) + " cannot follow" +
                   (kind == CursorKind::kInteger ? " (use an integer column, or strategy updated_at)"
                                                 : " (use a timestamp or date column, or strategy id)"));

  const std::string qc = quote_ident(cursor);
  Sql base = select_columns(p, in.shape);
  // A plain timestamp or date cursor holds wall-clock time in this zone; clock bounds are
  // computed in it (docs/correctness.md#time-zones).
  if (zoned_type(ctype)) {
    plan.cursor_zone = zone_or_utc(in.shape.time_zone);
    plan.cursor_zone_from = in.shape.time_zone_from.empty() ? "default" : in.shape.time_zone_from;
  }
  std::optional<Sql> settle;
  if (p.detect.settle_seconds && kind == CursorKind::kTimestamp) {
    const std::string ago = "now() - CAST('" + std::to_string(*p.detect.settle_seconds) + " seconds' AS interval)";
    if (zoned_type(ctype)) {
      Sql bound = local_floor(Sql(ago), plan.cursor_zone);
      settle = ctype == "date" ? Sql(qc + " <= CAST(").append(bound).text(" AS date)") : Sql(qc + " <= ").append(bound);
    } else {
      settle = Sql(qc + " <= CAST(" + ago + " AS " + ctype + ")");
    }
  }

  // Horizon for in-flight safety, evaluated before the snapshot; a
  // backfill uses it to judge whether --advance-watermark is safe (docs/correctness.md).
  if (kind == CursorKind::kTimestamp && ctype != "date") {
    plan.horizon = clock_horizon(Sql("statement_timestamp()"), ctype, plan.cursor_zone);
    plan.horizon_kind = ExtractPlan::HorizonKind::kClock;
  } else if (kind == CursorKind::kInteger && in.shape.cursor_sequence && in.shape.sequence_cache == 1 && p.source.table) {
    plan.horizon = Sql("pg_sequence_last_value(").value(*in.shape.cursor_sequence).text("::regclass)");
    plan.horizon_kind = ExtractPlan::HorizonKind::kSequence;
    plan.writer_locks = {p.source.table->quoted(), *in.shape.cursor_sequence};
  }

  if (in.request.mode == RunMode::kRange) {
    if (kind == CursorKind::kInteger) {
      require_int(in.request.from, "--from");
      require_int(in.request.to, "--to");
    }
    Sql range;
    if (in.request.from) range.text(qc + " >= ").append(cast(*in.request.from, ctype));
    if (in.request.to) {
      if (in.request.from) range.text(" AND ");
      range.text(qc + " < ").append(cast(*in.request.to, ctype));
    }
    plan.select = Sql(base).text(" WHERE ").append(range);
    if (const NullKeyRule nk = null_key_rule(p, in.shape); nk.keyed) {
      plan.select.text(" AND ").append(*nk.keyed);
      plan.null_key_probe = null_key_probe(source_from(p.source), range, nk, cursor);
    }
    plan.target_range = range;
    // The largest tuple in the range: where --advance-watermark leaves the watermark.
    plan.high_query = largest_tuple(p, plan, range);
    if (const NullKeyRule nk = null_key_rule(p, in.shape); nk.keyed)
      plan.high_query = largest_tuple(p, plan, Sql("(").append(range).text(") AND ").append(*nk.keyed));
    plan.moves_watermark = false;
    plan.window = "range " + range.display();
    return plan;
  }

  const Watermark& wm = in.state.watermark;
  const bool reads_all = in.request.mode == RunMode::kFullRefresh || !wm.safe;
  if (p.detect.null_cursor == NullCursor::kWarn && in.shape.cursor_nullable && (in.shape.cursor_indexed || reads_all))
    plan.null_count = Sql("SELECT count(*) FROM " + source_from(p.source) + " WHERE " + qc + " IS NULL");

  std::optional<Sql> lower;
  if (in.request.mode == RunMode::kIncremental && wm.safe) {
    const Tuple& safe = *wm.safe;
    if (!wm.columns.empty() && wm.columns != plan.tuple_columns)
      throw RunError("pipeline " + p.name + ": the stored watermark is over (" + ident_list(wm.columns) +
                     ") but the cursor and key are now (" + ident_list(plan.tuple_columns) +
                     "); run once with --full-refresh to start over");
    if (p.detect.lookback) {
      lower = lookback_bound(cursor, ctype, safe[0], *p.detect.lookback, kind, plan.cursor_zone);
    } else if (safe.size() > plan.tuple_columns.size()) {
      // A mark longer than the tuple cannot be compared: fall back to the cursor alone,
      // inclusive, so rows tied with it are read again rather than lost.
      lower = Sql(qc + " >= ").append(cast(safe[0], ctype));
    } else {
      lower = after_tuple(plan.tuple_columns, plan.tuple_types, safe);
      // A (cursor, key) mark: when no key lies above the mark's, no row at the mark's cursor
      // value lies after it, and the run may start strictly after that value (ExtractPlan::tie_probe).
      if (safe.size() == 2 && plan.tuple_columns.size() == 2 && p.source.table && in.shape.key_unique &&
          p.target.key.size() == 1 && p.target.key[0] == plan.tuple_columns[1])
        plan.tie_probe = Sql("SELECT NOT EXISTS (SELECT 1 FROM " + source_from(p.source) + " WHERE " +
                             quote_ident(plan.tuple_columns[1]) + " > ")
                             .append(cast(safe[1], plan.tuple_types[1]))
                             .text(")");
    }
  }
  plan.replace_target = in.request.mode == RunMode::kFullRefresh;

  // The largest tuple in the window: next run's high mark.
  const NullKeyRule nk = null_key_rule(p, in.shape);
  Sql high(qc + " IS NOT NULL");
  if (lower) high.text(" AND ").append(*lower);
  if (settle) high.text(" AND ").append(*settle);
  if (nk.keyed) high.text(" AND ").append(*nk.keyed);
  plan.high_query = largest_tuple(p, plan, high);

  Sql where;
  bool any = false;
  auto add = [&](const Sql& s) {
    where.text(any ? " AND " : "").append(s);
    any = true;
  };
  if (lower) add(*lower);
  if (settle) add(*settle);
  if (p.detect.null_cursor == NullCursor::kWarn && in.shape.cursor_nullable) add(Sql(qc + " IS NOT NULL"));
  if (any && p.detect.null_cursor == NullCursor::kInclude) {
    Sql w("(");
    w.append(where).text(") OR " + qc + " IS NULL");
    where = w;
  }
  if (p.batch_size > 0 && in.request.mode == RunMode::kIncremental)
    plan.batching = ExtractPlan::Batching{p.batch_size, base, source_from(p.source), lower, settle,
                                          p.detect.null_cursor == NullCursor::kInclude, nk.keyed};
  plan.window = plan.replace_target ? "everything (full refresh)"
                : any               ? where.display()
                                    : "everything (first run)";
  if (nk.keyed) {
    plan.window += " (rows with a NULL key left out)";
    plan.null_key_probe = null_key_probe(source_from(p.source), any ? std::optional<Sql>(where) : std::nullopt, nk,
                                         cursor);
    where = any ? Sql("(").append(where).text(") AND ").append(*nk.keyed) : *nk.keyed;
    any = true;
  }
  plan.select = any ? Sql(base).text(" WHERE ").append(where) : base;
  return plan;
}

namespace {

// The predicate of one batch; NULL cursors join the first batch when configured.
Sql batch_where(const ExtractPlan& plan, const std::optional<Tuple>& after, const std::optional<Tuple>& upto,
                bool not_null) {
  const auto& b = *plan.batching;
  Sql where;
  bool any = false;
  auto add = [&](const Sql& s) {
    where.text(any ? " AND " : "").append(s);
    any = true;
  };
  if (after) add(after_tuple(plan.tuple_columns, plan.tuple_types, *after));
  else if (b.lower) add(*b.lower);
  if (b.settle) add(*b.settle);
  if (upto) add(up_to(plan.tuple_columns, plan.tuple_types, *upto));
  const std::string qc = quote_ident(plan.tuple_columns[0]);
  if (not_null || !b.include_null) add(Sql(qc + " IS NOT NULL"));
  if (!any) return b.keyed ? *b.keyed : Sql("true");
  if (!after && b.include_null && !not_null) {
    Sql w("(");
    w.append(where).text(") OR " + qc + " IS NULL");
    if (!b.keyed) return w;
    return Sql("(").append(w).text(") AND ").append(*b.keyed);
  }
  if (b.keyed) where.text(" AND ").append(*b.keyed);
  return where;
}

}  // namespace

std::vector<Advice> advise_cursor(const PipelineConfig& p, const InspectedTable& t, const ColumnAdvice& column) {
  using K = Advice::Kind;
  std::vector<Advice> out;
  if (t.estimated_rows >= 0 && t.estimated_rows < kSmallTable)
    out.push_back({K::kAdvice, rows_text(t) + ": strategy full would be as cheap and also sees deletes"});
  const auto c = std::find_if(t.columns.begin(), t.columns.end(),
                              [&](const InspectedColumn& col) { return col.name == p.detect.cursor; });
  if (c == t.columns.end()) {
    out.push_back({K::kRisk, "the source has no column " + p.detect.cursor});
  } else {
    out.push_back(c->indexed ? Advice{K::kOk, "an index leads with the cursor " + c->name}
                             : Advice{K::kAdvice, "no index leads with " + c->name +
                                                      ", so each run scans the table: CREATE INDEX ON " +
                                                      t.table.quoted() + " (" + quote_ident(c->name) + ");"});
    if (!c->not_null)
      out.push_back({K::kRisk, c->name + " may be NULL: such rows are never loaded unless detect.null_cursor: include"});
    // Rows sharing a cursor value (a bulk UPDATE … SET updated_at = now()) are told apart by
    // the key: with an index on the cursor alone every run that starts inside such a tie group
    // reads the whole group (docs/strategies.md#ties).
    std::vector<std::string> tie_cols{c->name};
    for (const auto& k : p.target.key)
      if (k != c->name) tie_cols.push_back(k);
    if (c->indexed && tie_cols.size() > 1)
      out.push_back({K::kAdvice, "where many rows share one " + c->name +
                                     " (bulk updates), an index on the cursor and key lets each run skip the rows "
                                     "of that value it already read instead of reading them all: CREATE INDEX ON " +
                                     t.table.quoted() + " (" + ident_list(tie_cols) + ");"});
    column(*c, out);
  }
  out.push_back({K::kAdvice, "watermarks cannot see deletes: use detect.soft_delete, reconcile, or strategy cdc" +
                                 std::string(t.wal_level == "logical" ? " (wal_level is logical)"
                                                                      : " (needs wal_level = logical; it is " +
                                                                            t.wal_level + ")")});
  return out;
}

}  // namespace tidemark::strategy

namespace tidemark {

Sql batch_bound_query(const ExtractPlan& plan, const std::optional<Tuple>& after) {
  const auto& b = *plan.batching;
  Sql q("SELECT " + ident_list(plan.tuple_columns) + " FROM " + b.from + " WHERE ");
  q.append(strategy::batch_where(plan, after, std::nullopt, true)).text(" ORDER BY ");
  for (size_t i = 0; i < plan.tuple_columns.size(); ++i) q.text((i ? ", " : "") + quote_ident(plan.tuple_columns[i]));
  return q.text(" OFFSET " + std::to_string(b.size - 1) + " LIMIT 1");
}

std::optional<Sql> relative_bound_query(const std::string& v, const std::string& type, const std::string& zone) {
  static const std::regex relative(R"(\s*-\s*([0-9]+\s*[a-z]+)\s*)");
  std::smatch m;
  if (type.rfind("timestamp", 0) != 0 && type != "date") return std::nullopt;
  if (!std::regex_match(v, m, relative)) return std::nullopt;
  const auto us = parse_duration_us(m[1].str());
  if (!us) return std::nullopt;  // the type check reports it
  // "-7d" on a plain timestamp or date cursor: the wall-clock time 7 days ago in the cursor's zone.
  Sql ago("(statement_timestamp() - CAST('" + format_interval_us(*us) + "' AS interval))");
  if (strategy::zoned_type(type)) ago.text(" AT TIME ZONE ").value(zone.empty() ? "UTC" : zone);
  return Sql("SELECT CAST(").append(ago).text(" AS " + type + ")::text");
}

Sql chunk_query(const std::string& cursor_type, const std::string& from, const std::string& to,
                const std::string& chunk) {
  static const std::regex int_re(R"([1-9][0-9]{0,17})");
  const bool integer = cursor_type != "timestamp with time zone" && cursor_type != "timestamp without time zone" &&
                       cursor_type != "date";
  std::string step;
  if (integer) {
    if (!std::regex_match(chunk, int_re))
      throw ConfigError("chunk '" + chunk + "' must be a positive number of ids for a " + cursor_type + " cursor");
    step = chunk;
  } else {
    auto us = parse_duration_us(chunk);
    if (!us || *us <= 0)
      throw ConfigError("chunk '" + chunk + "' must be a duration like 1d, 6h, 30m for a " + cursor_type + " cursor");
    step = "CAST('" + format_interval_us(*us) + "' AS interval)";
  }
  auto typed = [&](const std::string& v) { return strategy::cast_value(v, cursor_type); };
  // generate_series in the cursor's type; the last chunk ends at `to`.
  Sql q("SELECT CAST(g AS " + cursor_type + ")::text, CAST(LEAST(g + " + step + ", ");
  q.append(typed(to)).text(") AS " + cursor_type + ")::text FROM generate_series(").append(typed(from)).text(", ");
  q.append(typed(to)).text(", " + step + ") AS g WHERE g < ").append(typed(to)).text(" ORDER BY 1");
  return q;
}

Sql batch_select(const ExtractPlan& plan, const std::optional<Tuple>& after, const std::optional<Tuple>& upto) {
  Sql q = plan.batching->base;
  return q.text(" WHERE ").append(strategy::batch_where(plan, after, upto, false));
}

}  // namespace tidemark
