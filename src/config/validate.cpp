// Meaning: walks the parsed tree, checks every key against the schema, expands ${ENV} in
// values and builds the typed Config. All problems are collected and reported together,
// each as `file:line: field.path: problem`.
#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/reader.hpp"
#include "config/selector_tree.hpp"
#include "tidemark/config.hpp"
#include "tidemark/dsn.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/selector.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {
namespace {

// A time zone name as the server spells them (Europe/Berlin, UTC, EST5EDT, <+03>-03 aside);
// whether the server knows it is checked at run time.
bool time_zone_name(const std::string& v) {
  static const std::regex tz_re(R"([A-Za-z0-9_+\-/:]{1,64})");
  return std::regex_match(v, tz_re);
}
constexpr int64_t kMaxBatchSize = 2147483647;

class Validator {
 public:
  Validator(std::string file, EnvLookup env, int fallback_line = 0)
      : file_(std::move(file)), env_(std::move(env)), fallback_line_(fallback_line) {}

  // One pipeline node (a selector's table, made by expansion) checked as pipelines[…] of `cfg`.
  PipelineConfig pipeline(const YAML::Node& n, const std::string& path, const Config& cfg) {
    PipelineConfig pc;
    read_pipeline(n, path, cfg, pc);
    Config none;
    finish(none);
    return pc;
  }

  Config run(const YAML::Node& root) {
    Config cfg;
    cfg.path = file_;
    if (!expect_map(root, "(top level)")) return finish(cfg);
    check_keys(root, "", {"version", "connections", "state", "pipelines", "retries", "jobs", "defaults"});
    if (auto v = root["version"]) {
      auto n = get_int(v, "version");
      if (n && *n != 1) error(v, "version", "unsupported version " + std::to_string(*n) + " (this tidemark reads version 1)");
    }
    read_connections(root["connections"], cfg);
    read_state(root["state"], cfg);
    read_retries(root["retries"], cfg);
    read_jobs(root["jobs"], cfg);
    read_defaults(root["defaults"]);
    read_pipelines(root["pipelines"], cfg);
    return finish(cfg);
  }

 private:
  std::string file_;
  EnvLookup env_;  // empty: the process environment
  int fallback_line_ = 0;  // where nodes made by expansion (no line of their own) are reported
  YAML::Node defaults_;    // top-level `defaults:`, merged into every pipeline
  std::vector<std::string> errors_;

  Config finish(Config& cfg) {
    if (!errors_.empty()) {
      std::string msg;
      std::set<std::string> seen;  // a mistake in `defaults:` would otherwise repeat per pipeline
      for (const auto& e : errors_)
        if (seen.insert(e).second) msg += (msg.empty() ? "" : "\n") + e;
      throw ConfigError(msg);
    }
    return cfg;
  }

  std::string where(const YAML::Node& n) const {
    if (n && n.Mark().line >= 0) return file_ + ":" + std::to_string(n.Mark().line + 1);
    if (fallback_line_ > 0) return file_ + ":" + std::to_string(fallback_line_);
    return file_;
  }
  void error(const YAML::Node& n, const std::string& path, const std::string& what) {
    errors_.push_back(where(n) + ": " + path + ": " + what);
  }

  bool expect_map(const YAML::Node& n, const std::string& path) {
    if (!n || !n.IsMap()) {
      error(n, path, "must be a mapping (key: value)");
      return false;
    }
    return true;
  }

  void check_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed) {
    check_duplicates(map, path);
    for (const auto& kv : map) {
      std::string k = key_name(kv.first);
      bool known = false;
      for (const auto& a : allowed) known = known || a == k;
      if (!known) {
        std::string p = path.empty() ? k : path + "." + k;
        error(kv.first, p, "unknown key" + did_you_mean(k, allowed));
      }
    }
  }

  // A plain `null` (or `~`) key is a null node to YAML: its name is "null".
  static std::string key_name(const YAML::Node& k) { return k.IsNull() ? "null" : k.Scalar(); }

