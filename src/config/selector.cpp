// Selector pipelines, pure: table patterns, name templates, and the expansion of a selector
// over a source catalog into one validated pipeline per table (docs/config.md#selector-pipelines).
#include "tidemark/selector.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "config/selector_tree.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/sql.hpp"
#include "tidemark/util.hpp"

namespace tidemark {
namespace {

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// `$` is doubled in text the validator reads again: it expands ${VAR} in every string.
std::string literal(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '$' ? std::string("$$") : std::string(1, ch);
  return out;
}

std::string substitute(std::string text, const std::string& pipeline, const QualifiedName& t) {
  for (const auto& [ph, value] : {std::pair<std::string, std::string>{"{pipeline}", pipeline},
                                  {"{schema}", t.schema}, {"{table}", t.name}}) {
    for (size_t at = text.find(ph); at != std::string::npos; at = text.find(ph, at + value.size()))
      text.replace(at, ph.size(), value);
  }
  return text;
}

// A pipeline name from the template: characters a name may not hold become '_'.
std::string expanded_name(const SelectorConfig& s, const QualifiedName& t) {
  std::string out = substitute(s.name_template, s.name, t);
  for (char& ch : out)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-')) ch = '_';
  return out;
}

const YAML::Node child(const YAML::Node& n, const char* key) {
  return n && n.IsMap() ? n[key] : YAML::Node();
}

std::string scalar_of(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

bool has_column(const InspectedTable& t, const std::string& c) {
  return std::any_of(t.columns.begin(), t.columns.end(), [&](const InspectedColumn& x) { return x.name == c; });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Patterns

bool name_glob_match(const std::string& glob, const std::string& name) {
  // The classic matcher that goes back to the last star: linear for one star, never exponential.
  size_t g = 0, n = 0, star = std::string::npos, mark = 0;
  auto class_match = [&](size_t at, char c, size_t* end) {
    size_t j = at + 1;
    const bool negate = j < glob.size() && (glob[j] == '!' || glob[j] == '^');
    if (negate) ++j;
    bool found = false;
    const size_t first = j;
    for (; j < glob.size() && (glob[j] != ']' || j == first); ++j) {
      if (j + 2 < glob.size() && glob[j + 1] == '-' && glob[j + 2] != ']') {
        found = found || (c >= glob[j] && c <= glob[j + 2]);
        j += 2;
      } else {
        found = found || c == glob[j];
      }
    }
    if (j >= glob.size()) return false;  // no closing ']': never matches
    *end = j + 1;
    return found != negate;
  };
  while (n < name.size()) {
    size_t end = 0;
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
    } else if (g < glob.size() && glob[g] == '[' && class_match(g, name[n], &end)) {
      g = end;
      ++n;
    } else if (g < glob.size() && glob[g] != '[' && (glob[g] == '?' || glob[g] == name[n])) {
      ++g;
      ++n;
    } else if (star != std::string::npos) {
      g = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

bool TablePattern::matches(const QualifiedName& t) const {
  const bool s = schema_exact ? t.schema == schema : name_glob_match(schema, t.schema);
  return s && (table_exact ? t.name == table : name_glob_match(table, t.name));
}

std::optional<TablePattern> parse_table_pattern(const std::string& text, std::string* error) {
  // The syntax of a relation name (split_name); a quoted part is an exact name, and may be empty.
  auto fail = [error](const char* why) -> std::optional<TablePattern> {
    if (error) *error = why;
    return std::nullopt;
  };
  const SplitName split = split_name(text);
  const std::vector<NamePart>& parts = split.parts;
  auto empty = [](const NamePart& p) { return p.text.empty() && !p.quoted; };
  // An empty part before a dot comes first: it stands before any syntax error in the text.
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (empty(parts[i])) return fail("empty name part");
  if (split.error == SplitName::Error::quote_inside_part)
    return fail("a '\"' inside a name part (quote the whole part: \"Odd\".\"Name\")");
  if (split.error != SplitName::Error::none) return fail(split_name_error(split.error));
  if (parts.size() != 2)
    return fail(parts.size() < 2 ? "name the schema too, like public.* or public.orders"
                                 : "too many dots: schema.table (quote a name that holds a dot)");
  if (empty(parts[1])) return fail("empty name part");
  TablePattern p;
  p.schema = parts[0].text;
  p.table = parts[1].text;
  // An unquoted part without glob characters is an exact name as well.
  p.schema_exact = parts[0].quoted || !has_glob(p.schema);
  p.table_exact = parts[1].quoted || !has_glob(p.table);
  p.text = text;
  return p;
}

std::string schema_regex(const TablePattern& p) {
  std::string out = "^";
  auto lit = [&](char c) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  };
  if (p.schema_exact) {
    for (char c : p.schema) lit(c);
    return out + "$";
  }
  for (size_t i = 0; i < p.schema.size(); ++i) {
    const char c = p.schema[i];
    if (c == '*') out += ".*";
    else if (c == '?') out += ".";
    else if (c == '[') {
      const size_t close = p.schema.find(']', i + 2);
      if (close == std::string::npos) return "^.*$";  // never matches locally either; let the catalog say
      std::string cls = p.schema.substr(i + 1, close - i - 1);
      if (!cls.empty() && cls[0] == '!') cls[0] = '^';
      std::string escaped;
      for (char ch : cls) escaped += ch == '\\' ? std::string("\\\\") : std::string(1, ch);
      out += "[" + escaped + "]";
      i = close;
    } else {
      lit(c);
    }
  }
  return out + "$";
}

std::string selector_prefix(const SelectorConfig& s) {
  const std::string rest = s.name_template.substr(std::string("{pipeline}").size());
  return s.name + rest.substr(0, rest.find('{'));
}

// ---------------------------------------------------------------------------------------------
// One table's pipeline as a YAML node

namespace config {

YAML::Node table_base(const SelectorTree& tree, const QualifiedName& table) {
  YAML::Node base(YAML::NodeType::Map);
  for (const auto& kv : tree.node) {
    const std::string k = kv.first.Scalar();
    if (k == "name_template" || k == "overrides" || k == "name") continue;
    base.force_insert(kv.first, kv.second);
  }
  const auto o = tree.overrides.find(table.quoted());
  return o == tree.overrides.end() ? base : deep_merge(o->second, base);
}

YAML::Node table_node(const YAML::Node& base, const QualifiedName& table, const std::string& name,
                      const std::string& owner, const std::string& strategy, const std::string& cursor,
                      const std::vector<std::string>& key, bool chosen) {
  YAML::Node out(YAML::NodeType::Map);
  const Strategy* st = find_strategy(strategy);
  // A strategy auto chose drops what a different strategy would need: a batch size or chunk
  // of the defaults means nothing to one that reads the whole table.
  const bool drop_cursor_keys = chosen && st && !st->caps().cursor;
  out["name"] = name;
  for (const auto& kv : base) {
    const std::string k = kv.first.Scalar();
    if (k == "source" || k == "target" || k == "detect" || k == "name") continue;
    if (drop_cursor_keys && (k == "batch_size" || k == "chunk")) continue;
    out.force_insert(kv.first, kv.second);
  }
  YAML::Node src(YAML::NodeType::Map);
  for (const auto& kv : base["source"]) {
    const std::string k = kv.first.Scalar();
    if (k != "tables" && k != "exclude" && k != "table") src.force_insert(kv.first, kv.second);
  }
  src["table"] = literal(table.quoted());
  out["source"] = src;

  YAML::Node det(YAML::NodeType::Map);
  for (const auto& kv : base["detect"]) {
    const std::string k = kv.first.Scalar();
    if (k == "strategy" || k == "cursor") continue;
    // A lookback is a duration for one cursor and a count for another: it was the configured strategy's.
    if ((chosen && k == "lookback") || (drop_cursor_keys && (k == "settle" || k == "null_cursor"))) continue;
    det.force_insert(kv.first, kv.second);
  }
  det["strategy"] = strategy;
  if (!cursor.empty()) det["cursor"] = literal(cursor);
  out["detect"] = det;

  const YAML::Node base_target = base["target"];
  if (base_target && base_target.IsMap()) {
    YAML::Node tgt(YAML::NodeType::Map);
    for (const auto& kv : base_target) {
      const std::string k = kv.first.Scalar();
      if (k == "table") continue;
      if (chosen && st && st->caps().replaces_target && k == "write") continue;
      tgt.force_insert(kv.first, kv.second);
    }
    // The template's parts get the table's names; each part is quoted, as a name may hold anything.
    const std::string templ = scalar_of(base_target["table"]);
    if (!templ.empty()) {
      std::string why;
      if (auto parts = QualifiedName::parse(templ, &why)) {
        // Substituted names are literal text ('$' doubled); the template's own ${VAR} stays.
        const QualifiedName names{literal(table.schema), literal(table.name)};
        tgt["table"] = QualifiedName{substitute(parts->schema, owner, names),
                                     substitute(parts->name, owner, names)}
                           .quoted();
      } else {
        tgt["table"] = templ;  // the validator reports it
      }
    }
    if (!base_target["key"] && !key.empty()) {
      YAML::Node k(YAML::NodeType::Sequence);
      for (const auto& c : key) k.push_back(literal(c));
      tgt["key"] = k;
    }
    out["target"] = tgt;
  } else if (base_target) {
    out["target"] = base_target;
  }
  return out;
}

}  // namespace config

// ---------------------------------------------------------------------------------------------
// Expansion

SelectorExpansion expand_selector(const Config& cfg, const SelectorConfig& s, const std::vector<InspectedTable>& catalog,
                                  const std::vector<StoredChoice>& stored, const ExpandOptions& opts) {
  SelectorExpansion out;
  out.selector = s.name;
  if (!s.tree) throw RunError("selector pipeline " + s.name + " has no config tree (a tidemark bug)");
  const SelectorTree& tree = *s.tree;
  std::map<std::string, const StoredChoice*> by_name;
  for (const auto& c : stored) by_name[c.pipeline] = &c;
  std::set<std::string> selected_tables, produced_names;  // quoted table names; pipeline names
  auto any = [](const std::vector<TablePattern>& ps, const QualifiedName& t) {
    return std::any_of(ps.begin(), ps.end(), [&](const TablePattern& p) { return p.matches(t); });
  };
  for (const InspectedTable& t : catalog) {
    if (!any(s.tables, t.table) || any(s.exclude, t.table)) continue;
    selected_tables.insert(t.table.quoted());
    const YAML::Node base = config::table_base(tree, t.table);
    const auto o = tree.overrides.find(t.table.quoted());
    const std::string own_name = o != tree.overrides.end() ? scalar_of(child(o->second, "name")) : "";
    ExpandedTable e;
    e.table = t.table;
    e.name = own_name.empty() ? expanded_name(s, t.table) : own_name;
    produced_names.insert(e.name);
    e.pipeline.name = e.name;
    e.pipeline.selector = s.name;
    e.pipeline.source.table = t.table;
    e.pipeline.loc = s.loc;

    // The strategy: configured where it applies, else chosen by the table's shape (auto), and
    // once chosen kept from the stored state, so that it does not flip between runs.
    const std::string configured = scalar_of(child(child(base, "detect"), "strategy"));
    const std::string configured_cursor = scalar_of(child(child(base, "detect"), "cursor"));
    const Strategy* st = find_strategy(configured);
    std::string strategy = configured, cursor = configured_cursor, reason = "configured";
    bool chosen = false;
    const bool automatic = configured == kAutoStrategy;
    const bool missing_cursor = st && st->caps().cursor && !configured_cursor.empty() && !has_column(t, configured_cursor);
    if (automatic || missing_cursor) {
      chosen = true;
      const std::string why_not = missing_cursor ? "no column " + quote_ident(configured_cursor) + " for strategy " +
                                                       configured + ", so chosen as auto does: "
                                                 : "auto: ";
      const auto kept = by_name.find(e.name);
      if (kept != by_name.end() && !opts.rechoose && find_strategy(kept->second->strategy)) {
        strategy = kept->second->strategy;
        cursor = kept->second->cursor;
        reason = "kept from its stored state (" + strategy + (cursor.empty() ? "" : " on " + cursor) +
                 "); --full-refresh chooses again";
      } else {
        const AutoChoice c = choose_strategy(t);
        if (c.refused) {
          out.skipped.push_back({t.table, why_not + c.reason});
          continue;
        }
        strategy = c.strategy;
        cursor = c.cursor;
        reason = why_not + c.reason;
      }
    }
    chosen = chosen && strategy != configured;  // a fallback that kept the configured strategy changes nothing
    e.strategy = strategy;
    e.reason = reason;
    const bool key_given = bool(child(child(base, "target"), "key"));
    const Strategy* run_as = find_strategy(strategy);
    if (!key_given && t.primary_key.empty() && run_as && !run_as->caps().replaces_target) {
      out.skipped.push_back({t.table, "no primary key, and strategy " + strategy +
                                          " needs a key to apply changes: give target.key in overrides, or strategy "
                                          "full"});
      continue;
    }
    if (!valid_pipeline_name(e.name)) {
      e.pipeline.config_error = "table " + t.table.display() + ": its pipeline name '" + e.name + "' is " +
                                (e.name.size() > 63 ? std::to_string(e.name.size()) + " characters, more than 63"
                                                    : "not a valid pipeline name") +
                                ": shorten the name_template or the pipeline's name, or give the table a name in "
                                "overrides";
      e.strategy.clear();
      out.tables.push_back(std::move(e));
      continue;
    }
    const YAML::Node node = config::table_node(base, t.table, e.name, s.name, strategy, cursor,
                                               key_given ? std::vector<std::string>{} : t.primary_key, chosen);
    try {
      PipelineConfig pc = config::validate_pipeline_node(node, tree.path, s.loc.line, cfg, tree.env);
      pc.selector = s.name;
      pc.loc = s.loc;
      e.pipeline = std::move(pc);
    } catch (const ConfigError& err) {
      e.pipeline.config_error = "table " + t.table.display() + " of selector pipeline " + s.name + ": " + err.what();
      e.strategy.clear();
    }
    out.tables.push_back(std::move(e));
  }
  for (const auto& sk : out.skipped) produced_names.insert(expanded_name(s, sk.table));
  for (size_t i = 0; i < s.overrides.size(); ++i)
    if (!selected_tables.count(s.overrides[i].quoted()))
      out.warnings.push_back(s.override_locs[i].file + ":" + std::to_string(s.override_locs[i].line) + ": overrides." +
                             s.overrides[i].display() + " matches no table selected by source.tables (minus exclude)");
  // State under the selector's prefix that no table of this run owns: kept, and said.
  std::set<std::string> catalog_tables;
  for (const auto& t : catalog) catalog_tables.insert(t.table.quoted());
  for (const auto& c : stored) {
    if (produced_names.count(c.pipeline) || cfg.find(c.pipeline)) continue;
    if (!c.source_table.empty() && catalog_tables.count(c.source_table))
      out.warnings.push_back("pipeline " + c.pipeline + " (table " + c.source_table +
                             ") is no longer selected (excluded, or renamed by the name template); its state is kept");
    else
      out.warnings.push_back("table " + (c.source_table.empty() ? std::string("of pipeline ") + c.pipeline : c.source_table) +
                             " has vanished from the source; the state of pipeline " + c.pipeline +
                             " is kept (it resumes if the table comes back)");
  }
  return out;
}

void apply_expansions(Config& cfg, const std::vector<SelectorExpansion>& expansions) {
  // Names taken: the hand-written pipelines', then each expanded one in turn.
  std::map<std::string, std::string> owner;  // name -> what has it, for the message
  for (const auto& p : cfg.pipelines) owner[p.name] = "the pipeline " + p.name;
  std::vector<std::vector<PipelineConfig>> made(cfg.selectors.size());
  for (const auto& e : expansions) {
    size_t idx = 0;
    while (idx < cfg.selectors.size() && cfg.selectors[idx].name != e.selector) ++idx;
    if (idx == cfg.selectors.size()) continue;
    for (const auto& t : e.tables) {
      PipelineConfig pc = t.pipeline;
      const auto taken = owner.find(pc.name);
      if (taken != owner.end() && pc.config_error.empty())
        pc.config_error = "table " + t.table.display() + " of selector pipeline " + e.selector + ": its pipeline name '" +
                          pc.name + "' is already " + taken->second +
                          "'s: give the table a name in overrides, or change the name_template";
      else owner[pc.name] = "table " + t.table.display() + " of selector pipeline " + e.selector;
      made[idx].push_back(std::move(pc));
    }
  }
  std::vector<PipelineConfig> all;
  size_t next = 0;
  for (size_t i = 0; i <= cfg.pipelines.size(); ++i) {
    for (; next < cfg.selectors.size() && cfg.selectors[next].position == i; ++next)
      for (auto& pc : made[next]) all.push_back(std::move(pc));
    if (i < cfg.pipelines.size()) all.push_back(std::move(cfg.pipelines[i]));
  }
  cfg.pipelines = std::move(all);
}

std::vector<const PipelineConfig*> selected_by(const Config& cfg, const std::string& name) {
  std::vector<const PipelineConfig*> out;
  if (const PipelineConfig* p = cfg.find(name)) return {p};
  for (const auto& p : cfg.pipelines)
    if (p.selector == name) out.push_back(&p);
  if (!out.empty() || selector_named(cfg, name) || !has_glob(name)) return out;
  for (const auto& p : cfg.pipelines)
    if (name_glob_match(name, p.name)) out.push_back(&p);
  return out;
}

bool selector_named(const Config& cfg, const std::string& name) {
  return std::any_of(cfg.selectors.begin(), cfg.selectors.end(), [&](const SelectorConfig& s) { return s.name == name; });
}

std::string expansion_text(const SelectorExpansion& e) {
  std::ostringstream out;
  size_t ok = 0;
  for (const auto& t : e.tables) ok += t.pipeline.config_error.empty() ? 1 : 0;
  out << "selector pipeline " << e.selector << ": " << e.tables.size() << " table(s)";
  if (ok != e.tables.size()) out << " (" << e.tables.size() - ok << " invalid)";
  if (!e.skipped.empty()) out << ", " << e.skipped.size() << " skipped";
  out << "\n";
  for (const auto& t : e.tables) {
    out << "  " << t.table.display() << " -> " << t.name << ": ";
    if (!t.pipeline.config_error.empty()) out << "invalid: " << t.pipeline.config_error << "\n";
    else out << t.strategy << " (" << t.reason << "), write " << t.pipeline.target.write << " into "
             << t.pipeline.target.table.display() << "\n";
  }
  for (const auto& s : e.skipped) out << "  skipped " << s.table.display() << ": " << s.why << "\n";
  for (const auto& w : e.warnings) out << "  warning: " << w << "\n";
  return out.str();
}

}  // namespace tidemark
