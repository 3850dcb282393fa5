// Soft deletes and reconcile against a real server (docs/deletes.md).
#include <catch2/catch.hpp>

#include <string>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;

namespace {

// 100 orders; `deleted_at` marks a soft-deleted row.
void make_orders(Scenario& s) {
  s.db().exec("CREATE TABLE " + s.src() + ".o (id bigserial PRIMARY KEY, v text, updated_at timestamptz NOT NULL "
              "DEFAULT clock_timestamp(), deleted_at timestamptz);"
              "CREATE TABLE " + s.tgt() + ".o (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL, "
              "deleted_at timestamptz);"
              "INSERT INTO " + s.src() + ".o (v) SELECT 'v' || g FROM generate_series(1, 100) g");
}

std::string orders(const std::string& write, const std::string& soft = "{column: deleted_at}",
                   const std::string& extra = "") {
  return "  - name: o\n    source: {connection: db, table: SRC.o}\n    detect: {strategy: updated_at, cursor: updated_at, "
         "soft_delete: " + soft + "}\n    target: {connection: db, table: TGT.o, key: [id], write: " + write + "}\n" +
         extra;
}

void soft_delete(Scenario& s, const std::string& ids, bool deleted = true) {
  s.db().exec("UPDATE " + s.src() + ".o SET deleted_at = " + (deleted ? "clock_timestamp()" : "NULL") +
              ", updated_at = clock_timestamp() WHERE id IN (" + ids + ")");
}

std::string ids_in(Scenario& s, const std::string& table, const std::string& ids) {
  return s.db().value("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM " + table + " WHERE id IN (" +
                      ids + ")");
}

tmtest::CliResult reconcile(Scenario& s, const std::string& pipeline, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"reconcile", "-c", s.config(), pipeline};
  args.insert(args.end(), extra.begin(), extra.end());
  return tmtest::run_cli(args);
}

nlohmann::json reconcile_ok(Scenario& s, const std::string& pipeline, std::vector<std::string> extra = {}) {
  extra.push_back("--json");
  CliResult r = reconcile(s, pipeline, extra);
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  REQUIRE(r.exit_code == 0);
  return r.json()[0];
}

// `n` events with an integer key from a sequence; the id strategy follows it. The sequence
// gives the cursor a horizon, so other tests' open transactions (ctest -j2 shares the
// database) never hold the safe mark back.
void make_events(Scenario& s, int n) {
  s.db().exec("CREATE TABLE " + s.src() + ".ev (id bigserial PRIMARY KEY, v text);"
              "CREATE TABLE " + s.tgt() + ".ev (id bigint PRIMARY KEY, v text);"
              "INSERT INTO " + s.src() + ".ev (v) SELECT 'v' || g FROM generate_series(1, " + std::to_string(n) + ") g");
}

// Two runs, so the safe mark has certainly caught up with the high mark before a reconcile.
void settle(Scenario& s) {
  s.run_ok();
  s.run_ok();
}

const std::string kEvents =
    "  - name: ev\n    source: {connection: db, table: SRC.ev}\n    detect: {strategy: id, cursor: id}\n"
    "    target: {connection: db, table: TGT.ev, key: [id]}\n";

// Text keys: reconcile partitions by the key's hash.
void make_codes(Scenario& s, int n) {
  s.db().exec("CREATE TABLE " + s.src() + ".c (code text PRIMARY KEY, v text, at timestamptz NOT NULL DEFAULT "
              "clock_timestamp());"
              "CREATE TABLE " + s.tgt() + ".c (code text PRIMARY KEY, v text, at timestamptz NOT NULL);"
              "INSERT INTO " + s.src() + ".c (code, v, at) SELECT 'c-' || md5(g::text), 'v' || g, timestamptz "
              "'2024-01-01' + g * interval '1 second' FROM generate_series(1, " + std::to_string(n) + ") g");
}

const std::string kCodes =
    "  - name: c\n    source: {connection: db, table: SRC.c}\n    detect: {strategy: updated_at, cursor: at}\n"
    "    target: {connection: db, table: TGT.c, key: [code]}\n";

}  // namespace

