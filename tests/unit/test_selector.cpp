// Selector pipelines, pure: table patterns, defaults, overrides, name and target templates,
// strategy auto's choice for each table shape, stored choices, and what validate says offline.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <vector>

#include "tidemark/config.hpp"
#include "tidemark/selector.hpp"
#include "unit/config_error.hpp"

using Catch::Contains;
using namespace tidemark;

namespace {

const std::string kHead = R"(version: 1
connections:
  app: "dbname=app"
  dw: "dbname=dw"
)";

Config parse(const std::string& body) { return parse_config(kHead + body, "sel.yaml"); }

InspectedColumn col(const std::string& name, const std::string& type, bool indexed = false,
                    const std::string& def = "", bool identity = false) {
  InspectedColumn c;
  c.name = name;
  c.type = type;
  c.indexed = indexed;
  c.default_expr = def;
  c.identity = identity;
  return c;
}

InspectedTable table(const std::string& schema, const std::string& name, std::vector<InspectedColumn> cols,
                     std::vector<std::string> pk, int64_t rows = 100) {
  InspectedTable t;
  t.table = QualifiedName{schema, name};
  t.columns = std::move(cols);
  t.primary_key = std::move(pk);
  t.estimated_rows = rows;
  t.analysed = true;
  t.size_bytes = 8192;
  return t;
}

// A table with an indexed updated_at and a serial id.
InspectedTable tracked(const std::string& schema, const std::string& name) {
  return table(schema, name,
               {col("id", "bigint", true, "nextval('s'::regclass)"), col("updated_at", "timestamp with time zone", true)},
               {"id"});
}

const ExpandedTable* find(const SelectorExpansion& e, const std::string& table) {
  for (const auto& t : e.tables)
    if (t.table.name == table) return &t;
  return nullptr;
}

// One selector pipeline `app` from connection app into dw: by default every table of public,
// strategy auto, into raw.{table}. Each part is the inside of its flow map; the with_… calls
// replace one, `then` adds lines after target. The entry starts at line 6 of the file (kHead
// and `pipelines:` before it): source is line 7, detect 8, target 9, added lines from 10.
struct AppSelector {
  std::string source = R"(tables: ["public.*"])";
  std::string detect = "strategy: auto";
  std::string target = R"(table: "raw.{table}")";
  std::string more;

  AppSelector& with_source(const std::string& s) { return set(source, s); }
  AppSelector& with_detect(const std::string& s) { return set(detect, s); }
  AppSelector& with_target(const std::string& s) { return set(target, s); }
  AppSelector& then(const std::string& lines) {
    more += lines;
    return *this;
  }
  // `overrides:` with one entry a line, each "TABLE": {…}.
  AppSelector& with_overrides(std::initializer_list<std::string> entries) {
    std::string lines = "    overrides:\n";
    for (const auto& e : entries) lines += "      " + e + "\n";
    return then(lines);
  }
  std::string entry() const {
    return "  - name: app\n    source: {connection: app, " + source + "}\n    detect: {" + detect +
           "}\n    target: {connection: dw, " + target + "}\n" + more;
  }
  std::string yaml() const { return "pipelines:\n" + entry(); }

 private:
  AppSelector& set(std::string& part, const std::string& value) {
    part = value;
    return *this;
  }
};

Config parse(const AppSelector& s) { return parse(s.yaml()); }
std::string error_of(const AppSelector& s) { return tmtest::config_error_in(kHead + s.yaml(), "sel.yaml"); }

SelectorExpansion expand(const Config& cfg, const std::vector<InspectedTable>& catalog,
                         const std::vector<StoredChoice>& stored = {}, const ExpandOptions& opts = {}) {
  return expand_selector(cfg, cfg.selectors[0], catalog, stored, opts);
}

// Public and sales tables, one oddly named one, and an exclusion.
const AppSelector kSelector =
    AppSelector()
        .with_source(R"(tables: ["public.*", "sales.order_*", '"Odd"."Na.me"'], exclude: ["public.tmp_*"])")
        .with_target(R"(table: "raw_{schema}.{table}", create: true)");

}  // namespace

