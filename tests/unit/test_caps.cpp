// Strategies and write modes declare what they can do (StrategyCaps, WriterCaps), and the
// validator, advise, the schema and the CLI follow those declarations, never a name. The tables
// below pin the declarations, so that a change of capability is a deliberate, visible edit.
#include <catch2/catch.hpp>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/inspect.hpp"
#include "tidemark/strategy.hpp"
#include "tidemark/util.hpp"
#include "tidemark/writer.hpp"
#include "unit/config_error.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

std::string caps_text(const StrategyCaps& c) {
  static const char* executors[] = {"query", "files", "cdc"};
  static const char* bounds[] = {"none", "integer", "timestamp", "file_time"};
  std::string out = std::string(executors[static_cast<int>(c.executor)]) + " bounds=" + bounds[static_cast<int>(c.bounds)];
  const std::pair<const char*, bool> flags[] = {
      {"cursor", c.cursor},           {"range", c.range},
      {"immutable_cursor", c.immutable_cursor}, {"chunked_backfill", c.chunked_backfill},
      {"reconcile", c.reconcile},     {"soft_delete", c.soft_delete},
      {"partition_windows", c.partition_windows}, {"replaces_target", c.replaces_target},
      {"source", c.source},           {"verify", c.verify},
      {"state_with_data", c.state_with_data}, {"slot", c.slot},
      {"manifest", c.manifest},       {"per_unit_commits", c.per_unit_commits},
      {"write_rules", c.write_rules}};
  for (const auto& [name, on] : flags)
    if (on) out += std::string(" ") + name;
  if (!c.detect_keys.empty()) {
    std::string keys;
    for (const auto& k : c.detect_keys) keys += (keys.empty() ? "" : ",") + k;
    out += " keys=" + keys;
  }
  if (!c.reads.empty()) out += " reads='" + c.reads + "'";
  if (!c.progress.empty()) out += " progress='" + c.progress + "'";
  return out;
}

std::string caps_text(const WriterCaps& c) {
  std::string out;
  const std::pair<const char*, bool> flags[] = {{"needs_unique_key", c.needs_unique_key},
                                                {"rewrites_rows", c.rewrites_rows},
                                                {"by_window", c.by_window},
                                                {"replaces_all", c.replaces_all}};
  for (const auto& [name, on] : flags)
    if (on) out += (out.empty() ? "" : " ") + std::string(name);
  return out;
}

const Strategy& strategy(const std::string& name) {
  const Strategy* s = find_strategy(name);
  REQUIRE(s != nullptr);
  return *s;
}

std::string config_error(const std::string& text) { return tmtest::config_error_in(text, "p.yaml"); }

// A valid one-pipeline config of `name`, with extra detect keys, target keys, pipeline keys and
// top-level keys spliced in.
std::string pipeline(const std::string& name, const std::string& detect = "", const std::string& target = "",
                     const std::string& extra = "", const std::string& top = "") {
  const Strategy& s = strategy(name);
  std::string d = "strategy: " + name;
  if (s.caps().cursor) d += ", cursor: " + std::string(s.caps().bounds == StrategyCaps::Bounds::kInteger ? "id" : "updated_at");
  if (!s.caps().source) d += ", path: /landing";
  return "connections: {db: 'host=a'}\n" + top + "pipelines:\n  - name: p\n" +
         (s.caps().source ? "    source: {connection: db, table: public.t}\n" : "") + "    detect: {" + d + detect +
         "}\n    target: {connection: db, table: public.u, key: [id]" + target + "}\n" + extra;
}

// A value each strategy-specific detect key parses with.
const std::map<std::string, std::string> kDetectValues = {
    {"path", "/x"},         {"pattern", "'*.csv'"}, {"exclude", "'*.tmp'"},  {"format", "csv"},
    {"csv", "{delimiter: ';'}"}, {"ignore_unknown_columns", "true"}, {"date_from_name", "'(\\d{8})'"},
    {"file_column", "f"},   {"on_bad_row", "fail"}, {"slot", "s1"}};

}  // namespace

TEST_CASE("caps: the five strategies declare these capabilities", "[unit][caps]") {
  CHECK(strategy_names() == std::vector<std::string>{"id", "updated_at", "full", "files", "cdc"});
  CHECK(caps_text(strategy("id").caps()) ==
        "query bounds=integer cursor range immutable_cursor chunked_backfill reconcile soft_delete partition_windows "
        "source verify write_rules");
  CHECK(caps_text(strategy("updated_at").caps()) ==
        "query bounds=timestamp cursor range chunked_backfill reconcile soft_delete partition_windows source verify "
        "write_rules");
  CHECK(caps_text(strategy("full").caps()) == "query bounds=none replaces_target source verify write_rules");
  CHECK(caps_text(strategy("files").caps()) ==
        "files bounds=file_time range state_with_data manifest per_unit_commits "
        "keys=path,pattern,exclude,format,csv,ignore_unknown_columns,date_from_name,file_column,on_bad_row "
        "reads='the directory in detect.path' progress='manifest'");
  CHECK(caps_text(strategy("cdc").caps()) ==
        "cdc bounds=none source verify state_with_data slot per_unit_commits write_rules keys=slot "
        "progress='slot position'");
  for (const Strategy* s : all_strategies()) {
    INFO(s->name());
    CHECK(s->has_cursor() == s->caps().cursor);
    CHECK(s->has_range() == s->caps().range);
    CHECK(find_writer(s->default_write()) != nullptr);
  }
}