TEST_CASE("deletes: a row soft-deleted at the source disappears from the target on the next run, in every keyed "
          "write mode, and comes back when un-deleted",
          "[pg][deletes]") {
  auto write = GENERATE(as<std::string>{}, "upsert", "delete_insert", "append");
  INFO(write);
  Scenario s;
  make_orders(s);
  soft_delete(s, "50");  // deleted before the first (direct) load: never loaded
  s.write_config(orders(write));
  auto first = s.run_ok();
  CHECK(s.db().count(s.tgt() + ".o") == 99);
  CHECK(ids_in(s, s.tgt() + ".o", "50") == "");
  CHECK(first["rows_deleted"] == 0);

  soft_delete(s, "5, 6, 7");
  s.db().exec("INSERT INTO " + s.src() + ".o (v, deleted_at) VALUES ('born deleted', clock_timestamp())");
  auto second = s.run_ok();
  CHECK(second["rows_deleted"] == 3);
  CHECK(ids_in(s, s.tgt() + ".o", "5, 6, 7, 50, 101") == "");
  CHECK(s.db().count(s.tgt() + ".o") == 96);

  soft_delete(s, "6", false);  // restored
  auto third = s.run_ok();
  CHECK(third["rows_deleted"] == 0);
  CHECK(ids_in(s, s.tgt() + ".o", "5, 6, 7") == "6");
  CHECK(s.db().value("SELECT deleted_at IS NULL FROM " + s.tgt() + ".o WHERE id = 6") == "t");
  // Everything else is the source without its deleted rows.
  CHECK(s.db().fingerprint("(SELECT * FROM " + s.src() + ".o WHERE deleted_at IS NULL)", "id") == s.db().fingerprint(s.tgt() + ".o", "id"));
}

TEST_CASE("deletes: with mode mark a soft-deleted row stays in the target and shows its deletion", "[pg][deletes]") {
  Scenario s;
  make_orders(s);
  s.write_config(orders("upsert", "{column: deleted_at, mode: mark}"));
  s.run_ok();
  soft_delete(s, "5");
  auto r = s.run_ok();
  CHECK(r["rows_deleted"] == 0);
  CHECK(s.db().value("SELECT deleted_at IS NOT NULL FROM " + s.tgt() + ".o WHERE id = 5") == "t");
  CHECK(s.same_content("o", "o", "id"));
}

TEST_CASE("deletes: a boolean soft_delete column deletes when true; an id pipeline skips rows born deleted and "
          "reconcile removes old rows deleted later, which id never re-reads",
          "[pg][deletes]") {
  Scenario s;
  s.db().exec("CREATE TABLE " + s.src() + ".b (id bigint PRIMARY KEY, v text, is_deleted boolean NOT NULL DEFAULT "
              "false); CREATE TABLE " + s.tgt() + ".b (id bigint PRIMARY KEY, v text, is_deleted boolean);"
              "INSERT INTO " + s.src() + ".b SELECT g, 'v' || g, g = 3 FROM generate_series(1, 20) g");
  s.write_config("  - name: b\n    source: {connection: db, table: SRC.b}\n    detect: {strategy: id, cursor: id, "
                 "soft_delete: {column: is_deleted}}\n    target: {connection: db, table: TGT.b, key: [id]}\n");
  settle(s);
  CHECK(s.db().count(s.tgt() + ".b") == 19);
  s.db().exec("INSERT INTO " + s.src() + ".b VALUES (21, 'x', true), (22, 'y', false); UPDATE " + s.src() +
              ".b SET is_deleted = true WHERE id = 10");
  s.run_ok();
  CHECK(ids_in(s, s.tgt() + ".b", "3, 10, 21, 22") == "10,22");  // 10 was loaded before its deletion
  auto r = reconcile_ok(s, "b");
  CHECK(r["rows_deleted"] == 1);
  CHECK(ids_in(s, s.tgt() + ".b", "3, 10, 21, 22") == "22");
}