TEST_CASE("table patterns match schema and table globs, and quoted parts exactly", "[unit][selectors]") {
  auto p = parse_table_pattern("public.order_*", nullptr);
  REQUIRE(p);
  CHECK(p->matches({"public", "order_items"}));
  CHECK_FALSE(p->matches({"public", "orders"}));
  CHECK_FALSE(p->matches({"sales", "order_items"}));
  auto q = parse_table_pattern("\"Odd\".\"Na*me\"", nullptr);
  REQUIRE(q);
  CHECK(q->matches({"Odd", "Na*me"}));
  CHECK_FALSE(q->matches({"Odd", "Name"}));
  auto any = parse_table_pattern("s?les.[ab]*", nullptr);
  REQUIRE(any);
  CHECK(any->matches({"sales", "b1"}));
  CHECK_FALSE(any->matches({"sales", "c1"}));
  std::string why;
  CHECK_FALSE(parse_table_pattern("orders", &why));
  CHECK_THAT(why, Contains("name the schema"));
  CHECK_FALSE(parse_table_pattern("a.b.c", &why));
  CHECK(name_glob_match("app.public.*", "app.public.orders"));
  CHECK_FALSE(name_glob_match("app.public.*", "app.sales.orders"));
}

TEST_CASE("a schema glob becomes an anchored regular expression for the catalog query", "[unit][selectors]") {
  CHECK(schema_regex(*parse_table_pattern("public.*", nullptr)) == "^public$");
  CHECK(schema_regex(*parse_table_pattern("sales_*.x", nullptr)) == "^sales_.*$");
  CHECK(schema_regex(*parse_table_pattern("\"a.b\".x", nullptr)) == "^a\\.b$");
}

TEST_CASE("validate reads a selector pipeline offline: patterns, templates and overrides", "[unit][selectors]") {
  const Config cfg = parse(kSelector);
  REQUIRE(cfg.pipelines.empty());
  REQUIRE(cfg.selectors.size() == 1);
  const SelectorConfig& s = cfg.selectors[0];
  CHECK(s.name == "app");
  CHECK(s.tables.size() == 3);
  CHECK(s.exclude.size() == 1);
  CHECK(s.name_template == "{pipeline}.{schema}.{table}");
  CHECK(s.strategy == "auto");
  CHECK(selector_prefix(s) == "app.");
}

TEST_CASE("validate names file, line and field for selector mistakes", "[unit][selectors]") {
  CHECK_THAT(error_of(AppSelector().with_source(R"(tables: ["orders"])")),
             Contains("sel.yaml:7: pipelines[0].source.tables[0]: 'orders': name the schema"));
  CHECK_THAT(error_of(AppSelector().with_source(R"(tables: ["public.*"], table: x)")),
             Contains("pipelines[0].source.table: give source.tables"));
  CHECK_THAT(error_of(AppSelector().with_target(R"(table: "raw.{tabel}")")),
             Contains("sel.yaml:9: pipelines[0].target.table: unknown placeholder {tabel}"));
  CHECK_THAT(error_of(AppSelector().with_target(R"(table: "raw.fixed")")), Contains("must contain {table}"));
  CHECK_THAT(error_of(AppSelector().then("    name_template: \"x_{table}\"\n")),
             Contains("pipelines[0].name_template: 'x_{table}' must start with {pipeline}"));
  CHECK_THAT(error_of(AppSelector().with_overrides({R"("public.*": {detect: {strategy: full}})"})),
             Contains("sel.yaml:11: pipelines[0].overrides.public.*: 'public.*' is a glob"));
  // The shape of the table pipelines is checked on a stand-in: a misspelt key, a bad value.
  CHECK_THAT(error_of(AppSelector().with_detect("strategy: updated_at, cursor: updated_at, lookbak: 5m")),
             Contains("sel.yaml:8: pipelines[0].detect.lookbak: unknown key (did you mean 'lookback'?)"));
  CHECK_THAT(error_of(AppSelector().with_overrides({R"("public.audit_log": {target: {write: upsrt}})"})),
             Contains("sel.yaml:11: pipelines[0].overrides.public.audit_log.target.write: unknown write mode 'upsrt'"));
  CHECK_THAT(error_of(AppSelector().with_detect("strategy: auto, cursor: updated_at")),
             Contains("pipelines[0].detect.cursor: strategy auto chooses each table's cursor"));
  CHECK_THAT(error_of(AppSelector().with_detect("strategy: cdc")),
             Contains("pipelines[0].detect.strategy: strategy cdc cannot read source.tables"));
}

