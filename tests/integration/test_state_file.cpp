// `state: {file: …}` against a real server: runs keep their watermark in a local JSON file
// (no state schema is created), a crash between the data commit and the file's rename leaves
// the old file valid and the next run absorbs the re-read, a hand-edited file is an error,
// and `tidemark state export|import` moves state between the file and the schema.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "common/files.hpp"
#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;
using tmtest::sub;

using tmtest::slurp;
using tmtest::spit;

namespace {

void seed(Scenario& s, int rows) {
  s.db().exec(sub("CREATE TABLE SRC.items (id bigserial PRIMARY KEY, name text);"
                  "CREATE TABLE TGT.items (id bigint PRIMARY KEY, name text);"
                  "INSERT INTO SRC.items (name) SELECT 'item ' || g FROM generate_series(1, " + std::to_string(rows) +
                      ") g;",
                  s));
}

void add_rows(Scenario& s, int rows) {
  s.db().exec(sub("INSERT INTO SRC.items (name) SELECT 'more ' || g FROM generate_series(1, " + std::to_string(rows) +
                      ") g",
                  s));
}

// Each scenario's pipeline has a name of its own: the advisory lock is per pipeline name (in
// the target database), and ctest runs these tests side by side.
std::string name(const Scenario& s) { return "items_" + s.state(); }

std::string pipeline(const Scenario& s) {
  return "  - name: " + name(s) + "\n    source: {connection: db, table: SRC.items}\n"
         "    detect: {strategy: id, cursor: id}\n    target: {connection: db, table: TGT.items, key: [id]}\n";
}



}  // namespace

TEST_CASE("state file: runs keep the watermark in the file and create no state schema", "[pg][state_file]") {
  Scenario s;
  seed(s, 200);
  s.write_config(pipeline(s), "state:\n  file: state.json\n");  // relative to the config's directory
  const std::string file = s.dir() + "/state.json";
  CHECK(s.run_ok()["rows_read"] == 200);
  CHECK_THAT(slurp(file), Catch::Contains("\"high\": [\n          \"200\""));
  add_rows(s, 30);
  CHECK(s.run_ok()["rows_read"] == 30);
  CHECK(s.same_content("items", "items", "id"));
  // Nothing of this pipeline in a state schema (other tests may have made `tidemark`).
  for (const char* table : {"pipeline_state", "runs"})
    if (s.db().value(std::string("SELECT to_regclass('tidemark.") + table + "') IS NOT NULL") == "t")
      CHECK(s.db().value(std::string("SELECT count(*) FROM tidemark.") + table + " WHERE pipeline = '" + name(s) + "'") == "0");
  CliResult st = tmtest::run_cli({"status", "-c", s.config(), "--json"});
  REQUIRE(st.exit_code == 0);
  const auto j = st.json();
  CHECK(j[0]["watermark"]["high"][0] == "230");
  CHECK(j[0]["last_run"]["rows_read"] == 30);
  CHECK(j[0]["last_run"]["status"] == "succeeded");
}

TEST_CASE("state file: a run killed before the file's rename leaves the old file valid, and the next run absorbs "
          "the re-read",
          "[pg][state_file][crash]") {
  Scenario s;
  seed(s, 100);
  const std::string file = s.dir() + "/state.json";
  s.write_config(pipeline(s), "state:\n  file: " + file + "\n");
  s.run_ok();
  const std::string before = slurp(file);
  add_rows(s, 25);
  // The data commits, the new file is written and synced, and the process dies before the rename.
  CliResult killed = s.run({}, {{"TIDEMARK_FAULT", "state_file_written:kill"}});
  CHECK(killed.exit_code != 0);
  CHECK(slurp(file) == before);  // the old state, byte for byte, checksum intact
  CHECK(s.same_content("items", "items", "id"));  // the data did commit
  // The next run reads the old watermark, re-reads the 25 rows (upsert finds them equal) and
  // moves the file on.
  auto r = s.run_ok();
  CHECK(r["rows_read"] == 25);
  CHECK(r["rows_written"] == 0);
  CHECK_THAT(slurp(file), Catch::Contains("\"125\""));
  CHECK(s.same_content("items", "items", "id"));
}

