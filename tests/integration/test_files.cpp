// Strategy files: real files in a directory, loaded into the real server.
#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <sys/time.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "integration/harness.hpp"

using tmtest::CliResult;
using tmtest::Scenario;

namespace {

namespace fs = std::filesystem;

// Writes `text` to dir/rel and dates it an hour back, past the settle time.
void drop(const std::string& dir, const std::string& rel, const std::string& text, bool settled = true) {
  const fs::path p = fs::path(dir) / rel;
  fs::create_directories(p.parent_path());
  if (rel.size() > 3 && rel.substr(rel.size() - 3) == ".gz") {
    gzFile g = gzopen(p.c_str(), "wb1");
    gzwrite(g, text.data(), static_cast<unsigned>(text.size()));
    gzclose(g);
  } else {
    std::ofstream(p, std::ios::binary) << text;
  }
  if (settled) fs::last_write_time(p, fs::last_write_time(p) - std::chrono::hours(1));
}

struct Files {
  Scenario s;
  std::string dir;
  explicit Files(const std::string& detect_extra = "", const std::string& key = "[id]") {
    dir = s.dir() + "/drops";
    fs::create_directories(dir);
    s.db().exec("CREATE TABLE " + s.tgt() + ".orders (id int PRIMARY KEY, amount numeric(12,2), note text,"
                " _source_file text, loaded_at timestamptz DEFAULT now())");
    s.write_config("  - name: drops\n    detect: {strategy: files, path: " + dir + ", pattern: \"**/orders_*\"" +
                   detect_extra + "}\n    target: {connection: db, table: TGT.orders, key: " + key + "}\n");
  }
  std::string rows() {
    return s.db().value("SELECT coalesce(string_agg(id || ':' || coalesce(amount::text, 'null') || ':' || "
                        "coalesce(note, 'null') || '@' || _source_file, ' ' ORDER BY id), '') FROM " + s.tgt() +
                        ".orders");
  }
  std::string manifest() {
    return s.db().value("SELECT string_agg(path || '=' || rows, ' ' ORDER BY path) FROM " + s.state() + ".files");
  }
};

}  // namespace

TEST_CASE("files: a new file loads once, and a rerun loads nothing", "[pg][files]") {
  Files t;
  drop(t.dir, "orders_20240101.csv", "id,amount,note\n1,10.5,hello\n2,20,\"a, b\"\n3,,x\n");
  drop(t.dir, "2024/01/orders_20240102.jsonl.gz",
       "{\"id\": 4, \"amount\": 1.25, \"note\": \"j\"}\n{\"id\": 5, \"amount\": null}\n");
  auto r = t.s.run_ok();
  CHECK(r["rows_read"] == 5);
  CHECK(t.rows() ==
        "1:10.50:hello@orders_20240101.csv 2:20.00:a, b@orders_20240101.csv 3:null:x@orders_20240101.csv "
        "4:1.25:j@2024/01/orders_20240102.jsonl.gz 5:null:null@2024/01/orders_20240102.jsonl.gz");
  CHECK(t.manifest() == "2024/01/orders_20240102.jsonl.gz=2 orders_20240101.csv=3");
  // Columns no record had keep the target's default.
  CHECK(t.s.db().value("SELECT count(*) FROM " + t.s.tgt() + ".orders WHERE loaded_at IS NULL") == "0");
  auto again = t.s.run_ok();
  CHECK(again["rows_read"] == 0);
  CHECK(t.s.db().value("SELECT count(*) FROM " + t.s.tgt() + ".orders") == "5");
}

TEST_CASE("files: a changed file replaces its rows, and a touched file with the same content is not reloaded",
          "[pg][files]") {
  Files t;
  drop(t.dir, "orders_a.csv", "id,amount\n1,1\n2,2\n3,3\n");
  drop(t.dir, "orders_b.csv", "id,amount\n10,10\n");
  t.s.run_ok();
  // A corrected re-export: row 2 fixed, row 3 gone, row 4 new; no duplicates.
  drop(t.dir, "orders_a.csv", "id,amount\n1,1\n2,22\n4,4\n");
  auto r = t.s.run_ok();
  CHECK(r["rows_read"] == 3);
  CHECK(t.rows() == "1:1.00:null@orders_a.csv 2:22.00:null@orders_a.csv 4:4.00:null@orders_a.csv "
                    "10:10.00:null@orders_b.csv");
  // Same bytes, new modification time: checksummed, not reloaded.
  fs::last_write_time(t.dir + "/orders_b.csv", fs::last_write_time(t.dir + "/orders_b.csv") - std::chrono::hours(2));
  CliResult touched = t.s.run({"--json"});
  CHECK(touched.exit_code == 0);
  CHECK(touched.json()[0]["rows_read"] == 0);
  CHECK(touched.err.find("orders_b.csv: modification time changed, content unchanged; not reloaded") !=
        std::string::npos);
}