TEST_CASE("defaults are merged into every pipeline, explicit values win", "[unit][selectors]") {
  const Config cfg = parse(R"(defaults:
  source: {connection: app}
  target: {connection: dw, create: true, on_schema_change: append_new_columns}
  batch_size: 5000
pipelines:
  - name: orders
    source: {table: public.orders}
    detect: {strategy: updated_at, cursor: updated_at}
    target: {table: raw.orders, key: [id], create: false}
)");
  REQUIRE(cfg.pipelines.size() == 1);
  const PipelineConfig& p = cfg.pipelines[0];
  CHECK(p.source.connection == "app");
  CHECK(p.target.connection == "dw");
  CHECK_FALSE(p.target.create);  // explicit wins
  CHECK(p.target.on_schema_change == SchemaChange::kAppendNewColumns);
  CHECK(p.batch_size == 5000);
  // A mistake in defaults names its own line, once.
  const std::string e = tmtest::config_error_in(kHead + R"(defaults:
  target: {conection: dw}
pipelines:
  - {name: a, source: {connection: app, table: public.a}, detect: {strategy: full}, target: {connection: dw, table: raw.a}}
  - {name: b, source: {connection: app, table: public.b}, detect: {strategy: full}, target: {connection: dw, table: raw.b}}
)",
                                                "sel.yaml");
  CHECK_THAT(e, Contains("sel.yaml:6: pipelines[0].target.conection: unknown key"));
  CHECK_THAT(tmtest::config_error_in(kHead + "defaults:\n  source: {table: public.x}\npipelines: []\n", "sel.yaml"),
             Contains("defaults.source.table: names what one pipeline reads"));
}

TEST_CASE("auto chooses by the table's shape", "[unit][selectors]") {
  SECTION("an indexed last-modified timestamp: updated_at") {
    const AutoChoice c = choose_strategy(tracked("public", "orders"));
    CHECK(c.strategy == "updated_at");
    CHECK(c.cursor == "updated_at");
  }
  SECTION("a serial key and no indexed timestamp: id") {
    auto t = table("public", "events", {col("id", "bigint", true, "nextval('e'::regclass)"),
                                        col("updated_at", "timestamp with time zone", false)},
                   {"id"}, 5000000);
    const AutoChoice c = choose_strategy(t);
    CHECK(c.strategy == "id");
    CHECK(c.cursor == "id");
  }
  SECTION("an identity key: id") {
    auto t = table("public", "events", {col("id", "integer", true, "", true)}, {"id"}, 5000000);
    CHECK(choose_strategy(t).strategy == "id");
  }
  SECTION("a small table without either: full") {
    auto t = table("public", "countries", {col("code", "text", true)}, {"code"}, 250);
    const AutoChoice c = choose_strategy(t);
    CHECK(c.strategy == "full");
    CHECK(c.cursor.empty());
  }
  SECTION("an unanalysed table counts by its size on disk") {
    auto t = table("public", "fresh", {col("code", "text", true)}, {"code"}, -1);
    t.analysed = false;
    t.size_bytes = 16384;
    CHECK(choose_strategy(t).strategy == "full");
    t.size_bytes = 50 << 20;
    CHECK(choose_strategy(t).refused);
  }
  SECTION("a large table without either is refused, saying what would help") {
    auto t = table("public", "log", {col("code", "text", true), col("modified_at", "timestamp without time zone")},
                   {"code"}, 2000000);
    const AutoChoice c = choose_strategy(t);
    CHECK(c.refused);
    CHECK_THAT(c.reason, Contains("about 2000000 rows"));
    CHECK_THAT(c.reason, Contains("CREATE INDEX ON \"public\".\"log\" (\"modified_at\")"));
  }
}