TEST_CASE("state file: a hand-edited or corrupt file stops the run with an error naming the file, never a reset",
          "[pg][state_file]") {
  Scenario s;
  seed(s, 50);
  const std::string file = s.dir() + "/state.json";
  s.write_config(pipeline(s), "state:\n  file: " + file + "\n");
  s.run_ok();
  std::string text = slurp(file);
  // "Rewind" high and safe by hand.
  for (size_t at = text.find("\"50\""); at != std::string::npos; at = text.find("\"50\"")) text.replace(at, 4, "\"10\"");
  spit(file, text);
  add_rows(s, 5);
  CliResult r = s.run();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains(file) && Catch::Contains("changed outside tidemark") &&
                        Catch::Contains("tidemark state import"));
  CHECK(s.db().count(s.tgt() + ".items") == 50);  // nothing loaded
  // Rewinding by hand on purpose goes through import, which needs --force for a file that fails its check.
  const std::string edited = s.dir() + "/edited.json";
  spit(edited, slurp(file));
  CHECK(tmtest::run_cli({"state", "import", "-c", s.config(), edited}).exit_code == 1);
  REQUIRE(tmtest::run_cli({"state", "import", "-c", s.config(), edited, "--force"}).exit_code == 0);
  auto again = s.run_ok();
  CHECK(again["rows_read"] == 45);  // ids 11..55 re-read from the rewound watermark
  CHECK(again["rows_written"] == 5);
  spit(file, "{\"format\": \"tidemark-state\", \"version\": 1, \"pipelines\": {");
  r = s.run();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains(file) && Catch::Contains("not valid JSON"));
}

TEST_CASE("state file: only idempotent write modes, and no chunked backfills", "[pg][state_file]") {
  Scenario s;
  seed(s, 10);
  s.write_config("  - name: items\n    source: {connection: db, table: SRC.items}\n    detect: {strategy: id, cursor: id}\n"
                 "    target: {connection: db, table: TGT.items, key: [id], write: append}\n",
                 "state:\n  file: state.json\n");
  CliResult r = s.run();
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("append needs the state in the target database"));
  s.write_config(pipeline(s), "state:\n  file: state.json\n");
  r = s.run({name(s), "--from", "1", "--to", "5", "--chunk", "2"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("state.file"));
  CHECK(s.run({name(s), "--from", "1", "--to", "5"}).exit_code == 0);  // one transaction is fine
}

TEST_CASE("state export/import: state moves from the schema to a file and back, and import guards existing state",
          "[pg][state_file]") {
  Scenario s;
  seed(s, 100);
  const std::string schema_cfg = s.write_config(pipeline(s));  // state in the scenario's schema
  s.run_ok();
  CliResult exp = tmtest::run_cli({"state", "export", "-c", schema_cfg});
  REQUIRE(exp.exit_code == 0);
  const std::string doc = s.dir() + "/exported.json";
  spit(doc, exp.out);
  CHECK_THAT(exp.out, Catch::Contains("\"format\": \"tidemark-state\"") && Catch::Contains("\"checksum\""));

  // Into a file store: the next run there reads only new rows.
  const std::string file = s.dir() + "/state.json";
  {
    std::ofstream(s.dir() + "/file.yaml")
        << slurp(schema_cfg).replace(slurp(schema_cfg).find("state:\n  schema: " + s.state() + "\n"),
                                     ("state:\n  schema: " + s.state() + "\n").size(), "state:\n  file: " + file + "\n");
  }
  const std::string file_cfg = s.dir() + "/file.yaml";
  CliResult imp = tmtest::run_cli({"state", "import", "-c", file_cfg, doc});
  INFO(imp.err);
  REQUIRE(imp.exit_code == 0);
  add_rows(s, 7);
  CliResult run = tmtest::run_cli({"run", "-c", file_cfg, "--json"});
  REQUIRE(run.exit_code == 0);
  CHECK(run.json()[0]["rows_read"] == 7);

  // And back into the schema, which still has its older state: refused without --force.
  CliResult back = tmtest::run_cli({"state", "export", "-c", file_cfg});
  REQUIRE(back.exit_code == 0);
  spit(doc, back.out);
  CliResult refused = tmtest::run_cli({"state", "import", "-c", schema_cfg, doc});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("already has state") && Catch::Contains("--force"));
  REQUIRE(tmtest::run_cli({"state", "import", "-c", schema_cfg, doc, "--force"}).exit_code == 0);
  CHECK_THAT(s.state_json(name(s)), Catch::Contains("\"107\""));
  add_rows(s, 3);
  CHECK(s.run_ok()["rows_read"] == 3);
  CHECK(s.same_content("items", "items", "id"));

  // A document for another strategy is refused before anything is written.
  std::string other = back.out;
  other.replace(other.find("\"strategy\": \"id\""), 16, "\"strategy\": \"updated_at\"");
  spit(doc, other);
  CliResult wrong = tmtest::run_cli({"state", "import", "-c", schema_cfg, doc, "--force"});
  CHECK(wrong.exit_code == 2);
  CHECK_THAT(wrong.err, Catch::Contains("strategy updated_at"));
}