TEST_CASE("deletes: reconcile deletes target rows whose key left the source, integer keys and hashed text keys",
          "[pg][deletes]") {
  SECTION("integer key, strategy id") {
    Scenario s;
    make_events(s, 3000);
    s.write_config(kEvents);
    settle(s);
    s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id IN (1, 1500, 3000)");
    auto r = reconcile_ok(s, "ev");
    CHECK(r["rows_deleted"] == 3);
    CHECK(r["to_delete"] == 3);
    CHECK(s.same_content("ev", "ev", "id"));
    CHECK(s.db().value("SELECT mode || ' ' || status || ' ' || rows_deleted FROM " + s.state() +
                       ".runs ORDER BY run_id DESC LIMIT 1") == "reconcile succeeded 3");
    auto again = reconcile_ok(s, "ev");  // nothing left to do: one aggregate per side
    CHECK(again["rows_deleted"] == 0);
    CHECK(again["ranges_compared"] == 1);
    CHECK(again["queries"] == 2);
  }
  SECTION("text key, strategy updated_at") {
    Scenario s;
    make_codes(s, 3000);
    s.write_config(kCodes);
    s.run_ok();
    s.db().exec("DELETE FROM " + s.src() + ".c WHERE v IN ('v7', 'v777', 'v2999')");
    auto r = reconcile_ok(s, "c");
    CHECK(r["rows_deleted"] == 3);
    CHECK(s.same_content("c", "c", "code"));
  }
}

TEST_CASE("deletes: reconcile refuses a 50% delete and an empty source, deleting nothing (exit 1)", "[pg][deletes]") {
  auto which = GENERATE(as<std::string>{}, "ev", "c");
  INFO(which);
  Scenario s;
  if (which == "ev") make_events(s, 1000);
  else make_codes(s, 1000);
  s.write_config(which == "ev" ? kEvents : kCodes);
  settle(s);
  const std::string src = s.src() + "." + which, tgt = s.tgt() + "." + which;
  s.db().exec("DELETE FROM " + src + " WHERE v ~ '[02468]$'");  // half
  CliResult half = reconcile(s, which);
  CHECK(half.exit_code == 1);
  CHECK_THAT(half.err, Catch::Contains("refused") && Catch::Contains("max_delete_ratio 10.0%") &&
                           Catch::Contains("Nothing was deleted"));
  CHECK(s.db().count(tgt) == 1000);
  CHECK(s.db().value("SELECT mode || ' ' || status FROM " + s.state() + ".runs ORDER BY run_id DESC LIMIT 1") ==
        "reconcile failed");
  // A higher ratio, given on purpose, lets it through.
  auto allowed = reconcile_ok(s, which, {"--max-delete-ratio", "0.6"});
  CHECK(allowed["rows_deleted"] == 500);
  CHECK(s.db().count(tgt) == 500);

  s.db().exec("DELETE FROM " + src);
  CliResult empty = reconcile(s, which, {"--max-delete-ratio", "1"});
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.err, Catch::Contains("the source returned no keys"));
  CHECK(s.db().count(tgt) == 500);
}

TEST_CASE("deletes: reconcile leaves rows above the safe mark alone: new source rows, target rows beyond it, and "
          "rows updated at the source since the last run",
          "[pg][deletes]") {
  SECTION("id") {
    Scenario s;
    make_events(s, 500);
    s.write_config(kEvents);
    settle(s);
    s.db().exec("INSERT INTO " + s.src() + ".ev (v) SELECT 'new' FROM generate_series(501, 600) g;"
                "INSERT INTO " + s.tgt() + ".ev VALUES (10000, 'beyond safe');"
                "DELETE FROM " + s.src() + ".ev WHERE id = 7");
    auto r = reconcile_ok(s, "ev");
    CHECK(r["rows_deleted"] == 1);
    CHECK(ids_in(s, s.tgt() + ".ev", "7, 10000") == "10000");
    s.run_ok();
    CHECK(s.db().count(s.tgt() + ".ev") == 600);  // 499 + 100 new + the one beyond safe
  }
  SECTION("updated_at") {
    Scenario s;
    make_codes(s, 500);
    s.write_config(kCodes);
    s.run_ok();
    // Moved above the safe mark and not loaded yet: still in the source, so never deleted.
    s.db().exec("UPDATE " + s.src() + ".c SET at = clock_timestamp(), v = 'moved' WHERE v IN ('v1', 'v2', 'v3');"
                "DELETE FROM " + s.src() + ".c WHERE v = 'v4'");
    auto r = reconcile_ok(s, "c");
    CHECK(r["rows_deleted"] == 1);
    CHECK(s.db().count(s.tgt() + ".c") == 499);
    s.run_ok();
    CHECK(s.same_content("c", "c", "code"));
  }
}