TEST_CASE("files: a bad file fails alone with its name, line and reason; the others load and the run exits 1",
          "[pg][files]") {
  auto [name, text, message] = GENERATE(table<std::string, std::string, std::string>({
      {"orders_num.csv", "id,amount\n1,1\n2,abc\n", "orders_num.csv:3: column amount: invalid input syntax for type numeric: \"abc\""},
      {"orders_fields.csv", "id,amount\n1,1\n2,2,extra\n", "orders_fields.csv:3: expected 2 fields, found 3"},
      {"orders_header.csv", "id,amount,colour\n1,1,red\n", "orders_header.csv:1:"},
      {"orders_json.jsonl", "{\"id\": 1}\n{\"id\": 2,\n", "orders_json.jsonl:2: not a JSON object"},
  }));
  INFO(name);
  Files t;
  drop(t.dir, "orders_good.csv", "id,amount\n100,1\n");
  drop(t.dir, name, text);
  CliResult r = t.s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(message) != std::string::npos);
  CHECK(t.rows() == "100:1.00:null@orders_good.csv");  // nothing of the bad file
  CHECK(t.manifest() == "orders_good.csv=1");
  // Fixed, it loads on the next run.
  drop(t.dir, name, name.find("json") != std::string::npos ? "{\"id\": 1}\n" : "id,amount\n1,1\n");
  CHECK(t.s.run().exit_code == 0);
  CHECK(t.s.db().value("SELECT count(*) FROM " + t.s.tgt() + ".orders") == "2");
}

TEST_CASE("files: a truncated gzip fails its file instead of loading part of it", "[pg][files]") {
  Files t;
  std::string big = "id,amount\n";
  for (int i = 1; i <= 20000; ++i) big += std::to_string(i) + "," + std::to_string(i * 7 % 1000) + "\n";
  drop(t.dir, "whole/orders_1.csv.gz", big);
  const std::string whole = t.dir + "/whole/orders_1.csv.gz";
  const auto size = fs::file_size(whole);
  fs::copy_file(whole, t.dir + "/orders_cut.csv.gz");
  fs::resize_file(t.dir + "/orders_cut.csv.gz", size / 2);
  fs::last_write_time(t.dir + "/orders_cut.csv.gz", fs::last_write_time(whole));
  CliResult r = t.s.run();
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("orders_cut.csv.gz") != std::string::npos);
  CHECK(r.err.find("truncated") != std::string::npos);
  CHECK(t.s.db().value("SELECT count(*) FROM " + t.s.tgt() + ".orders WHERE _source_file = 'orders_cut.csv.gz'") == "0");
  CHECK(t.manifest() == "whole/orders_1.csv.gz=20000");
}

TEST_CASE("files: with on_bad_row: quarantine, bad rows go to tidemark.rejects with file, line and text",
          "[pg][files]") {
  Files t(", on_bad_row: quarantine");
  drop(t.dir, "orders_1.csv", "id,amount,note\n1,1,a\n2,abc,b\n3,3\n4,4,\"multi\nline\"\n5,5,e\n");
  auto r = t.s.run_ok();
  CHECK(t.rows() == "1:1.00:a@orders_1.csv 4:4.00:multi\nline@orders_1.csv 5:5.00:e@orders_1.csv");
  CHECK(t.s.db().value("SELECT string_agg(path || ':' || line || ':' || reason || ':' || raw, ' | ' ORDER BY line) FROM " +
                       t.s.state() + ".rejects") ==
        "orders_1.csv:3:column amount: invalid input syntax for type numeric: \"abc\":2,abc,b | "
        "orders_1.csv:4:expected 3 fields, found 2:3,3");
  CHECK(t.s.db().value("SELECT rows || '/' || rejected FROM " + t.s.state() + ".files") == "3/2");
}

TEST_CASE("files: files still being written, hidden or temporary are not loaded", "[pg][files]") {
  Files t(", settle: 30s");
  drop(t.dir, "orders_new.csv", "id\n1\n", false);  // modified just now
  drop(t.dir, "orders_part.csv.tmp", "id\n2\n");
  drop(t.dir, ".orders_hidden.csv", "id\n3\n");
  drop(t.dir, ".staging/orders_x.csv", "id\n4\n");
  drop(t.dir, "orders_ok.csv", "id\n5\n");
  t.s.run_ok();
  CHECK(t.manifest() == "orders_ok.csv=1");
  fs::last_write_time(t.dir + "/orders_new.csv", fs::last_write_time(t.dir + "/orders_new.csv") - std::chrono::minutes(1));
  t.s.run_ok();
  CHECK(t.manifest() == "orders_new.csv=1 orders_ok.csv=1");
}