TEST_CASE("caps: the five write modes declare these capabilities", "[unit][caps]") {
  CHECK(writer_names() == std::vector<std::string>{"upsert", "delete_insert", "append", "full_refresh", "partition_overwrite"});
  const std::map<std::string, std::string> expected = {{"upsert", "needs_unique_key rewrites_rows"},
                                                       {"delete_insert", "rewrites_rows"},
                                                       {"append", ""},
                                                       {"full_refresh", "rewrites_rows replaces_all"},
                                                       {"partition_overwrite", "rewrites_rows by_window"}};
  for (const Writer* w : all_writers()) {
    INFO(w->name());
    CHECK(caps_text(w->caps()) == expected.at(w->name()));
  }
}

TEST_CASE("caps: messages name the strategies that have a capability, as a phrase", "[unit][caps]") {
  CHECK(strategies_with(&StrategyCaps::reconcile) == std::vector<std::string>{"id", "updated_at"});
  CHECK(strategies_text(&StrategyCaps::reconcile) == "strategies id and updated_at");
  CHECK(strategies_text(&StrategyCaps::replaces_target) == "strategy full");
  CHECK(writers_with(&WriterCaps::by_window) == std::vector<std::string>{"partition_overwrite"});
  CHECK(spoken_list({}) == "");
  CHECK(spoken_list({"a"}) == "a");
  CHECK(spoken_list({"a", "b"}, "or") == "a or b");
  CHECK(spoken_list({"a", "b", "c"}) == "a, b and c");
}

TEST_CASE("caps: every strategy's minimal config is valid (the base of the rule tests below)", "[unit][caps]") {
  for (const auto& name : strategy_names()) {
    INFO(name);
    CHECK(config_error(pipeline(name)) == "<no ConfigError>");
  }
}

TEST_CASE("caps: a strategy-specific detect key is refused on every other strategy, naming its owner",
          "[unit][caps][config]") {
  for (const Strategy* owner : all_strategies())
    for (const auto& key : owner->caps().detect_keys) {
      REQUIRE(kDetectValues.count(key));
      for (const Strategy* other : all_strategies()) {
        if (other == owner) continue;
        INFO(key << " on " << other->name());
        CHECK_THAT(config_error(pipeline(other->name(), ", " + key + ": " + kDetectValues.at(key))),
                   Contains("pipelines[0].detect." + key + ": only for strategy " + owner->name()));
      }
    }
}

TEST_CASE("caps: a strategy without source refuses one; one that keeps its progress with the data needs its state "
          "there",
          "[unit][caps][config]") {
  for (const Strategy* s : all_strategies()) {
    INFO(s->name());
    const std::string elsewhere = config_error(pipeline(s->name(), "", "", "", "state: {file: s.json}\n"));
    const std::string needs = "pipelines[0].target.connection: strategy " + s->name() + " keeps its " +
                              s->caps().progress + " with the data: the state must be in the target database; "
                              "remove state.file";
    if (s->caps().state_with_data) CHECK_THAT(elsewhere, Contains(needs));
    else CHECK(elsewhere == "<no ConfigError>");
    if (!s->caps().source) {
      std::string with_source = pipeline(s->name());
      with_source.replace(with_source.find("    detect:"), 0, "    source: {connection: db, table: public.t}\n");
      CHECK_THAT(config_error(with_source),
                 Contains("pipelines[0].source: strategy " + s->name() + " reads " + s->caps().reads +
                          "; remove source"));
    }
  }
}

