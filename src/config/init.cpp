// `tidemark init`: a commented config for one source table, with the strategy that fits it.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/inspect.hpp"

namespace tidemark {
namespace {

bool is_time(const std::string& type) { return type.rfind("timestamp", 0) == 0; }
bool is_int(const std::string& type) { return type == "bigint" || type == "integer" || type == "smallint"; }

int modified_score(const std::string& name) { return last_modified_score(name); }

// A value from the catalog as a YAML scalar the validator reads back unchanged: `$` doubled
// (the validator expands ${VAR} in every string), and quoted unless it is a plain word
// no YAML reader would take for anything else (true, null, 12, a: b, - x, ...).
void scalar(YAML::Emitter& out, const std::string& v) {
  std::string text;
  for (char ch : v) text += ch == '$' ? std::string("$$") : std::string(1, ch);
  bool plain = !text.empty() && (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_');
  for (char ch : text) plain = plain && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.');
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* word : {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}) plain = plain && lower != word;
  // Single quotes keep names with double quotes readable ('"Sales EU"."Order ""Lines"""');
  // control characters need the escapes of double quotes.
  const bool control = std::any_of(text.begin(), text.end(), [](char ch) {
    return static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) == 0x7f;
  });
  if (plain) out << text;
  else if (!control) out << YAML::SingleQuoted << text;
  else out << YAML::DoubleQuoted << text;
}

// Comment text on one line: control characters and the line breaks of YAML 1.1 shown escaped.
std::string one_line(const std::string& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(v[i]);
    char buf[8];
    if (ch == '\n') out += "\\n";
    else if (ch < 0x20 || ch == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else if (ch == 0xc2 && i + 1 < v.size() && static_cast<unsigned char>(v[i + 1]) == 0x85) {
      out += "\\u0085";
      ++i;
    } else if (ch == 0xe2 && i + 2 < v.size() && static_cast<unsigned char>(v[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(v[i + 2]) == 0xa8 || static_cast<unsigned char>(v[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(v[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// The safety net: the generated text must validate and read back as what it was made from.
void check_generated(const std::string& text, const InspectedTable& t, const std::string& name,
                     const QualifiedName& target, const std::string& cursor) {
  // Stand-ins for the two connection strings the output leaves to the environment; any other
  // ${...} would be a quoting bug and is reported as unset.
  const EnvLookup env = [](const std::string& var) -> std::optional<std::string> {
    if (var == "SOURCE_DSN" || var == "WAREHOUSE_DSN") return std::string("dbname=tidemark_init_check");
    return std::nullopt;
  };
  std::string problem;
  try {
    const Config cfg = parse_config(text, "(init output)", env);
    const PipelineConfig& p = cfg.pipelines.at(0);
    auto same = [](const QualifiedName& a, const QualifiedName& b) { return a.schema == b.schema && a.name == b.name; };
    if (p.name != name) problem = "the pipeline name reads back as '" + p.name + "'";
    else if (!p.source.table || !same(*p.source.table, t.table)) problem = "source.table does not read back as " + t.table.display();
    else if (!same(p.target.table, target)) problem = "target.table does not read back as " + target.display();
    else if (p.detect.cursor != cursor) problem = "detect.cursor does not read back as " + cursor;
    else if (p.target.key != t.primary_key) problem = "target.key does not read back as the primary key";
  } catch (const ConfigError& e) {
    problem = e.what();
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (!problem.empty())
    throw RunError("init: the config made for " + t.table.display() +
                   " would not pass `tidemark validate`, so none was printed (a tidemark bug; please report it): " + problem);
}

}  // namespace

int last_modified_score(const std::string& name) {
  std::string n;
  for (char ch : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* exact : {"updated_at", "modified_at", "last_modified", "updated", "modified", "changed_at", "last_update"})
    if (n == exact) return 2;
  return n.find("updat") != std::string::npos || n.find("modif") != std::string::npos ? 1 : 0;
}

std::string rows_text(const InspectedTable& t) {
  if (t.estimated_rows < 0) return "an unknown number of rows" + std::string(t.analysed ? "" : " (not yet analysed)");
  if (t.rows_exact) return std::to_string(t.estimated_rows) + (t.estimated_rows == 1 ? " row" : " rows");
  return "about " + std::to_string(t.estimated_rows) + " rows" +
         (t.analysed ? "" : " (the planner's estimate from its size: the table has not been analysed yet)");
}

std::string default_pipeline_name(const QualifiedName& table) {
  std::string out;
  bool gap = false;
  for (char ch : table.name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
    if (!ok) {
      gap = true;
      continue;
    }
    if (gap && !out.empty()) out += '_';
    gap = false;
    out += ch;
  }
  const size_t first = out.find_first_not_of(".-");
  out = first == std::string::npos ? "" : out.substr(first);
  if (out.size() > 63) out.resize(63);
  return out.empty() ? "pipeline" : out;
}

std::string init_config(const InspectedTable& t, const std::string& name, const QualifiedName& target) {
  if (!valid_pipeline_name(name))
    throw ConfigError("pipeline name '" + name + "' must be 1-63 letters, digits, '_', '.' or '-' (not starting with '.' or '-')");
  const InspectedColumn* cursor = nullptr;
  for (const auto& c : t.columns)
    if (is_time(c.type) && modified_score(c.name) > 0 && (!cursor || modified_score(c.name) > modified_score(cursor->name)))
      cursor = &c;
  const InspectedColumn* id = nullptr;
  if (t.primary_key.size() == 1)
    for (const auto& c : t.columns)
      if (c.name == t.primary_key[0] && is_int(c.type) && c.default_expr.rfind("nextval(", 0) == 0) id = &c;

  std::string strategy = "full";
  const InspectedColumn* chosen = nullptr;  // the cursor column of the chosen strategy
  std::ostringstream why;
  std::vector<std::string> warnings;
  const bool small = t.estimated_rows >= 0 && t.estimated_rows < kSmallTable;
  if (small) {
    why << rows_text(t) << ": reloading it whole each run is as cheap as tracking changes";
  } else if (cursor && !t.primary_key.empty()) {
    strategy = "updated_at";
    chosen = cursor;
    why << cursor->name << " (" << cursor->type << ") looks like a last-modified time";
    if (!cursor->indexed)
      warnings.push_back("no index leads with " + cursor->name + ", so each run scans the table: CREATE INDEX ON " +
                         t.table.quoted() + " (" + quote_ident(cursor->name) + ");");
    if (cursor->default_expr.find("now()") == std::string::npos &&
        cursor->default_expr.find("CURRENT_TIMESTAMP") == std::string::npos)
      warnings.push_back(cursor->name + " has no DEFAULT now(): if the application writes it, clocks can disagree; "
                                        "consider detect.lookback: 5m");
    if (!cursor->not_null) warnings.push_back(cursor->name + " may be NULL: such rows are not loaded (see detect.null_cursor)");
  } else if (id) {
    strategy = "id";
    chosen = id;
    why << id->name << " comes from a sequence: only new rows are read (updates and deletes are not seen; see "
                       "strategy updated_at or cdc)";
  } else {
    why << "no last-modified column and no sequence key: only a full reload sees every change";
  }
  if (t.primary_key.empty())
    warnings.push_back("the table has no primary key: upserts need target.key; name the columns that identify a row");

  // yaml-cpp's emitter does the quoting; the comments are the ones a reader needs, each
  // line made safe on its own (a catalog name may hold a line break).
  std::vector<std::string> lines = {"Generated by `tidemark init` from " + t.table.display() + ": " +
                                        std::to_string(t.columns.size()) + " column(s), " + rows_text(t) + ".",
                                    "Strategy: " + why.str() + "."};
  for (const auto& w : warnings) lines.push_back("Note: " + w);
  lines.push_back("Check it with `tidemark validate -c FILE`, preview with `tidemark plan -c FILE`.");
  std::string intro;
  for (const auto& l : lines) intro += (intro.empty() ? "" : "\n") + one_line(l);
  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::Comment(intro);
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "connections" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "source" << YAML::Value << YAML::DoubleQuoted << "${SOURCE_DSN}"
      << YAML::Comment("a libpq connection string; keep passwords in ~/.pgpass");
  out << YAML::Key << "warehouse" << YAML::Value << YAML::DoubleQuoted << "${WAREHOUSE_DSN}";
  out << YAML::EndMap;
  out << YAML::Key << "pipelines" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  scalar(out, name);
  out << YAML::Key << "source" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "connection" << YAML::Value
      << "source" << YAML::Key << "table" << YAML::Value;
  scalar(out, t.table.display());
  out << YAML::EndMap;
  out << YAML::Key << "detect" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "strategy" << YAML::Value
      << strategy;
  if (chosen) {
    out << YAML::Key << "cursor" << YAML::Value;
    scalar(out, chosen->name);
  }
  out << YAML::EndMap;
  out << YAML::Key << "target" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "connection" << YAML::Value << "warehouse";
  out << YAML::Key << "table" << YAML::Value;
  scalar(out, target.display());
  if (!t.primary_key.empty()) {
    out << YAML::Key << "key" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& k : t.primary_key) scalar(out, k);
    out << YAML::EndSeq;
  }
  out << YAML::Key << "create" << YAML::Value << true
      << YAML::Comment("creates the table (and its schema) from the source's columns on the first run");
  out << YAML::Key << "on_schema_change" << YAML::Value << "append_new_columns";
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  if (!out.good()) throw RunError("init: the YAML emitter failed: " + out.GetLastError());
  std::string text = std::string(out.c_str()) + "\n";
  check_generated(text, t, name, target, chosen ? chosen->name : "");
  return text;
}

}  // namespace tidemark