TEST_CASE("a selector expands into one validated pipeline per matching table", "[unit][selectors]") {
  Config cfg = parse(kSelector);
  const std::vector<InspectedTable> catalog = {
      tracked("public", "orders"),
      tracked("public", "tmp_scratch"),  // excluded
      table("public", "countries", {col("code", "text", true)}, {"code"}),
      table("public", "nokey_log", {col("line", "text")}, {}, 5000000),  // refused by auto
      tracked("sales", "order_lines"),
      tracked("sales", "customers"),  // not matched
      tracked("Odd", "Na.me"),
  };
  const SelectorExpansion e = expand(cfg, catalog);
  REQUIRE(e.tables.size() == 4);
  const ExpandedTable* orders = find(e, "orders");
  REQUIRE(orders);
  CHECK(orders->name == "app.public.orders");
  CHECK(orders->pipeline.config_error.empty());
  CHECK(orders->pipeline.detect.strategy == "updated_at");
  CHECK(orders->pipeline.detect.cursor == "updated_at");
  CHECK(orders->pipeline.target.key == std::vector<std::string>{"id"});
  CHECK(orders->pipeline.target.table.schema == "raw_public");
  CHECK(orders->pipeline.target.table.name == "orders");
  CHECK(orders->pipeline.target.write == "upsert");
  CHECK(orders->pipeline.selector == "app");
  const ExpandedTable* countries = find(e, "countries");
  REQUIRE(countries);
  CHECK(countries->pipeline.detect.strategy == "full");
  CHECK(countries->pipeline.target.write == "full_refresh");
  const ExpandedTable* odd = find(e, "Na.me");
  REQUIRE(odd);
  CHECK(odd->name == "app.Odd.Na.me");
  CHECK(odd->pipeline.source.table->schema == "Odd");
  CHECK(odd->pipeline.source.table->name == "Na.me");
  CHECK(odd->pipeline.target.table.schema == "raw_Odd");
  CHECK(odd->pipeline.target.table.name == "Na.me");
  REQUIRE(e.skipped.size() == 1);
  CHECK(e.skipped[0].table.name == "nokey_log");
  CHECK_THAT(e.skipped[0].why, Contains("refuses"));
  CHECK(find(e, "tmp_scratch") == nullptr);
  CHECK(find(e, "customers") == nullptr);
  const std::string text = expansion_text(e);
  CHECK_THAT(text, Contains("public.orders -> app.public.orders: updated_at (auto: indexed last-modified column"));
  CHECK_THAT(text, Contains("skipped public.nokey_log"));

  apply_expansions(cfg, {e});
  CHECK(cfg.pipelines.size() == 4);
  CHECK(selected_by(cfg, "app").size() == 4);
  CHECK(selected_by(cfg, "app.public.*").size() == 2);
  CHECK(selected_by(cfg, "app.public.orders").size() == 1);
}

TEST_CASE("a configured strategy applies where its cursor exists, else the auto choice", "[unit][selectors]") {
  Config cfg = parse(
      AppSelector().with_detect("strategy: updated_at, cursor: updated_at, lookback: 5m").then("    batch_size: 1000\n"));
  const std::vector<InspectedTable> catalog = {
      tracked("public", "orders"),
      table("public", "events", {col("id", "bigint", true, "nextval('e'::regclass)")}, {"id"}, 5000000),
      table("public", "countries", {col("code", "text", true)}, {"code"}),
  };
  const SelectorExpansion e = expand(cfg, catalog);
  REQUIRE(e.tables.size() == 3);
  CHECK(find(e, "orders")->pipeline.detect.strategy == "updated_at");
  CHECK(find(e, "orders")->reason == "configured");
  CHECK(find(e, "orders")->pipeline.batch_size == 1000);
  const auto* events = find(e, "events");
  INFO(events->pipeline.config_error);
  CHECK(events->pipeline.config_error.empty());
  CHECK(events->pipeline.detect.strategy == "id");
  CHECK_THAT(events->reason, Contains("no column \"updated_at\" for strategy updated_at"));
  // full reads the whole table: the batch size and lookback of a cursor strategy are dropped.
  const auto* countries = find(e, "countries");
  CHECK(countries->pipeline.config_error.empty());
  CHECK(countries->pipeline.detect.strategy == "full");
  CHECK(countries->pipeline.batch_size == 0);
}

TEST_CASE("overrides are deep-merged over the selector for their table", "[unit][selectors]") {
  Config cfg = parse(AppSelector()
                         .with_target(R"(table: "raw.{table}", create: true)")
                         .with_overrides({R"("public.audit_log": {name: app.audit, detect: {strategy: full}, target: {table: raw.audit}})",
                                          R"("public.gone": {detect: {strategy: full}})"}));
  const std::vector<InspectedTable> catalog = {
      table("public", "audit_log", {col("line", "text")}, {}, 5000000), tracked("public", "orders")};
  const SelectorExpansion e = expand(cfg, catalog);
  const auto* audit = find(e, "audit_log");
  REQUIRE(audit);
  CHECK(audit->pipeline.config_error.empty());
  CHECK(audit->name == "app.audit");
  CHECK(audit->pipeline.detect.strategy == "full");
  CHECK(audit->pipeline.target.table.name == "audit");
  CHECK(audit->pipeline.target.create);  // from the selector
  REQUIRE(e.warnings.size() == 1);
  CHECK_THAT(e.warnings[0], Contains("sel.yaml:12: overrides.public.gone matches no table"));
}