TEST_CASE("files: a crash in the middle of a file loads nothing of it, and the rerun loads it once", "[pg][files]") {
  Files t;
  drop(t.dir, "orders_1.csv", "id\n1\n2\n");
  drop(t.dir, "orders_2.csv", "id\n3\n4\n");
  // Killed before the second file commits: the first is loaded and recorded, the second not.
  CHECK(t.s.run({}, {{"TIDEMARK_FAULT", "before_commit@2:kill"}}).exit_code != 0);
  CHECK(t.manifest() == "orders_1.csv=2");
  CHECK(t.s.db().value("SELECT count(*) FROM " + t.s.tgt() + ".orders") == "2");
  auto r = t.s.run_ok();
  CHECK(r["rows_read"] == 2);
  CHECK(t.rows() == "1:null:null@orders_1.csv 2:null:null@orders_1.csv 3:null:null@orders_2.csv 4:null:null@orders_2.csv");
}

TEST_CASE("files: --from/--to reloads the files whose name carries a date in the range", "[pg][files]") {
  Files t(", date_from_name: \"orders_(\\\\d{8})\"");
  for (const char* d : {"20240101", "20240102", "20240103"})
    drop(t.dir, std::string("orders_") + d + ".csv", std::string("id,note\n") + d + ",v1\n");
  t.s.run_ok();
  t.s.db().exec("UPDATE " + t.s.tgt() + ".orders SET note = 'damaged'");
  auto r = t.s.run_ok({"drops", "--from", "2024-01-02", "--to", "2024-01-03"});
  CHECK(r["rows_read"] == 1);
  CHECK(t.rows() == "20240101:null:damaged@orders_20240101.csv 20240102:null:v1@orders_20240102.csv "
                    "20240103:null:damaged@orders_20240103.csv");
  CliResult bad = t.s.run({"drops", "--from", "2024-13-45", "--to", "today"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--from '2024-13-45' is not a date or time for strategy files") != std::string::npos);
}

TEST_CASE("files: files appearing while a run is in progress are loaded by the next run", "[pg][files][lock]") {
  Files t;
  drop(t.dir, "orders_1.csv", "id\n1\n");
  tmtest::Db blocker;
  pqxx::work hold(blocker.conn());
  hold.exec("LOCK TABLE " + t.s.tgt() + ".orders IN EXCLUSIVE MODE");
  tmtest::CliProcess first = tmtest::start_cli({"run", "-c", t.s.config()});
  t.s.wait_until_run_blocks();  // listed, loading orders_1
  drop(t.dir, "orders_2.csv", "id\n2\n");
  hold.commit();
  CHECK(tmtest::finish(first).exit_code == 0);
  CHECK(t.manifest() == "orders_1.csv=1");
  t.s.run_ok();
  CHECK(t.manifest() == "orders_1.csv=1 orders_2.csv=1");
}

TEST_CASE("files: a 1M-row gzip file streams through with flat memory", "[pg][files][big]") {
  Files t("", "[id]");
  {
    gzFile g = gzopen((t.dir + "/orders_big.csv.gz").c_str(), "wb1");
    gzputs(g, "id,amount,note\n");
    std::string note(120, 'x');
    for (int i = 1; i <= 1000000; ++i) gzprintf(g, "%d,%d.%02d,%s\n", i, i % 5000, i % 100, note.c_str());
    gzclose(g);
    fs::last_write_time(t.dir + "/orders_big.csv.gz", fs::last_write_time(t.dir + "/orders_big.csv.gz") - std::chrono::hours(1));
  }
  rusage before{};
  getrusage(RUSAGE_CHILDREN, &before);
  auto r = t.s.run_ok();
  rusage after{};
  getrusage(RUSAGE_CHILDREN, &after);
  CHECK(r["rows_read"] == 1000000);
  CHECK(t.s.db().value("SELECT count(*) || ':' || sum(id) FROM " + t.s.tgt() + ".orders") == "1000000:500000500000");
  // The file is ~130 MB uncompressed; the process stays far below that (ru_maxrss is in KiB
  // and is the largest child so far, so this bounds this run too).
  INFO("max RSS of a child so far: " << after.ru_maxrss << " KiB");
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine keeps freed memory for a while: no bound there
  CHECK(after.ru_maxrss < 64 * 1024);
#endif
}