TEST_CASE("caps: soft_delete, reconcile, partition_overwrite and full_refresh follow the strategy's capabilities",
          "[unit][caps][config]") {
  for (const Strategy* s : all_strategies()) {
    INFO(s->name());
    const std::string full = s->caps().replaces_target ? " (strategy full replaces the target every run)" : "";
    const std::string soft = config_error(pipeline(s->name(), ", soft_delete: {column: deleted_at}"));
    const std::string rec = config_error(pipeline(s->name(), "", "", "    reconcile: {every: 3}\n"));
    if (s->caps().soft_delete) {
      CHECK(soft == "<no ConfigError>");
      CHECK(rec == "<no ConfigError>");
    } else {
      CHECK_THAT(soft, Contains("detect.soft_delete: only for strategies id and updated_at" + full));
      CHECK_THAT(rec, Contains("reconcile: only for strategies id and updated_at" + full));
    }
    const std::string windows = config_error(
        pipeline(s->name(), "", ", write: partition_overwrite, partition_by: {column: day, granularity: day}"));
    if (s->caps().partition_windows) CHECK(windows == "<no ConfigError>");
    else if (s->caps().write_rules)
      CHECK_THAT(windows, Contains("partition_overwrite works with strategies id and updated_at, not " + s->name()));
    const std::string refresh = config_error(pipeline(s->name(), "", ", write: full_refresh"));
    if (s->caps().replaces_target) CHECK(refresh == "<no ConfigError>");
    else if (s->caps().write_rules)
      CHECK_THAT(refresh, Contains("target.write: full_refresh belongs to strategy full; for an incremental pipeline "
                                   "run `tidemark run --full-refresh`"));
  }
}

TEST_CASE("caps: target.partition_by belongs to the write modes that replace windows", "[unit][caps][config]") {
  for (const Writer* w : all_writers()) {
    if (w->name() == "full_refresh") continue;  // not for strategy id at all
    INFO(w->name());
    const std::string msg = config_error(
        pipeline("id", "", ", write: " + w->name() + ", partition_by: {column: day, granularity: day}"));
    if (w->caps().by_window) CHECK(msg == "<no ConfigError>");
    else CHECK_THAT(msg, Contains("target.partition_by: only for write partition_overwrite (write is " + w->name() + ")"));
  }
  CHECK_THAT(config_error(pipeline("id", ", soft_delete: {column: deleted_at, mode: mark}", ", write: append")),
             Contains("mode mark needs a write mode that updates rows (upsert or delete_insert): append never rewrites "
                      "a row, so the target would not show the deletion"));
}

TEST_CASE("caps: the config schema lists the registered strategies and write modes", "[unit][caps][schema]") {
  const nlohmann::json schema = nlohmann::json::parse(config_json_schema());
  const auto& p = schema["properties"]["pipelines"]["items"]["properties"];
  // Every registered strategy, and `auto` of selector pipelines (not a strategy: it chooses one per table).
  auto strategies = strategy_names();
  strategies.push_back("auto");
  CHECK(p["detect"]["properties"]["strategy"]["enum"].get<std::vector<std::string>>() == strategies);
  CHECK(p["target"]["properties"]["write"]["enum"].get<std::vector<std::string>>() == writer_names());
}

TEST_CASE("caps: a stored watermark's form is judged by its strategy", "[unit][caps]") {
  Watermark cursor;
  cursor.columns = {"id"};
  cursor.safe = Tuple{"42"};
  const auto problem = strategy("cdc").watermark_problem(cursor);
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::StartsWith("its watermark is not a slot position: "));
  CHECK_FALSE(strategy("cdc").watermark_problem(Watermark{}));
  for (const char* name : {"id", "updated_at", "full", "files"}) CHECK_FALSE(strategy(name).watermark_problem(cursor));
}

TEST_CASE("caps: only files keeps a target column of its own through sync_all_columns", "[unit][caps]") {
  PipelineConfig p;
  p.detect.files.file_column = "_source_file";
  CHECK(strategy("files").own_columns(p) == std::vector<std::string>{"_source_file"});
  for (const char* name : {"id", "updated_at", "full", "cdc"}) CHECK(strategy(name).own_columns(p).empty());
}

TEST_CASE("caps: advise puts the strategy's fit first and its change capture after the key advice", "[unit][caps]") {
  InspectedTable t;
  t.table = QualifiedName{"public", "t"};
  t.estimated_rows = 1000000;
  t.columns = {{"id", "bigint", true, true, "nextval('s'::regclass)"}};
  t.primary_key = {"id"};
  t.replica_identity = "d";
  t.wal_level = "replica";
  auto text = [&](const std::string& name) {
    PipelineConfig p;
    p.detect.strategy = name;
    p.detect.cursor = "id";
    std::string out;
    for (const auto& a : advise(p, t)) out += std::string(advice_kind(a.kind)) + ": " + a.text + "\n";
    return out;
  };
  CHECK(text("id") ==
        "ok: an index leads with the cursor id\n"
        "advice: watermarks cannot see deletes: use detect.soft_delete, reconcile, or strategy cdc (needs wal_level = "
        "logical; it is replica)\n"
        "advice: the source's primary key is (\"id\"): set target.key to it\n");
  CHECK(text("cdc") ==
        "advice: the source's primary key is (\"id\"): set target.key to it\n"
        "risk: wal_level is replica: CDC needs wal_level = logical (and a restart)\n"
        "ok: updates and deletes are identified by the primary key\n");
  CHECK_THAT(text("full"), Catch::StartsWith("advice: about 1000000 rows"));
  CHECK(text("files").find("set target.key") == std::string::npos);  // a file's rows are replaced whatever the key
}