TEST_CASE("a table without a primary key is skipped unless its strategy replaces the target", "[unit][selectors]") {
  Config cfg = parse(AppSelector().with_detect("strategy: updated_at, cursor: updated_at"));
  auto nokey = tracked("public", "nokey");
  nokey.primary_key.clear();
  const SelectorExpansion e = expand(cfg, {nokey});
  CHECK(e.tables.empty());
  REQUIRE(e.skipped.size() == 1);
  CHECK_THAT(e.skipped[0].why, Contains("no primary key"));
}

TEST_CASE("the stored choice sticks until --full-refresh chooses again", "[unit][selectors]") {
  Config cfg = parse(kSelector);
  // First run chose id; now an index makes updated_at the shape's choice.
  const StoredChoice was{"app.public.orders", "id", "id", "\"public\".\"orders\""};
  const SelectorExpansion kept = expand(cfg, {tracked("public", "orders")}, {was});
  REQUIRE(kept.tables.size() == 1);
  CHECK(kept.tables[0].pipeline.detect.strategy == "id");
  CHECK_THAT(kept.tables[0].reason, Contains("kept from its stored state"));
  ExpandOptions again;
  again.rechoose = true;
  const SelectorExpansion rechosen = expand(cfg, {tracked("public", "orders")}, {was}, again);
  CHECK(rechosen.tables[0].pipeline.detect.strategy == "updated_at");
}

TEST_CASE("state of a vanished table is reported and kept", "[unit][selectors]") {
  Config cfg = parse(kSelector);
  const StoredChoice gone{"app.public.dropped", "full", "", "\"public\".\"dropped\""};
  const StoredChoice excluded{"app.public.tmp_x", "full", "", "\"public\".\"tmp_x\""};
  const SelectorExpansion e = expand(cfg, {tracked("public", "orders"), tracked("public", "tmp_x")},
                                              {gone, excluded});
  REQUIRE(e.warnings.size() == 2);
  CHECK_THAT(e.warnings[0], Contains("table \"public\".\"dropped\" has vanished from the source; the state of pipeline "
                                     "app.public.dropped is kept"));
  CHECK_THAT(e.warnings[1], Contains("no longer selected"));
}

TEST_CASE("expanded names that are too long or collide are that table's config error", "[unit][selectors]") {
  Config cfg = parse(R"(pipelines:
  - name: app.public.orders
    source: {connection: app, table: public.orders}
    detect: {strategy: full}
    target: {connection: dw, table: raw.orders}
)" + AppSelector().entry());
  const std::string long_name(70, 'x');
  const SelectorExpansion e =
      expand(cfg, {tracked("public", "orders"), tracked("public", long_name)});
  REQUIRE(e.tables.size() == 2);
  const auto* longer = find(e, long_name);
  CHECK_THAT(longer->pipeline.config_error, Contains("characters, more than 63"));
  apply_expansions(cfg, {e});
  REQUIRE(cfg.pipelines.size() == 3);
  CHECK(cfg.pipelines[0].name == "app.public.orders");
  CHECK(cfg.pipelines[0].config_error.empty());  // the hand-written one keeps its name
  CHECK_THAT(cfg.pipelines[1].config_error, Contains("is already the pipeline app.public.orders's"));
}

TEST_CASE("a per-table validation problem is that table's error, not the run's", "[unit][selectors]") {
  Config cfg = parse(AppSelector().with_detect("strategy: updated_at, cursor: updated_at, soft_delete: {column: deleted_at}"));
  auto odd = tracked("public", "odd");  // its primary key is the soft-delete column
  odd.columns.push_back(col("deleted_at", "timestamp with time zone"));
  odd.primary_key = {"deleted_at"};
  const SelectorExpansion e = expand(cfg, {tracked("public", "orders"), odd});
  REQUIRE(e.tables.size() == 2);
  CHECK(find(e, "orders")->pipeline.config_error.empty());
  CHECK_THAT(find(e, "odd")->pipeline.config_error, Contains("table public.odd of selector pipeline app:"));
  CHECK_THAT(find(e, "odd")->pipeline.config_error, Contains("pipelines[0].detect.soft_delete"));
}