  // yaml-cpp keeps both entries of a repeated key and lookups see the first: refuse it.
  void check_duplicates(const YAML::Node& map, const std::string& path) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string k = key_name(kv.first);
      if (!seen.insert(k).second) error(kv.first, path.empty() ? k : path + "." + k, "given more than once");
    }
  }

  static bool quoted(const YAML::Node& n) { return n.Tag() == "!"; }

  std::optional<std::string> get_string(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      error(n, path, "must be a string");
      return std::nullopt;
    }
    try {
      return env_ ? expand_env(n.Scalar(), where(n) + ": " + path, env_) : expand_env(n.Scalar(), where(n) + ": " + path);
    } catch (const ConfigError& e) {
      errors_.push_back(e.what());
      return std::nullopt;
    }
  }

  std::optional<int64_t> get_int(const YAML::Node& n, const std::string& path) {
    static const std::regex int_re(R"(-?[0-9]+)");
    if (!n.IsScalar() || quoted(n) || !std::regex_match(n.Scalar(), int_re)) {
      error(n, path, "must be an integer");
      return std::nullopt;
    }
    // An integer beyond 64 bits is too large for any field (each field states its own range).
    const std::string& digits = n.Scalar();
    try {
      return std::stoll(digits);
    } catch (const std::out_of_range&) {
      error(n, path, std::string(digits[0] == '-' ? "too small" : "too large") + " (" + digits + ")");
      return std::nullopt;
    }
  }

  std::vector<std::string> get_names(const YAML::Node& n, const std::string& path) {
    std::vector<std::string> out;
    if (n.IsScalar()) {  // `key: id` is accepted as `key: [id]`
      if (auto s = get_string(n, path)) {
        if (s->empty()) error(n, path, "empty column name");
        else out.push_back(*s);
      }
      return out;
    }
    if (!n.IsSequence()) {
      error(n, path, "must be a list of column names");
      return out;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      if (auto s = get_string(n[i], p)) {
        if (s->empty()) error(n[i], p, "empty column name");
        else if (!seen.insert(*s).second) error(n[i], p, "duplicate column '" + *s + "'");
        else out.push_back(*s);
      }
    }
    if (n.size() == 0) error(n, path, "must not be empty");
    return out;
  }

  std::optional<QualifiedName> get_table(const YAML::Node& n, const std::string& path) {
    auto s = get_string(n, path);
    if (!s) return std::nullopt;
    std::string why;
    auto q = QualifiedName::parse(*s, &why);
    if (!q) error(n, path, "invalid table name '" + *s + "': " + why);
    return q;
  }

  void read_connections(const YAML::Node& n, Config& cfg) {
    if (!n) {
      errors_.push_back(file_ + ": connections: required");
      return;
    }
    if (!expect_map(n, "connections")) return;
    check_duplicates(n, "connections");
    for (const auto& kv : n) {
      std::string name = kv.first.Scalar();
      std::string p = "connections." + name;
      cfg.connections[name] = "";  // known even when its value fails, to avoid follow-up errors
      if (kv.second.IsMap()) {
        if (auto dsn = read_connection_map(kv.second, p)) cfg.connections[name] = *dsn;
      } else if (auto dsn = get_string(kv.second, p)) {  // "" is valid: libpq's defaults (PG* variables)
        if (check_dsn(kv.second, p, *dsn)) cfg.connections[name] = *dsn;
      }
    }
  }

  // The DSN as libpq will read it (after ${VAR} expansion), checked with libpq's own parser;
  // the message never repeats a DSN that holds a password (tidemark/dsn.hpp).
  bool check_dsn(const YAML::Node& n, const std::string& path, const std::string& dsn) {
    if (auto why = dsn_problem(dsn)) {
      error(n, path, *why);
      return false;
    }
    return true;
  }

  // `{dsn: …, connect_timeout: 10s, statement_timeout: 30m, lock_timeout: 1m}`: the timeouts
  // become libpq parameters of the connection string (connect_timeout, options=-c …).
  std::optional<std::string> read_connection_map(const YAML::Node& n, const std::string& p) {
    check_keys(n, p, {"dsn", "connect_timeout", "statement_timeout", "lock_timeout"});
    std::optional<std::string> dsn;
    if (auto d = n["dsn"]) dsn = get_string(d, p + ".dsn");
    else error(n, p + ".dsn", "required (the libpq connection string or URI)");
    if (!dsn || !check_dsn(n["dsn"], p + ".dsn", *dsn)) return std::nullopt;
    const bool uri = dsn->rfind("postgres://", 0) == 0 || dsn->rfind("postgresql://", 0) == 0;
    std::vector<std::pair<std::string, std::string>> params;
    std::string options;
    for (const char* key : {"connect_timeout", "statement_timeout", "lock_timeout"}) {
      auto v = n[key];
      if (!v) continue;
      auto text = get_string(v, p + "." + key);
      if (!text) continue;
      auto us = parse_duration_us(*text);
      if (!us || *us < 1000) {
        error(v, p + "." + key, "'" + *text + "' is not a duration like 10s, 30m (at least 1ms)");
        continue;
      }
      if (std::string(key) == "connect_timeout") params.emplace_back(key, std::to_string(std::max<int64_t>(1, *us / 1000000)));
      else options += std::string(options.empty() ? "" : " ") + "-c " + key + "=" + std::to_string(*us / 1000) + "ms";
    }
    if (!options.empty()) {
      if (dsn->find("options") != std::string::npos) {
        error(n["dsn"], p + ".dsn", "already sets options; give statement_timeout/lock_timeout there, or remove them from the dsn");
        return std::nullopt;
      }
      params.emplace_back("options", options);
    }
    std::string out = *dsn;
    for (const auto& [k, v] : params) {
      if (uri) {
        std::string enc;
        for (char ch : v) enc += ch == ' ' ? std::string("%20") : ch == '=' ? std::string("%3D") : std::string(1, ch);
        out += (out.find('?') == std::string::npos ? "?" : "&") + k + "=" + enc;
      } else {
        out += (out.empty() ? "" : " ") + k + "='" + v + "'";
      }
    }
    return out;
  }

  // Top-level `jobs`: how many pipelines a run runs at once (docs/operations.md#parallel-runs).
  void read_jobs(const YAML::Node& n, Config& cfg) {
    if (!n) return;
    if (auto v = get_int(n, "jobs")) {
      if (*v < 1 || *v > 64) error(n, "jobs", "must be between 1 and 64 (pipelines run at once)");
      else cfg.jobs = static_cast<int>(*v);
    }
  }

  void read_retries(const YAML::Node& n, Config& cfg) {
    if (!n) return;
    if (!expect_map(n, "retries")) return;
    check_keys(n, "retries", {"attempts", "backoff"});
    if (auto a = n["attempts"])
      if (auto v = get_int(a, "retries.attempts")) {
        if (*v < 0 || *v > 10) error(a, "retries.attempts", "must be between 0 and 10");
        else cfg.retries.attempts = static_cast<int>(*v);
      }
    if (auto b = n["backoff"])
      if (auto v = get_string(b, "retries.backoff")) {
        auto us = parse_duration_us(*v);
        if (!us || *us < 0) error(b, "retries.backoff", "'" + *v + "' is not a duration like 5s, 1m");
        else cfg.retries.backoff_ms = *us / 1000;
      }
  }

  void read_state(const YAML::Node& n, Config& cfg) {
    if (!n) return;
    if (!expect_map(n, "state")) return;
    check_keys(n, "state", {"connection", "schema", "file"});
    if (auto f = n["file"]) {
      if (auto v = get_string(f, "state.file")) {
        if (v->empty()) error(f, "state.file", "must not be empty");
        else if (v->back() == '/') error(f, "state.file", "'" + *v + "' names a directory; name the JSON file");
        else cfg.state.file = resolve_path(*v);
      }
      for (const char* other : {"connection", "schema"})
        if (n[other])
          error(n[other], std::string("state.") + other,
                "state.file keeps the state in a local file; remove state." + std::string(other) +
                    " (or state.file to keep it in the database)");
    }
    if (auto c = n["connection"]) {
      if (auto s = get_string(c, "state.connection")) {
        cfg.state.connection = *s;
        check_connection(c, "state.connection", *s, cfg);
      }
    }
    if (auto s = n["schema"]) {
      if (auto v = get_string(s, "state.schema")) {
        if (v->empty()) error(s, "state.schema", "must not be empty");
        else cfg.state.schema = *v;
      }
    }
  }

  // A relative path in the config is relative to the config file's directory.
  std::string resolve_path(const std::string& path) const {
    if (path.front() == '/') return path;
    const size_t slash = file_.rfind('/');
    return slash == std::string::npos ? path : file_.substr(0, slash + 1) + path;
  }

  void check_connection(const YAML::Node& n, const std::string& path, const std::string& name, const Config& cfg) {
    if (cfg.connections.count(name)) return;
    std::vector<std::string> names;
    for (const auto& kv : cfg.connections) names.push_back(kv.first);
    error(n, path, "unknown connection '" + name + "'" + did_you_mean(name, names));
  }

  void read_pipelines(const YAML::Node& n, Config& cfg) {
    if (!n) {
      errors_.push_back(file_ + ": pipelines: required");
      return;
    }
    if (!n.IsSequence() || n.size() == 0) {
      error(n, "pipelines", "must be a non-empty list");
      return;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = "pipelines[" + std::to_string(i) + "]";
      fallback_line_ = n[i].Mark().line + 1;  // maps merged with defaults have no line of their own
      if (is_selector(n[i])) {
        SelectorConfig sc;
        if (read_selector(n[i], p, cfg, sc)) {
          if (!names.insert(sc.name).second) error(n[i]["name"], p + ".name", "duplicate pipeline name '" + sc.name + "'");
          sc.position = cfg.pipelines.size();
          cfg.selectors.push_back(std::move(sc));
        }
        continue;
      }
      PipelineConfig pc;
      const YAML::Node merged = with_defaults(n[i], false);
      if (read_pipeline(merged, p, cfg, pc)) {
        if (!names.insert(pc.name).second) error(n[i]["name"], p + ".name", "duplicate pipeline name '" + pc.name + "'");
        cfg.pipelines.push_back(std::move(pc));
      }
    }
  }

  // Keys only a selector pipeline has (docs/config.md#selector-pipelines).
  static const std::vector<std::string>& selector_keys() {
    static const std::vector<std::string> keys = {"name_template", "overrides"};
    return keys;
  }

  // `defaults:` holds what a pipeline may hold, except its name and what it reads.
  void read_defaults(const YAML::Node& n) {
    if (!n) return;
    if (!expect_map(n, "defaults")) return;
    check_keys(n, "defaults", {"source", "detect", "target", "batch_size", "chunk", "reconcile", "name_template"});
    if (n["source"] && n["source"].IsMap())
      for (const char* own : {"table", "query", "tables", "exclude", "columns"})
        if (n["source"][own])
          error(n["source"][own], std::string("defaults.source.") + own,
                "names what one pipeline reads; give it in the pipeline, not in defaults");
    defaults_ = n;
  }

  // The pipeline with `defaults:` merged under it (its own values win); a hand-written
  // pipeline does not take a selector's keys.
  YAML::Node with_defaults(const YAML::Node& n, bool selector) const {
    if (!defaults_ || !n.IsMap()) return n;
    YAML::Node base(YAML::NodeType::Map);
    for (const auto& kv : defaults_) {
      const std::string k = key_name(kv.first);
      if (!selector && std::find(selector_keys().begin(), selector_keys().end(), k) != selector_keys().end()) continue;
      base[k] = kv.second;
    }
    return config::deep_merge(n, base);
  }

  static bool is_selector(const YAML::Node& n) {
    return n.IsMap() && n["source"] && n["source"].IsMap() && n["source"]["tables"];
  }

  std::vector<TablePattern> read_patterns(const YAML::Node& n, const std::string& p) {
    std::vector<TablePattern> out;
    if (!n.IsSequence() || n.size() == 0) {
      error(n, p, "must be a non-empty list of table names or globs, like [\"public.*\", \"sales.order_*\"]");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string pi = p + "[" + std::to_string(i) + "]";
      auto v = get_string(n[i], pi);
      if (!v) continue;
      std::string why;
      if (auto t = parse_table_pattern(*v, &why)) out.push_back(*t);
      else error(n[i], pi, "'" + *v + "': " + why);
    }
    return out;
  }

  // `{pipeline}`, `{schema}`, `{table}` in a template; anything else in braces is a mistake.
  bool check_template(const YAML::Node& n, const std::string& p, const std::string& text, bool need_table) {
    static const std::regex ph_re(R"(\{([^{}]*)\})");
    bool ok = true;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), ph_re); it != std::sregex_iterator(); ++it) {
      const std::string ph = (*it)[1];
      if (ph != "pipeline" && ph != "schema" && ph != "table") {
        error(n, p, "unknown placeholder {" + ph + "}" + did_you_mean(ph, {"pipeline", "schema", "table"}) +
                        "; one of {pipeline}, {schema}, {table}");
        ok = false;
      }
    }
    if (need_table && text.find("{table}") == std::string::npos) {
      error(n, p, "'" + text + "' must contain {table}, or every table would get the same name");
      ok = false;
    }
    return ok;
  }

  bool read_selector(const YAML::Node& raw, const std::string& p, Config& cfg, SelectorConfig& s) {
    if (!expect_map(raw, p)) return false;
    const size_t errors_before = errors_.size();
    const YAML::Node n = with_defaults(raw, true);
    s.loc = {file_, raw.Mark().line + 1};
    check_keys(n, p, {"name", "source", "detect", "target", "batch_size", "chunk", "reconcile", "name_template", "overrides"});
    if (auto nm = n["name"]) {
      if (auto v = get_string(nm, p + ".name")) {
        if (!valid_pipeline_name(*v))
          error(nm, p + ".name", "'" + *v + "' must be 1-63 letters, digits, '_', '.' or '-'");
        s.name = *v;
      }
    } else {
      error(n, p + ".name", "required");
    }
    const YAML::Node src = n["source"];
    const std::string sp = p + ".source";
    check_keys(src, sp, {"connection", "tables", "exclude", "table", "query", "columns"});
    for (const char* one : {"table", "query"})
      if (src[one]) error(src[one], sp + "." + one, "give source.tables (names or globs) or source." + std::string(one) + ", not both");
    if (src["columns"])
      error(src["columns"], sp + ".columns", "each table has columns of its own: give source.columns per table in overrides");
    if (auto c = src["connection"]) {
      if (auto v = get_string(c, sp + ".connection")) {
        s.connection = *v;
        check_connection(c, sp + ".connection", *v, cfg);
      }
    } else {
      error(src, sp + ".connection", "required");
    }
    s.tables = read_patterns(src["tables"], sp + ".tables");
    if (auto e = src["exclude"]) s.exclude = read_patterns(e, sp + ".exclude");
    if (auto t = n["name_template"]) {
      if (auto v = get_string(t, p + ".name_template")) {
        if (v->rfind("{pipeline}", 0) != 0)
          error(t, p + ".name_template", "'" + *v + "' must start with {pipeline}, so that every table's state is found "
                                          "under the pipeline's name (e.g. {pipeline}.{table})");
        else if (check_template(t, p + ".name_template", *v, true)) s.name_template = *v;
      }
    }
    const YAML::Node tgt = n["target"];
    if (tgt && tgt.IsMap()) {
      if (auto c = tgt["connection"])
        if (c.IsScalar()) s.target_connection = c.Scalar();
      if (auto t = tgt["table"]) {
        if (auto v = get_string(t, p + ".target.table")) {
          std::string why;
          if (check_template(t, p + ".target.table", *v, true) && !QualifiedName::parse(*v, &why))
            error(t, p + ".target.table", "invalid table name template '" + *v + "': " + why);
        }
      }
    }
    const YAML::Node det = n["detect"];
    if (det && det.IsMap() && det["strategy"] && det["strategy"].IsScalar()) {
      s.strategy = det["strategy"].Scalar();
      if (det["cursor"] && det["cursor"].IsScalar()) s.cursor = det["cursor"].Scalar();
      const Strategy* st = find_strategy(s.strategy);
      if (s.strategy == kAutoStrategy) {
        if (det["cursor"])
          error(det["cursor"], p + ".detect.cursor", "strategy auto chooses each table's cursor; remove detect.cursor "
                                                     "(or name a strategy, e.g. updated_at)");
      } else if (st && (!st->caps().source || st->caps().slot || st->caps().executor != ExecutorKind::kQuery)) {
        error(det["strategy"], p + ".detect.strategy",
              "strategy " + s.strategy + " cannot read source.tables; one of auto, " +
                  spoken_list(query_table_strategies(), "or"));
      }
    }
    if (auto o = n["overrides"]) read_overrides(o, p + ".overrides", s);
    if (errors_.size() != errors_before) return true;
    // The shape of every table's pipeline, checked offline on a stand-in table.
    auto tree = std::make_shared<SelectorTree>();
    tree->node = n;
    tree->path = p;
    tree->file = file_;
    tree->env = env_;
    if (auto o = n["overrides"])
      for (const auto& kv : o) {
        auto q = parse_table_pattern(kv.first.Scalar(), nullptr);
        if (q) tree->overrides[QualifiedName{q->schema, q->table}.quoted()] = kv.second;
      }
    s.tree = tree;
    sample_check(s, p, cfg);
    return true;
  }

  static std::vector<std::string> query_table_strategies() {
    std::vector<std::string> out;
    for (const Strategy* st : all_strategies())
      if (st->caps().source && !st->caps().slot && st->caps().executor == ExecutorKind::kQuery) out.push_back(st->name());
    return out;
  }

  // `overrides: {"public.audit_log": {detect: …, target: …}}`: exact table names.
  void read_overrides(const YAML::Node& n, const std::string& p, SelectorConfig& s) {
    if (!expect_map(n, p)) return;
    check_duplicates(n, p);
    for (const auto& kv : n) {
      const std::string k = key_name(kv.first);
      const std::string kp = p + "." + k;
      std::string why;
      auto t = parse_table_pattern(k, &why);
      if (!t) {
        error(kv.first, kp, "'" + k + "' is not a table name: " + why);
        continue;
      }
      if (!t->schema_exact || !t->table_exact) {
        error(kv.first, kp, "'" + k + "' is a glob; an override names one table (schema.table; quote names with "
                                      "glob characters)");
        continue;
      }
      if (!expect_map(kv.second, kp)) continue;
      check_keys(kv.second, kp, {"name", "source", "detect", "target", "batch_size", "chunk", "reconcile"});
      if (auto src = kv.second["source"])
        if (expect_map(src, kp + ".source")) check_keys(src, kp + ".source", {"columns"});
      if (auto nm = kv.second["name"]) {
        if (auto v = get_string(nm, kp + ".name"))
          if (!valid_pipeline_name(*v)) error(nm, kp + ".name", "'" + *v + "' must be 1-63 letters, digits, '_', '.' or '-'");
      }
      s.overrides.push_back(QualifiedName{t->schema, t->table});
      s.override_locs.push_back({file_, kv.first.Mark().line + 1});
    }
  }

  // Validates the pipeline one table would get (and each override's), on a stand-in table
  // with a stand-in primary key, so a mistake in the shape shows in `validate`.
  void sample_check(const SelectorConfig& s, const std::string& p, const Config& cfg) {
    auto check = [&](const QualifiedName& table, const std::string& path) {
      const YAML::Node base = config::table_base(*s.tree, table);
      const YAML::Node det = base["detect"];
      std::string strategy = det && det.IsMap() && det["strategy"] ? det["strategy"].Scalar() : "";
      const std::string cursor = det && det.IsMap() && det["cursor"] ? det["cursor"].Scalar() : "";
      const bool automatic = strategy == kAutoStrategy;
      if (automatic) strategy = "full";  // any will do: only the fields are checked
      const std::vector<std::string> key = {"id"};  // stands in for the primary key
      YAML::Node node = config::table_node(base, table, s.name, s.name, strategy, cursor, key, false);
      PipelineConfig pc;
      const size_t before = errors_.size();
      read_pipeline(node, path, cfg, pc, !automatic);
      return errors_.size() == before;
    };
    const TablePattern& first = s.tables.front();
    const QualifiedName standin{first.schema_exact ? first.schema : "public", first.table_exact ? first.table : "t"};
    if (!check(standin, p)) return;
    for (size_t i = 0; i < s.overrides.size(); ++i) check(s.overrides[i], p + ".overrides." + s.overrides[i].display());
  }

  // `semantic` false: the fields alone (a selector's stand-in for auto, whose strategy is
  // chosen per table).
  bool read_pipeline(const YAML::Node& n, const std::string& p, const Config& cfg, PipelineConfig& pc,
                     bool semantic = true) {
    if (!expect_map(n, p)) return false;
    const size_t errors_before = errors_.size();
    pc.loc = {file_, n.Mark().line >= 0 ? n.Mark().line + 1 : fallback_line_};
    check_keys(n, p, {"name", "source", "detect", "target", "batch_size", "chunk", "reconcile"});
    if (auto nm = n["name"]) {
      if (auto s = get_string(nm, p + ".name")) {
        if (!valid_pipeline_name(*s))
          error(nm, p + ".name", "'" + *s + "' must be 1-63 letters, digits, '_', '.' or '-'");
        pc.name = *s;
      }
    } else {
      error(n, p + ".name", "required");
    }
    // The strategy from the raw node, as detect is read after source: one without source refuses it.
    const Strategy* named = n["detect"] && n["detect"].IsMap() && n["detect"]["strategy"] &&
                                    n["detect"]["strategy"].IsScalar()
                                ? find_strategy(n["detect"]["strategy"].Scalar())
                                : nullptr;
    if (!named || named->caps().source) read_source(n["source"], p + ".source", n, cfg, pc.source);
    else if (n["source"])
      error(n["source"], p + ".source", "strategy " + named->name() + " reads " + named->caps().reads + "; remove source");
    read_detect(n["detect"], p + ".detect", n, pc.detect);
    read_target(n["target"], p + ".target", n, cfg, pc.target);
    if (auto c = n["chunk"]) {
      if (auto v = get_string(c, p + ".chunk")) pc.chunk = *v;
    }
    if (auto b = n["batch_size"]) {
      if (auto v = get_int(b, p + ".batch_size")) {
        if (*v < 1) error(b, p + ".batch_size", "must be a positive number of rows");
        else if (*v > kMaxBatchSize)  // strategy cdc peeks batch_size changes, an int4 argument
          error(b, p + ".batch_size", "too large: at most " + std::to_string(kMaxBatchSize) + " rows per batch");
        else pc.batch_size = *v;
      }
    }
    if (auto r = n["reconcile"]) read_reconcile(r, p + ".reconcile", pc);
    if (semantic && errors_.size() == errors_before) semantic_checks(n, p, cfg, pc);
    return true;
  }

  void read_source(const YAML::Node& n, const std::string& p, const YAML::Node& parent, const Config& cfg, SourceConfig& s) {
    if (!n) return error(parent, p, "required");
    if (!expect_map(n, p)) return;
    check_keys(n, p, {"connection", "table", "query", "columns"});
    if (auto c = n["connection"]) {
      if (auto v = get_string(c, p + ".connection")) {
        s.connection = *v;
        check_connection(c, p + ".connection", *v, cfg);
      }
    } else {
      error(n, p + ".connection", "required");
    }
    if (n["table"] && n["query"]) error(n["query"], p, "give either table or query, not both");
    else if (auto t = n["table"]) s.table = get_table(t, p + ".table");
    else if (auto q = n["query"]) {
      if (auto v = get_string(q, p + ".query")) {
        std::string trimmed = *v;
        while (!trimmed.empty() && (std::isspace(static_cast<unsigned char>(trimmed.back())) || trimmed.back() == ';'))
          trimmed.pop_back();
        if (trimmed.empty()) error(q, p + ".query", "must not be empty");
        s.query = trimmed;
      }
    } else {
      error(n, p + ".table", "required (or source.query)");
    }
    if (auto c = n["columns"]) s.columns = get_names(c, p + ".columns");
  }

  void read_detect(const YAML::Node& n, const std::string& p, const YAML::Node& parent, DetectConfig& d) {
    if (!n) return error(parent, p, "required");
    if (!expect_map(n, p)) return;
    d.loc = {file_, n.Mark().line + 1};
    check_keys(n, p, {"strategy", "cursor", "lookback", "settle", "null_cursor", "path", "pattern", "exclude", "format",
                      "csv", "ignore_unknown_columns", "date_from_name", "file_column", "on_bad_row", "slot", "soft_delete", "time_zone"});
    if (auto s = n["strategy"]) {
      if (auto v = get_string(s, p + ".strategy")) {
        d.strategy = *v;
        if (!find_strategy(*v))
          error(s, p + ".strategy", "unknown strategy '" + *v + "'" + did_you_mean(*v, strategy_names()) +
                                        "; one of: " + join(strategy_names()));
      }
    } else {
      error(n, p + ".strategy", "required");
    }
    if (auto c = n["cursor"]) {
      if (auto v = get_string(c, p + ".cursor")) d.cursor = *v;
    }
    if (auto l = n["lookback"]) {
      if (auto v = get_string(l, p + ".lookback")) d.lookback = *v;
    }
    if (auto s = n["settle"]) {
      if (auto v = get_string(s, p + ".settle")) {
        auto us = parse_duration_us(*v);
        if (!us) error(s, p + ".settle", "'" + *v + "' is not a duration like 30s, 5m, 1h");
        else d.settle_seconds = *us / 1000000;
      }
    }
    if (auto z = n["time_zone"]) {
      if (auto v = get_string(z, p + ".time_zone")) {
        if (!time_zone_name(*v)) error(z, p + ".time_zone", "'" + *v + "' is not a time zone name like UTC or America/Chicago");
        else d.time_zone = *v;
      }
    }
    if (auto nc = n["null_cursor"]) {
      if (auto v = get_string(nc, p + ".null_cursor")) {
        if (*v == "warn") d.null_cursor = NullCursor::kWarn;
        else if (*v == "include") d.null_cursor = NullCursor::kInclude;
        else error(nc, p + ".null_cursor", "must be warn or include" + did_you_mean(*v, {"warn", "include"}));
      }
    }
    read_files(n, p, d);
    if (auto sd = n["soft_delete"]) read_soft_delete(sd, p + ".soft_delete", d);
    if (auto s = n["slot"]) {
      static const std::regex slot_re("[a-z0-9_]{1,63}");
      if (auto v = get_string(s, p + ".slot")) {
        if (!std::regex_match(*v, slot_re))
          error(s, p + ".slot", "'" + *v + "' must be 1-63 lower-case letters, digits or '_' (a replication slot name)");
        d.slot = *v;
      }
    }
  }

  // detect.soft_delete: {column: deleted_at, mode: delete | mark} (docs/deletes.md).
  void read_soft_delete(const YAML::Node& n, const std::string& p, DetectConfig& d) {
    if (!expect_map(n, p)) return;
    check_keys(n, p, {"column", "mode"});
    SoftDeleteConfig sd;
    if (auto c = n["column"]) {
      if (auto v = get_string(c, p + ".column")) {
        if (v->empty()) error(c, p + ".column", "empty column name");
        sd.column = *v;
      }
    } else {
      error(n, p + ".column", "required (the column that marks a row deleted, e.g. deleted_at or is_deleted)");
    }
    if (auto m = n["mode"]) {
      if (auto v = get_string(m, p + ".mode")) {
        if (*v == "delete") sd.mode = SoftDeleteConfig::Mode::kDelete;
        else if (*v == "mark") sd.mode = SoftDeleteConfig::Mode::kMark;
        else error(m, p + ".mode", "must be delete or mark" + did_you_mean(*v, {"delete", "mark"}));
      }
    }
    d.soft_delete = sd;
  }

  // `reconcile: {every: 24, max_delete_ratio: 0.1}` (docs/deletes.md).
  void read_reconcile(const YAML::Node& n, const std::string& p, PipelineConfig& pc) {
    if (!expect_map(n, p)) return;
    check_keys(n, p, {"every", "max_delete_ratio"});
    ReconcileConfig rc;
    if (auto e = n["every"]) {
      if (auto v = get_int(e, p + ".every")) {
        if (*v < 1) error(e, p + ".every", "must be a positive number of runs");
        else rc.every = *v;
      }
    }
    if (auto r = n["max_delete_ratio"]) {
      static const std::regex ratio_re(R"([0-9]{1,3}(\.[0-9]{1,9})?|\.[0-9]{1,9})");
      if (!r.IsScalar() || quoted(r) || !std::regex_match(r.Scalar(), ratio_re)) {
        error(r, p + ".max_delete_ratio", "must be a number between 0 and 1, e.g. 0.1");
      } else {
        const double v = std::stod(r.Scalar());
        if (v <= 0 || v > 1) error(r, p + ".max_delete_ratio", "must be more than 0 and at most 1, e.g. 0.1");
        else rc.max_delete_ratio = v;
      }
    }
    pc.reconcile = rc;
  }

  // The keys of strategy files; the strategy itself says which apply (strategy/files.cpp).
  void read_files(const YAML::Node& n, const std::string& p, DetectConfig& d) {
    FilesDetect& f = d.files;
    auto text = [&](const char* key, std::string& out) {
      if (auto v = n[key])
        if (auto s = get_string(v, p + "." + key)) out = *s;
    };
    text("path", f.path);
    if (!f.path.empty()) f.path = resolve_path(f.path);  // like state.file: cron's working directory is anywhere
    text("pattern", f.pattern);
    text("date_from_name", f.date_from_name);
    text("file_column", f.file_column);
    if (auto e = n["exclude"]) f.exclude = get_names(e, p + ".exclude");
    if (auto fm = n["format"]) {
      if (auto v = get_string(fm, p + ".format")) {
        f.format = *v;
        if (*v != "csv" && *v != "jsonl")
          error(fm, p + ".format", "must be csv or jsonl" + did_you_mean(*v, {"csv", "jsonl"}));
      }
    }
    if (auto c = n["csv"]) {
      if (expect_map(c, p + ".csv")) {
        check_keys(c, p + ".csv", {"delimiter", "quote", "null"});
        for (const char* key : {"delimiter", "quote"})
          if (auto v = c[key])
            if (auto s = get_string(v, p + ".csv." + key)) {
              std::string one = *s == "\\t" || *s == "tab" ? "\t" : *s;
              if (one.size() != 1 || one == "\n" || one == "\r")
                error(v, p + ".csv." + key, "'" + *s + "' must be one character (tab: \"\\t\")");
              else (std::string(key) == "quote" ? f.quote : f.delimiter) = one;
            }
        for (const auto& kv : c)  // `null:` is a null key to YAML, so c["null"] cannot find it
          if (key_name(kv.first) == "null")
            if (auto s = get_string(kv.second, p + ".csv.null")) f.null_string = *s;
        if (f.delimiter == f.quote) error(c, p + ".csv", "the delimiter and the quote must differ");
      }
    }
    if (auto u = n["ignore_unknown_columns"]) {
      if (auto v = get_string(u, p + ".ignore_unknown_columns")) {
        if (*v == "true" || *v == "false") f.ignore_unknown = *v == "true";
        else error(u, p + ".ignore_unknown_columns", "must be true or false");
      }
    }
    if (auto b = n["on_bad_row"]) {
      if (auto v = get_string(b, p + ".on_bad_row")) {
        if (*v == "fail") f.on_bad_row = BadRows::kFail;
        else if (*v == "quarantine") f.on_bad_row = BadRows::kQuarantine;
        else error(b, p + ".on_bad_row", "must be fail or quarantine" + did_you_mean(*v, {"fail", "quarantine"}));
      }
    }
    if (!f.date_from_name.empty()) {
      try {
        std::regex re(f.date_from_name);
        if (re.mark_count() != 1)
          error(n["date_from_name"], p + ".date_from_name", "needs exactly one capture group, around the date");
      } catch (const std::regex_error& e) {
        error(n["date_from_name"], p + ".date_from_name", std::string("not a valid regular expression: ") + e.what());
      }
    }
  }

  void read_target(const YAML::Node& n, const std::string& p, const YAML::Node& parent, const Config& cfg, TargetConfig& t) {
    if (!n) return error(parent, p, "required");
    if (!expect_map(n, p)) return;
    t.loc = {file_, n.Mark().line + 1};
    check_keys(n, p, {"connection", "table", "key", "write", "create", "on_schema_change", "partition_by", "null_key"});
    if (auto pb = n["partition_by"]) read_partition_by(pb, p + ".partition_by", t);
    if (auto c = n["create"]) {
      if (auto v = get_string(c, p + ".create")) {
        if (*v == "true" || *v == "false") t.create = *v == "true";
        else error(c, p + ".create", "must be true or false");
      }
    }
    if (auto o = n["on_schema_change"]) {
      static const std::vector<std::string> modes = {"fail", "append_new_columns", "sync_all_columns", "ignore"};
      if (auto v = get_string(o, p + ".on_schema_change")) {
        const auto it = std::find(modes.begin(), modes.end(), *v);
        if (it == modes.end())
          error(o, p + ".on_schema_change", "must be one of fail, append_new_columns, sync_all_columns, ignore" +
                                                did_you_mean(*v, modes));
        else t.on_schema_change = static_cast<SchemaChange>(it - modes.begin());
      }
    }
    if (auto nk = n["null_key"]) {
      if (auto v = get_string(nk, p + ".null_key")) {
        if (*v == "fail") t.null_key = NullKey::kFail;
        else if (*v == "skip") t.null_key = NullKey::kSkip;
        else error(nk, p + ".null_key", "must be fail or skip" + did_you_mean(*v, {"fail", "skip"}));
      }
    }
    if (auto c = n["connection"]) {
      if (auto v = get_string(c, p + ".connection")) {
        t.connection = *v;
        check_connection(c, p + ".connection", *v, cfg);
      }
    } else {
      error(n, p + ".connection", "required");
    }
    if (auto tb = n["table"]) {
      if (auto q = get_table(tb, p + ".table")) t.table = *q;
    } else {
      error(n, p + ".table", "required");
    }
    if (auto k = n["key"]) t.key = get_names(k, p + ".key");
    if (auto w = n["write"]) {
      if (auto v = get_string(w, p + ".write")) {
        t.write = *v;
        if (!find_writer(*v))
          error(w, p + ".write", "unknown write mode '" + *v + "'" + did_you_mean(*v, writer_names()) +
                                     "; one of: " + join(writer_names()));
      }
    }
  }

  void read_partition_by(const YAML::Node& n, const std::string& p, TargetConfig& t) {
    if (!expect_map(n, p)) return;
    check_keys(n, p, {"column", "granularity", "time_zone"});
    PartitionBy pb;
    if (auto c = n["column"]) {
      if (auto v = get_string(c, p + ".column")) pb.column = *v;
    } else {
      error(n, p + ".column", "required (the column whose windows are replaced)");
    }
    static const std::vector<std::string> grains = {"day", "month", "value"};
    if (auto g = n["granularity"]) {
      if (auto v = get_string(g, p + ".granularity")) {
        const auto it = std::find(grains.begin(), grains.end(), *v);
        if (it == grains.end()) error(g, p + ".granularity", "must be day, month or value" + did_you_mean(*v, grains));
        else pb.granularity = static_cast<PartitionBy::Granularity>(it - grains.begin());
      }
    } else {
      error(n, p + ".granularity", "required: day, month, or value (each value of the column is a window)");
    }
    if (auto z = n["time_zone"]) {
      if (auto v = get_string(z, p + ".time_zone")) {
        if (!time_zone_name(*v)) error(z, p + ".time_zone", "'" + *v + "' is not a time zone name like UTC or Europe/Berlin");
        else pb.time_zone = *v;
      }
    }
    t.partition_by = pb;
  }

  static std::string state_in_target_fix(const Config& cfg) {
    return cfg.state.file.empty() ? "state.connection must be the target's connection"
                                  : "the state must be in the target database; remove state.file";
  }

  // Cross-field rules, once every field parsed cleanly; the strategy and the write mode
  // each state their own requirements.
  void semantic_checks(const YAML::Node& n, const std::string& p, const Config& cfg, PipelineConfig& pc) {
    const Strategy& strategy = *find_strategy(pc.detect.strategy);
    if (pc.target.write.empty()) pc.target.write = strategy.default_write();
    const Writer& writer = *find_writer(pc.target.write);
    auto report = [&](const std::string& field, const std::string& what) {
      YAML::Node at = n;
      const size_t dot = field.find('.');
      std::string rel = field.substr(0, dot);
      // reset(), not =: assigning to a yaml-cpp node that aliases the tree rewrites the tree.
      if (n[rel]) at.reset(n[rel]);
      if (dot != std::string::npos && n[rel] && n[rel].IsMap() && n[rel][field.substr(dot + 1)])
        at.reset(n[rel][field.substr(dot + 1)]);
      error(at, p + "." + field, what);
    };
    const StrategyCaps& caps = strategy.caps();
    for (const auto& [field, what] : strategy.check(pc)) report(field, what);
    if (caps.write_rules)
      for (const auto& [field, what] : writer.check(pc, cfg.state_with_target(pc))) report(field, what);
    for (const Strategy* other : all_strategies())
      if (other != &strategy)
        for (const auto& key : other->caps().detect_keys)
          if (n["detect"][key]) report("detect." + key, "only for strategy " + other->name());
    if (caps.state_with_data && !cfg.state_with_target(pc))
      report("target.connection", "strategy " + strategy.name() + " keeps its " + caps.progress +
                                      " with the data: " + state_in_target_fix(cfg));
    if (!cfg.state.file.empty()) {
      if (!pc.chunk.empty())
        report("chunk", "chunked backfills record their chunks in the state schema; with state.file a range run is "
                        "one transaction: remove chunk");
      if (pc.reconcile)
        report("reconcile", "counts runs in the state schema's run history, which state.file does not keep; remove "
                            "reconcile or state.file");
    }
    const auto& cols = pc.source.columns;
    if (!cols.empty()) {
      auto in_cols = [&](const std::string& c) { return std::find(cols.begin(), cols.end(), c) != cols.end(); };
      if (!pc.detect.cursor.empty() && !in_cols(pc.detect.cursor))
        report("source.columns", "the cursor column '" + pc.detect.cursor + "' must be among the columns");
      for (const auto& k : pc.target.key)
        if (!in_cols(k)) report("source.columns", "the key column '" + k + "' must be among the columns");
    }
    if (pc.target.partition_by) {
      if (!writer.caps().by_window)
        report("target.partition_by", "only for write " + spoken_list(writers_with(&WriterCaps::by_window), "or") +
                                          " (write is " + pc.target.write + ")");
      else if (!cols.empty() && std::find(cols.begin(), cols.end(), pc.target.partition_by->column) == cols.end())
        report("source.columns", "the partition_by column '" + pc.target.partition_by->column + "' must be among the columns");
    }
    delete_checks(pc, strategy, writer, report);
  }

  // detect.soft_delete and reconcile (docs/deletes.md): both follow keys of watermark pipelines.
  template <typename Report>
  static void delete_checks(const PipelineConfig& pc, const Strategy& strategy, const Writer& writer,
                            const Report& report) {
    // Why a strategy that replaces the target needs neither.
    const std::string replaces =
        strategy.caps().replaces_target ? " (strategy " + strategy.name() + " replaces the target every run)" : "";
    if (const auto& sd = pc.detect.soft_delete) {
      const auto& cols = pc.source.columns;
      const auto& key = pc.target.key;
      if (!strategy.caps().soft_delete)
        report("detect.soft_delete", "only for " + strategies_text(&StrategyCaps::soft_delete) + replaces);
      else if (key.empty())
        report("detect.soft_delete", "needs target.key, the key of the target row a deleted source row removes");
      else if (!cols.empty() && std::find(cols.begin(), cols.end(), sd->column) == cols.end())
        report("source.columns", "the soft_delete column '" + sd->column + "' must be among the columns");
      else if (sd->column == pc.detect.cursor || std::find(key.begin(), key.end(), sd->column) != key.end())
        report("detect.soft_delete", "the column '" + sd->column + "' is the cursor or a key column; name the column that marks a row deleted");
      else if (sd->mode == SoftDeleteConfig::Mode::kMark && !writer.caps().rewrites_rows)
        report("detect.soft_delete", "mode mark needs a write mode that updates rows (upsert or delete_insert): " +
                                         writer.name() + " never rewrites a row, so the target would not show the deletion");
    }
    if (pc.reconcile) {
      if (!strategy.caps().reconcile)
        report("reconcile", "only for " + strategies_text(&StrategyCaps::reconcile) + replaces);
      else if (pc.target.key.empty())
        report("reconcile", "needs target.key, the columns whose sets are compared");
    }
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }
};

}  // namespace

