// The identity of a pipeline's state (tidemark/identity.hpp): its stored form, the comparison a
// run makes before it writes anything, and the messages of a refusal (pure).
#include "tidemark/identity.hpp"

#include <cctype>
#include <initializer_list>
#include <memory>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_util.hpp"

namespace tidemark {

using nlohmann::json;

bool DatabaseIdentity::same_as(const DatabaseIdentity& o) const {
  return name == o.name && (system.empty() || o.system.empty() || system == o.system);
}

std::string DatabaseIdentity::text() const {
  return "database " + name + (system.empty() ? "" : " (system " + system + ")");
}

namespace {

json database_json(const DatabaseIdentity& d) {
  json j = {{"database", d.name}};
  if (!d.system.empty()) j["system_identifier"] = d.system;
  return j;
}

struct Reader {
  const json& obj;
  std::string at;
  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    throw RunError("'" + at + "." + key + "' " + what);
  }
  void object() const {
    if (!obj.is_object()) throw RunError("'" + at + "' must be an object");
  }
  void only(std::initializer_list<const char*> keys) const {
    for (const auto& kv : obj.items()) {
      bool known = false;
      for (const char* k : keys) known = known || kv.key() == k;
      if (!known) bad(kv.key(), "is not a field of a state identity");
    }
  }
  std::string text(const char* key, bool required) const {
    if (!obj.contains(key) || obj.at(key).is_null()) {
      if (required) bad(key, "is missing");
      return {};
    }
    if (!obj.at(key).is_string()) bad(key, "must be a string");
    return obj.at(key).get<std::string>();
  }
};

DatabaseIdentity database_from(const Reader& r) {
  DatabaseIdentity d;
  d.name = r.text("database", true);
  d.system = r.text("system_identifier", false);
  return d;
}

std::string source_text(const StateIdentity& id) {
  return id.source_table.empty() ? "query " + id.source_query.substr(0, 19) : id.source_table;
}

}  // namespace

json StateIdentity::to_json() const {
  json src = database_json(source_database);
  if (!source_table.empty()) src["table"] = source_table;
  if (!source_query.empty()) src["query"] = source_query;
  json tgt = database_json(target_database);
  tgt["table"] = target_table;
  return {{"source", src}, {"target", tgt}, {"cursor", cursor}};
}

StateIdentity StateIdentity::from_json(const json& j, const std::string& where) {
  const Reader top{j, where};
  top.object();
  top.only({"source", "target", "cursor"});
  if (!j.contains("source")) top.bad("source", "is missing");
  if (!j.contains("target")) top.bad("target", "is missing");
  const Reader src{j.at("source"), where + ".source"}, tgt{j.at("target"), where + ".target"};
  src.object();
  tgt.object();
  src.only({"database", "system_identifier", "table", "query"});
  tgt.only({"database", "system_identifier", "table"});
  StateIdentity id;
  id.source_database = database_from(src);
  id.source_table = src.text("table", false);
  id.source_query = src.text("query", false);
  if (id.source_table.empty() == id.source_query.empty()) src.bad("table", "or 'query' is required, not both");
  id.target_database = database_from(tgt);
  id.target_table = tgt.text("table", true);
  id.cursor = top.text("cursor", false);
  return id;
}

std::string StateIdentity::text() const {
  return source_text(*this) + " in database " + source_database.name + " -> " + target_table + " in database " +
         target_database.name + (cursor.empty() ? "" : ", cursor " + cursor);
}

std::vector<std::string> identity_differences(const StateIdentity& a, const StateIdentity& b,
                                              bool compare_target_database) {
  std::vector<std::string> out;
  auto differ = [&out](const std::string& what, const std::string& x, const std::string& y) {
    if (x != y) out.push_back(what + ": " + (x.empty() ? "-" : x) + " -> " + (y.empty() ? "-" : y));
  };
  auto databases = [&](const std::string& side, const DatabaseIdentity& x, const DatabaseIdentity& y) {
    differ(side + " database", x.name, y.name);
    if (!x.system.empty() && !y.system.empty()) differ(side + " server (system identifier)", x.system, y.system);
  };
  databases("source", a.source_database, b.source_database);
  if (a.source_table.empty() != b.source_table.empty())
    differ("source", source_text(a), source_text(b));
  else if (!a.source_table.empty())
    differ("source table", a.source_table, b.source_table);
  else
    differ("source query", a.source_query, b.source_query);
  if (compare_target_database) databases("target", a.target_database, b.target_database);
  differ("target table", a.target_table, b.target_table);
  differ("cursor", a.cursor, b.cursor);
  return out;
}

std::string query_fingerprint(const std::string& query) {
  std::string norm;
  bool space = false;
  for (char c : query) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !norm.empty()) norm += ' ';
    space = false;
    norm += c;
  }
  while (!norm.empty() && (norm.back() == ';' || norm.back() == ' ')) norm.pop_back();
  return "sha256:" + sha256_hex(norm);
}

IdentityVerdict judge_identity(const PipelineConfig& p, const std::optional<StateIdentity>& stored,
                               const StateIdentity& now, bool full_refresh, bool compare_target_database,
                               const std::string& config_path) {
  if (!stored) return IdentityVerdict::kAdoptLegacy;
  const std::vector<std::string> diff = identity_differences(*stored, now, compare_target_database);
  if (diff.empty()) return IdentityVerdict::kSame;
  if (full_refresh) return IdentityVerdict::kReplace;
  std::string what;
  for (const auto& d : diff) what += (what.empty() ? "" : "; ") + d;
  const std::string c = config_path.empty() ? "" : " -c " + config_path;
  throw ConfigError(
      "pipeline " + p.name + ": the stored state of this name is not this pipeline's, so it is not used and nothing "
      "was written. Stored: " + stored->text() + ". This config: " + now.text() + ". Differs: " + what +
      ". Ways out: if another config uses the name " + p.name +
      " in this state store, give this pipeline a name of its own (or each config a state.schema of its own); "
      "to start over under this config, `tidemark run" + c + " --full-refresh " + p.name +
      "` (the stored watermark is replaced, and a config that still uses it will refuse to run); if this is the same "
      "data under a new description (a renamed table or database, a restored or upgraded server, an edited query), "
      "`tidemark state adopt" + c + " " + p.name + "` keeps the watermark");
}

std::optional<std::string> same_table_problem(const PipelineConfig& p, const StateIdentity& now) {
  if (now.source_table.empty() || now.source_table != now.target_table ||
      !now.source_database.same_as(now.target_database))
    return std::nullopt;
  return "pipeline " + p.name + ": its source and target are the same table, " + now.target_table + " in " +
         now.target_database.text() + ": a run would read and overwrite the same rows (a full refresh would empty "
         "it); point target.table at another table";
}

}  // namespace tidemark
