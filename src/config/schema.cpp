// `tidemark schema`: the config format as a JSON Schema (draft 2020-12), for editors'
// completion and checks (docs/config.md#editor-support). validate.cpp stays the authority:
// it also checks the rules between fields, which a schema cannot express well.
#include "tidemark/config.hpp"

#include <nlohmann/json.hpp>

#include "tidemark/strategy.hpp"
#include "tidemark/writer.hpp"

namespace tidemark {
namespace {

using json = nlohmann::json;

json text(const std::string& description) { return {{"type", "string"}, {"description", description}}; }
json duration(const std::string& description) {
  return {{"type", "string"},
          {"pattern", "^\\s*[0-9]+\\s*(us|ms|s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)\\s*$"},
          {"description", description + " (a duration: 30s, 15m, 2h, 1d)"}};
}
json names(const std::string& description) {
  return {{"oneOf", json::array({{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}}})},
          {"description", description}};
}
json object(json properties, std::vector<std::string> required = {}) {
  json o = {{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(properties)}};
  if (!required.empty()) o["required"] = required;
  return o;
}

}  // namespace

std::string config_json_schema() {
  const json connection = {
      {"oneOf", json::array({text("libpq connection string or URI; ${VAR} and ${VAR:-default} are expanded"),
                             object({{"dsn", text("libpq connection string or URI")},
                                     {"connect_timeout", duration("libpq connect timeout")},
                                     {"statement_timeout", duration("server statement_timeout for each session")},
                                     {"lock_timeout", duration("server lock_timeout for each session")}},
                                    {"dsn"})})}};
  const json source = object({{"connection", text("name of a connection")},
                              {"table", text("source table: table or schema.table")},
                              {"query", text("a SELECT, used as (query) AS _tm_src")},
                              {"columns", names("columns to move (default: all)")},
                              {"tables", {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "string"}}},
                                          {"description", "selector pipeline: schema.table names or globs "
                                                          "(public.*, \"Odd\".\"Name\"), one pipeline per table"}}},
                              {"exclude", {{"type", "array"}, {"items", {{"type", "string"}}},
                                           {"description", "selector pipeline: tables (or globs) to leave out"}}}});
  // connection is required (source and target), but may come from `defaults:`: validate says so.
  const json detect = object(
      {{"strategy", {{"enum", [] {
                       auto n = strategy_names();
                       n.push_back("auto");  // selector pipelines: chosen per table
                       return n;
                     }()},
                     {"description", "change detection (auto: selector pipelines, chosen per table)"}}},
       {"cursor", text("the watermark column (id, updated_at)")},
       {"lookback", {{"type", {"string", "integer"}}, {"description", "re-read window below the watermark"}}},
       {"settle", duration("ignore rows (updated_at) or files (files) newer than this")},
       {"null_cursor", {{"enum", {"warn", "include"}}}},
       {"time_zone", text("the zone a timestamp without time zone (or date) cursor's values are wall-clock time in "
                          "(default: the source session's TimeZone)")},
       {"soft_delete", object({{"column", text("non-NULL (or true) marks a deleted row")},
                               {"mode", {{"enum", {"delete", "mark"}}}}},
                              {"column"})},
       {"path", text("files: the directory")},
       {"pattern", text("files: glob relative to path (** crosses directories)")},
       {"exclude", names("files: globs to skip")},
       {"format", {{"enum", {"csv", "jsonl"}}}},
       {"csv", object({{"delimiter", text("one character; \\t or tab for tabs")},
                       {"quote", text("one character")},
                       {"null", text("an unquoted field equal to this is NULL")}})},
       {"ignore_unknown_columns", {{"type", "boolean"}}},
       {"date_from_name", text("files: regex with one group capturing a date in the file name")},
       {"file_column", text("files: target column naming each row's file (default _source_file)")},
       {"on_bad_row", {{"enum", {"fail", "quarantine"}}}},
       {"slot", {{"type", "string"}, {"pattern", "^[a-z0-9_]{1,63}$"}, {"description", "cdc: replication slot"}}}},
      {"strategy"});
  const json target = object({{"connection", text("name of a connection")},
                              {"table", text("target table: table or schema.table; selector pipelines: a template "
                                             "with {schema}, {table}, {pipeline}")},
                              {"key", names("columns that identify a row")},
                              {"write", {{"enum", writer_names()}}},
                              {"partition_by",
                               object({{"column", text("partition_overwrite: the column whose windows are replaced")},
                                       {"granularity", {{"enum", {"day", "month", "value"}}}},
                                       {"time_zone", text("day/month windows of a timestamptz column (default UTC)")}},
                                      {"column", "granularity"})},
                              {"create", {{"type", "boolean"}, {"description", "create a missing target table"}}},
                              {"on_schema_change",
                               {{"enum", {"fail", "append_new_columns", "sync_all_columns", "ignore"}}}},
                              {"null_key", {{"enum", {"fail", "skip"}},
                                            {"description", "a source row with a NULL key: fail the run, or skip it"}}}});
  const json name = {{"type", "string"}, {"pattern", "^[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,62}$"}};
  json fields = {{"source", source},
                 {"detect", detect},
                 {"target", target},
                 {"batch_size", {{"type", "integer"}, {"minimum", 1}, {"maximum", 2147483647}}},
                 {"chunk", {{"type", "string"}, {"description", "backfill chunk: a number of ids or a duration"}}},
                 {"reconcile", object({{"every", {{"type", "integer"}, {"minimum", 1}}},
                                       {"max_delete_ratio", {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 1}}}})}};
  const json name_template = text("selector pipeline: each table's pipeline name, starting with {pipeline} "
                                  "(default {pipeline}.{schema}.{table})");
  json override_fields = fields;
  override_fields["name"] = name;
  json defaults_fields = fields;
  defaults_fields["name_template"] = name_template;
  json pipeline_fields = fields;
  pipeline_fields["name"] = name;
  pipeline_fields["name_template"] = name_template;
  pipeline_fields["overrides"] = {{"type", "object"},
                                  {"description", "selector pipeline: per table (schema.table), merged over the pipeline"},
                                  {"additionalProperties", object(override_fields)}};
  const json pipeline = object(pipeline_fields, {"name"});  // the rest may come from defaults
  json schema = object(
      {{"version", {{"const", 1}}},
       {"connections", {{"type", "object"}, {"additionalProperties", connection}, {"minProperties", 1}}},
       {"state", object({{"connection", text("name of a connection")},
                         {"schema", text("schema of the state tables")},
                         {"file", text("keep state in this local JSON file instead of a schema")}})},
       {"retries", object({{"attempts", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10}}},
                           {"backoff", duration("wait before the first retry, doubled after each")}})},
       {"jobs", {{"type", "integer"}, {"minimum", 1}, {"maximum", 64},
                 {"description", "pipelines a run (without --from/--to) runs at once; run --jobs wins"}}},
       {"defaults", object(defaults_fields)},
       {"pipelines", {{"type", "array"}, {"minItems", 1}, {"items", pipeline}}}},
      {"connections", "pipelines"});
  schema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  schema["$id"] = "https://tidemark.dev/schema/config-v1.json";
  schema["title"] = "tidemark pipeline config";
  return schema.dump(2) + "\n";
}

}  // namespace tidemark