Config parse_config(const std::string& text, const std::string& name) { return parse_config(text, name, EnvLookup()); }

Config parse_config(const std::string& text, const std::string& name, const EnvLookup& env) {
  YAML::Node root = config::read_document(text, name);
  return Validator(name, env).run(root);
}

namespace config {

PipelineConfig validate_pipeline_node(const YAML::Node& n, const std::string& path, int fallback_line, const Config& cfg,
                                      const EnvLookup& env) {
  return Validator(cfg.path, env, fallback_line).pipeline(n, path, cfg);
}

YAML::Node deep_merge(const YAML::Node& over, const YAML::Node& base) {
  if (!over) return base;
  if (!base || !over.IsMap() || !base.IsMap()) return over;
  YAML::Node out(YAML::NodeType::Map);
  // Keys as written, in the order of `over` then `base`; values shared (with their lines).
  // force_insert keeps the key nodes themselves, so "unknown key" still names their lines.
  for (const auto& kv : over) {
    const std::string k = kv.first.IsNull() ? "null" : kv.first.Scalar();
    out.force_insert(kv.first, base[k] ? deep_merge(kv.second, base[k]) : kv.second);
  }
  for (const auto& kv : base) {
    const std::string k = kv.first.IsNull() ? "null" : kv.first.Scalar();
    if (!over[k]) out.force_insert(kv.first, kv.second);
  }
  return out;
}

}  // namespace config

bool valid_pipeline_name(const std::string& name) {
  static const std::regex name_re(R"([A-Za-z0-9_][A-Za-z0-9_.\-]{0,62})");
  return std::regex_match(name, name_re);
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

const PipelineConfig* Config::find(const std::string& name) const {
  for (const auto& p : pipelines)
    if (p.name == name) return &p;
  return nullptr;
}

const std::string& Config::state_connection(const PipelineConfig& p) const {
  return state.connection.empty() ? p.target.connection : state.connection;
}

bool Config::state_with_target(const PipelineConfig& p) const {
  if (!state.file.empty()) return false;
  if (state.connection.empty() || state.connection == p.target.connection) return true;
  // Two names for the same DSN are the same database.
  auto a = connections.find(state.connection), b = connections.find(p.target.connection);
  return a != connections.end() && b != connections.end() && a->second == b->second;
}

}  // namespace tidemark
