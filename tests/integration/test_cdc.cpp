// Strategy cdc: a logical replication slot (wal2json) on the real server.
#include <catch2/catch.hpp>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;

namespace {

// One cdc pipeline over SRC.t -> TGT.t with its own slot, dropped when the test ends.
struct Cdc {
  Scenario s;
  std::string slot;
  explicit Cdc(const std::string& extra = "", const std::string& source_ddl = "id int PRIMARY KEY, v text, big text, n numeric") {
    slot = "tm_" + s.src();
    s.db().exec("CREATE TABLE " + s.src() + ".t (" + source_ddl + ");"
                "ALTER TABLE " + s.src() + ".t ALTER COLUMN big SET STORAGE EXTERNAL;"
                "CREATE TABLE " + s.tgt() + ".t (id int PRIMARY KEY, v text, big text, n numeric)");
    s.write_config("  - name: t\n    source: {connection: db, table: SRC.t}\n    detect: {strategy: cdc, slot: " + slot +
                   "}\n    target: {connection: db, table: TGT.t, key: [id]}\n" + extra);
  }
  ~Cdc() {
    try {
      s.db().exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
    } catch (...) {
    }
  }
  bool same() { return s.same_content("t", "t", "id"); }
  bool logical() { return s.db().value("SHOW wal_level") == "logical"; }
};

// A value stored out of line (TOAST): 96 000 characters that do not compress.
const char* kToasted = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3000) g)";

}  // namespace

TEST_CASE("cdc: the first run copies the table, later runs apply inserts, updates and deletes exactly",
          "[pg][cdc]") {
  Cdc c;
  if (!c.logical()) {
    WARN("wal_level is not logical on the test server: skipped");
    return;
  }
  const std::string t = c.s.src() + ".t";
  c.s.db().exec("INSERT INTO " + t + " SELECT g, 'v' || g, NULL, g * 1.5 FROM generate_series(1, 100) g");
  auto first = c.s.run_ok();
  CHECK(first["rows_read"] == 100);
  CHECK(c.same());
  c.s.db().exec("INSERT INTO " + t + " VALUES (101, 'new', " + kToasted + ", 12345678901234567890.1234567890)");
  c.s.db().exec("UPDATE " + t + " SET v = 'upd' WHERE id = 101");           // leaves the TOASTed value out
  c.s.db().exec("DELETE FROM " + t + " WHERE id <= 10");
  c.s.db().exec("UPDATE " + t + " SET id = 1000 WHERE id = 50");            // a key update
  c.s.db().exec("INSERT INTO " + t + " VALUES (200, 'brief'); DELETE FROM " + t + " WHERE id = 200");  // same batch
  c.s.db().exec("BEGIN; INSERT INTO " + t + " VALUES (5000, 'rolled back'); ROLLBACK");
  c.s.db().exec("UPDATE " + t + " SET n = n + 1 WHERE id BETWEEN 60 AND 69");
  auto second = c.s.run_ok();
  CHECK(c.same());
  CHECK(second["rows_deleted"] == 11);  // ids 1-10 and the old key 50
  CHECK(c.s.db().value("SELECT length(big) || ' ' || n FROM " + c.s.tgt() + ".t WHERE id = 101") ==
        "96000 12345678901234567890.1234567890");
  auto third = c.s.run_ok();
  CHECK(third["rows_read"] == 0);
}

TEST_CASE("cdc: a kill between the target commit and the slot advance applies nothing twice", "[pg][cdc]") {
  Cdc c;
  if (!c.logical()) return;
  const std::string t = c.s.src() + ".t";
  c.s.db().exec("INSERT INTO " + t + " SELECT g, 'v' FROM generate_series(1, 10) g");
  c.s.run_ok();
  c.s.db().exec("INSERT INTO " + t + " SELECT g, 'w' FROM generate_series(11, 20) g");
  CHECK(c.s.run({}, {{"TIDEMARK_FAULT", "after_commit:kill"}}).exit_code != 0);
  CHECK(c.same());  // committed with its position
  auto again = c.s.run_ok();
  CHECK(again["rows_read"] == 0);  // the stored position moved the slot on: nothing re-read
  CHECK(c.same());
}