TEST_CASE("deletes: reconcile reads only the ranges that differ when a few keys are missing", "[pg][deletes]") {
  auto which = GENERATE(as<std::string>{}, "ev", "c");
  INFO(which);
  Scenario s;
  if (which == "ev") make_events(s, 20000);
  else make_codes(s, 20000);
  s.write_config(which == "ev" ? kEvents : kCodes);
  settle(s);
  s.db().exec("DELETE FROM " + s.src() + "." + which + " WHERE v IN ('v10', 'v9000', 'v19999')");
  auto r = reconcile_ok(s, which);
  INFO(r.dump());
  CHECK(r["rows_deleted"] == 3);
  CHECK(r["ranges_fetched"].get<int>() <= 3);
  CHECK(r["ranges_compared"].get<int>() <= 1 + 64 * 4);  // the root, one level, and the 64 parts of 3 ranges
  CHECK(r["keys_fetched"].get<int>() < 20000 / 5);
  CHECK(r["queries"].get<int>() <= 10);
  CHECK(s.same_content(which, which, which == "ev" ? "id" : "code"));
}

TEST_CASE("deletes: reconcile --dry-run prints how many and which keys it would delete, and deletes nothing",
          "[pg][deletes]") {
  Scenario s;
  make_events(s, 1000);
  s.write_config(kEvents);
  settle(s);
  s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id IN (12, 345, 678)");
  CliResult r = reconcile(s, "ev", {"--dry-run"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("would delete 3 row(s)") && Catch::Contains("keys: 12 345 678") &&
                        Catch::Contains("nothing was deleted"));
  CHECK(s.db().count(s.tgt() + ".ev") == 1000);
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE mode = 'reconcile'") == "0");
}

TEST_CASE("deletes: reconcile never runs beside a run: a held pipeline lock skips it (exit 75)", "[pg][deletes]") {
  Scenario s;
  make_events(s, 100);
  s.write_config(kEvents);
  settle(s);
  s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id = 5");
  tmtest::Db holder;
  holder.exec("SELECT pg_advisory_lock(hashtextextended('tidemark:" + s.state() + ":ev', 0))");
  CliResult r = reconcile(s, "ev");
  CHECK(r.exit_code == 75);
  CHECK(s.db().count(s.tgt() + ".ev") == 100);
  holder.exec("SELECT pg_advisory_unlock(hashtextextended('tidemark:" + s.state() + ":ev', 0))");
  CHECK(reconcile_ok(s, "ev")["rows_deleted"] == 1);
}

TEST_CASE("deletes: reconcile: {every: 2} reconciles after every second successful incremental run",
          "[pg][deletes]") {
  Scenario s;
  make_events(s, 200);
  s.write_config(kEvents + "    reconcile: {every: 2}\n");
  s.run_ok();  // run 1
  s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id = 9");
  auto second = s.run_ok();  // run 2: reconcile follows
  CHECK(second["rows_deleted"] == 1);
  CHECK(s.same_content("ev", "ev", "id"));
  s.db().exec("DELETE FROM " + s.src() + ".ev WHERE id = 10");
  s.run_ok();  // run 3: not yet
  CHECK(ids_in(s, s.tgt() + ".ev", "10") == "10");
  s.run_ok();  // run 4
  CHECK(ids_in(s, s.tgt() + ".ev", "10") == "");
  CHECK(s.db().value("SELECT count(*) FROM " + s.state() + ".runs WHERE mode = 'reconcile' AND status = "
                     "'succeeded'") == "2");
}