TEST_CASE("cdc: a large transaction is split over bounded target commits and resumes mid-transaction after a crash",
          "[pg][cdc]") {
  Cdc c("    batch_size: 100\n");
  if (!c.logical()) return;
  const std::string t = c.s.src() + ".t";
  c.s.run_ok();  // snapshot of the empty table
  c.s.db().exec("INSERT INTO " + t + " SELECT g, 'big tx' FROM generate_series(1, 1000) g");
  // The fourth commit of the run dies: three batches of the transaction are in.
  CHECK(c.s.run({}, {{"TIDEMARK_FAULT", "before_commit@4:kill"}}).exit_code != 0);
  CHECK(c.s.db().value("SELECT count(*) FROM " + c.s.tgt() + ".t") == "300");
  CHECK(c.s.db().value("SELECT watermark->'safe'->>2 FROM " + c.s.state() + ".pipeline_state") == "300");
  auto r = c.s.run_ok();
  CHECK(r["rows_read"] == 700);  // the rest of the transaction, not all of it
  CHECK(c.same());
}

TEST_CASE("cdc: preflight refuses a table without a primary key or replica identity, naming the fix", "[pg][cdc]") {
  Cdc c("", "id int, v text, big text, n numeric");
  if (!c.logical()) return;
  CliResult r = c.s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("has no primary key and no replica identity") != std::string::npos);
  CHECK(r.err.find("REPLICA IDENTITY FULL") != std::string::npos);
  c.s.db().exec("ALTER TABLE " + c.s.src() + ".t REPLICA IDENTITY FULL");
  c.s.run_ok();
}

TEST_CASE("cdc: a lost slot is refused with how to take a new snapshot; status shows the slot; drop-slot removes it",
          "[pg][cdc]") {
  Cdc c;
  if (!c.logical()) return;
  c.s.db().exec("INSERT INTO " + c.s.src() + ".t VALUES (1, 'a')");
  c.s.run_ok();
  CliResult st = tmtest::run_cli({"status", "-c", c.s.config()});
  CHECK(st.out.find("t: slot " + c.slot + ": ") != std::string::npos);
  CHECK(st.out.find("of WAL retained, wal_status reserved") != std::string::npos);
  c.s.db().exec("SELECT pg_drop_replication_slot('" + c.slot + "')");
  c.s.db().exec("INSERT INTO " + c.s.src() + ".t VALUES (2, 'b')");
  CliResult lost = c.s.run();
  CHECK(lost.exit_code == 1);
  CHECK(lost.err.find("replication slot " + c.slot + " is gone") != std::string::npos);
  CHECK(lost.err.find("tidemark run --full-refresh t") != std::string::npos);
  c.s.run_ok({"--full-refresh"});
  CHECK(c.same());
  CliResult drop = tmtest::run_cli({"drop-slot", "-c", c.s.config(), "t"});
  CHECK(drop.exit_code == 0);
  CHECK(c.s.db().value("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + c.slot + "'") == "0");
  c.s.db().exec("INSERT INTO " + c.s.src() + ".t VALUES (3, 'c')");
  auto after = c.s.run_ok();  // starts over with a snapshot
  CHECK(after["rows_read"] == 3);
  CHECK(c.same());
}

TEST_CASE("cdc: a pipeline of the same name over another table refuses the slot position and leaves the slot alone",
          "[pg][cdc][identity]") {
  Cdc c;
  if (!c.logical()) return;
  const std::string t = c.s.src() + ".t";
  c.s.db().exec("INSERT INTO " + t + " SELECT g, 'v' FROM generate_series(1, 10) g");
  c.s.run_ok();
  const std::string watermark = c.s.state_json("t");
  const std::string slot_before =
      c.s.db().value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + c.slot + "'");
  c.s.db().exec("CREATE TABLE " + c.s.src() + ".u (id int PRIMARY KEY, v text, big text, n numeric);"
                "CREATE TABLE " + c.s.tgt() + ".u (id int PRIMARY KEY, v text, big text, n numeric);"
                "INSERT INTO " + c.s.src() + ".u SELECT g, 'u' FROM generate_series(1, 5) g");
  c.s.write_config("  - name: t\n    source: {connection: db, table: SRC.u}\n    detect: {strategy: cdc, slot: " +
                   c.slot + "}\n    target: {connection: db, table: TGT.u, key: [id]}\n");
  const tmtest::CliResult r = c.s.run();
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("the stored state of this name is not this pipeline's"));
  CHECK(c.s.state_json("t") == watermark);
  CHECK(c.s.db().value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + c.slot + "'") ==
        slot_before);
  CHECK(c.s.db().count(c.s.tgt() + ".u") == 0);
}
