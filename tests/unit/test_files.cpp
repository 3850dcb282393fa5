// The pure part of the files strategy: glob patterns, default exclusions, and the streaming
// CSV / JSON Lines reader (plain and gzip) that turns records into COPY text lines.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tidemark/files.hpp"

using Catch::Contains;
using tidemark::files::FileError;
using tidemark::files::Format;
using tidemark::files::glob_match;
using tidemark::files::Record;
using tidemark::files::RecordReader;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("tidemark-files-" + std::to_string(rd()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::string gz(const std::string& name, const std::string& content) const {
    const std::string p = (path_ / name).string();
    gzFile g = gzopen(p.c_str(), "wb");
    REQUIRE(g != nullptr);
    REQUIRE(gzwrite(g, content.data(), static_cast<unsigned>(content.size())) ==
            static_cast<int>(content.size()));
    REQUIRE(gzclose(g) == Z_OK);
    return p;
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Format csv(char delimiter = ',') {
  Format f;
  f.delimiter = delimiter;
  return f;
}

Format jsonl() {
  Format f;
  f.kind = Format::Kind::kJsonl;
  return f;
}

// Every record's COPY line, or "line N: reason" for a per-record error (reading goes on).
std::vector<std::string> read_all(const std::string& path, const Format& fmt,
                                  std::vector<std::string> columns) {
  RecordReader reader(path, fmt, std::move(columns));
  std::vector<std::string> out;
  Record r;
  for (;;) {
    try {
      if (!reader.next(r)) break;
      out.push_back(r.copy_line);
    } catch (const FileError& e) {
      REQUIRE(reader.can_continue());
      out.push_back("line " + std::to_string(e.line()) + ": " + e.reason());
    }
  }
  return out;
}

// The error a reader of the whole file stops with (constructor or next()).
FileError stop_error(const std::string& path, const Format& fmt, std::vector<std::string> columns) {
  try {
    RecordReader reader(path, fmt, std::move(columns));
    Record r;
    for (;;) {
      try {
        if (!reader.next(r)) break;
      } catch (const FileError&) {
        if (!reader.can_continue()) throw;
      }
    }
  } catch (const FileError& e) {
    return e;
  }
  FAIL("expected a FileError from " << path);
  return FileError(path, 0, "");
}

using Lines = std::vector<std::string>;

}  // namespace

// ---- glob ------------------------------------------------------------------------------------

TEST_CASE("glob: * and ? stay inside one path segment", "[unit][files]") {
  CHECK(glob_match("*.csv", "a.csv"));
  CHECK(glob_match("*.csv", ".csv"));
  CHECK_FALSE(glob_match("*.csv", "dir/a.csv"));
  CHECK_FALSE(glob_match("*.csv", "a.csv.gz"));
  CHECK(glob_match("in/*/data.csv", "in/2024/data.csv"));
  CHECK_FALSE(glob_match("in/*/data.csv", "in/2024/01/data.csv"));
  CHECK(glob_match("part-?.csv", "part-1.csv"));
  CHECK(glob_match("part-?.csv", "part-é.csv"));  // one character, not one byte
  CHECK_FALSE(glob_match("part-?.csv", "part-10.csv"));
  CHECK_FALSE(glob_match("a?b", "a/b"));
  CHECK(glob_match("*a*b*", "xxaxxbxx"));
  CHECK_FALSE(glob_match("*a*b*", "xxbxxaxx"));
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("exact.csv", "exact.csv"));
  CHECK_FALSE(glob_match("exact.csv", "Exact.csv"));
}

TEST_CASE("glob: character classes, ranges and negation", "[unit][files]") {
  CHECK(glob_match("[abc].csv", "b.csv"));
  CHECK_FALSE(glob_match("[abc].csv", "d.csv"));
  CHECK(glob_match("day-[0-9][0-9].csv", "day-07.csv"));
  CHECK_FALSE(glob_match("day-[0-9][0-9].csv", "day-7x.csv"));
  CHECK(glob_match("[!x]*.csv", "a.csv"));
  CHECK_FALSE(glob_match("[!x]*.csv", "x1.csv"));
  CHECK(glob_match("[^x].csv", "y.csv"));
  CHECK(glob_match("[]a].csv", "].csv"));  // `]` first in a class is literal
  CHECK(glob_match("[a-].csv", "-.csv"));
  CHECK(glob_match("[abc.csv", "[abc.csv"));  // no closing `]`: a literal `[`
  CHECK_FALSE(glob_match("a[/]b", "a/b"));
}

TEST_CASE("glob: ** as a whole segment matches zero or more directories", "[unit][files]") {
  CHECK(glob_match("**/*.jsonl", "a.jsonl"));
  CHECK(glob_match("**/*.jsonl", "x/a.jsonl"));
  CHECK(glob_match("**/*.jsonl", "x/y/a.jsonl"));
  CHECK_FALSE(glob_match("**/*.jsonl", "x/y/a.csv"));
  CHECK(glob_match("in/**/day-*.csv", "in/day-1.csv"));
  CHECK(glob_match("in/**/day-*.csv", "in/2024/05/day-1.csv"));
  CHECK_FALSE(glob_match("in/**/day-*.csv", "out/2024/day-1.csv"));
  CHECK(glob_match("a/**/b/**/c.csv", "a/x/b/y/z/c.csv"));
  CHECK(glob_match("a/**/b/**/c.csv", "a/b/c.csv"));
  CHECK_FALSE(glob_match("a/**/b/**/c.csv", "a/x/c.csv"));
  CHECK(glob_match("a**b", "axxb"));  // not a whole segment: just stars
  CHECK_FALSE(glob_match("a**b", "ax/xb"));
}

TEST_CASE("glob: a trailing ** matches every file below its directory", "[unit][files]") {
  CHECK(glob_match("logs/**", "logs/a.csv"));
  CHECK(glob_match("logs/**", "logs/2024/05/a.csv"));
  CHECK_FALSE(glob_match("logs/**", "logs"));
  CHECK_FALSE(glob_match("logs/**", "other/a.csv"));
  CHECK(glob_match("**", "a.csv"));
  CHECK(glob_match("**", "x/y/a.csv"));
}

TEST_CASE("glob: the literal prefix directory and recursion are known from the pattern", "[unit][files]") {
  using tidemark::files::glob_has_recursion;
  using tidemark::files::glob_literal_prefix_dir;
  CHECK(glob_literal_prefix_dir("in/2024/*.csv") == "in/2024");
  CHECK(glob_literal_prefix_dir("in/2024/data.csv") == "in/2024");
  CHECK(glob_literal_prefix_dir("in/*/x/*.csv") == "in");
  CHECK(glob_literal_prefix_dir("in/day-[0-9]/a.csv") == "in");
  CHECK(glob_literal_prefix_dir("*.csv") == "");
  CHECK(glob_literal_prefix_dir("**/*.csv") == "");
  CHECK(glob_literal_prefix_dir("logs/**") == "logs");
  CHECK(glob_has_recursion("logs/**"));
  CHECK(glob_has_recursion("**/a.csv"));
  CHECK(glob_has_recursion("a/**/b.csv"));
  CHECK_FALSE(glob_has_recursion("a/*/b.csv"));
  CHECK_FALSE(glob_has_recursion("a**b.csv"));
}

TEST_CASE("glob: hidden and temporary files are excluded by default", "[unit][files]") {
  using tidemark::files::is_hidden_or_temp;
  CHECK(is_hidden_or_temp(".hidden.csv"));
  CHECK(is_hidden_or_temp(".git/objects/a.csv"));
  CHECK(is_hidden_or_temp("in/.staging/a.csv"));
  CHECK(is_hidden_or_temp("a.csv.tmp"));
  CHECK(is_hidden_or_temp("a.csv.part"));
  CHECK(is_hidden_or_temp("a.csv.partial"));
  CHECK(is_hidden_or_temp("a.csv.crdownload"));
  CHECK(is_hidden_or_temp("a.csv~"));
  CHECK(is_hidden_or_temp("A.CSV.TMP"));
  CHECK_FALSE(is_hidden_or_temp("in/2024/a.csv"));
  CHECK_FALSE(is_hidden_or_temp("a.tmp.csv"));
  CHECK_FALSE(is_hidden_or_temp("./in/a.csv"));
}

TEST_CASE("files: the format follows the file name, .gz included", "[unit][files]") {
  using tidemark::files::format_from_name;
  using tidemark::files::kind_from_name;
  using K = Format::Kind;
  CHECK(kind_from_name("a.csv") == K::kCsv);
  CHECK(kind_from_name("dir/A.CSV.GZ") == K::kCsv);
  CHECK(kind_from_name("a.tsv") == K::kCsv);
  CHECK(kind_from_name("a.jsonl") == K::kJsonl);
  CHECK(kind_from_name("a.ndjson.gz") == K::kJsonl);
  CHECK_FALSE(kind_from_name("a.json").has_value());
  CHECK_FALSE(kind_from_name("a.gz").has_value());
  CHECK_FALSE(kind_from_name("csv").has_value());
  CHECK(format_from_name("a.tsv.gz")->delimiter == '\t');
  CHECK(format_from_name("a.csv")->delimiter == ',');
}

// ---- CSV -------------------------------------------------------------------------------------

TEST_CASE("csv: a header maps fields to target columns by name, in target order", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "name,id\nalice,1\nbob,2\n");
  CHECK(read_all(p, csv(), {"id", "name"}) == Lines{"1\talice", "2\tbob"});
  RecordReader reader(p, csv(), {"id", "name"});
  Record r;
  REQUIRE(reader.next(r));
  CHECK(r.line == 2);
  CHECK(r.raw == "alice,1");
  REQUIRE(reader.next(r));
  CHECK(r.line == 3);
  CHECK_FALSE(reader.next(r));
  CHECK_FALSE(reader.next(r));  // stays at the end
  CHECK(reader.bytes_read() == static_cast<int64_t>(fs::file_size(p)));
}

TEST_CASE("csv: a quoted field may hold the delimiter, doubled quotes and a newline", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv",
                          "id,note\n"
                          "1,\"a, b\"\n"
                          "2,\"say \"\"hi\"\"\"\n"
                          "3,\"two\nlines\"\n"
                          "4,\"crlf\r\ninside\"\r\n"
                          "5,\"\"\"\"\n");
  CHECK(read_all(p, csv(), {"id", "note"}) ==
        Lines{"1\ta, b", "2\tsay \"hi\"", "3\ttwo\\nlines", "4\tcrlf\\r\\ninside", "5\t\""});
}

TEST_CASE("csv: an unquoted empty field is NULL, a quoted empty field is an empty string", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "a,b,c\n,\"\",x\n\"\",,\n");
  CHECK(read_all(p, csv(), {"a", "b", "c"}) == Lines{"\\N\t\tx", "\t\\N\t\\N"});
}

TEST_CASE("csv: a custom null string, delimiter and quote", "[unit][files]") {
  TempDir dir;
  Format f = csv(';');
  f.quote = '\'';
  f.null_string = "NULL";
  const auto p = dir.file("a.csv", "a;b;c\nNULL;'NULL';\n'x;y';'it''s';\"q\"\n");
  CHECK(read_all(p, f, {"a", "b", "c"}) == Lines{"\\N\tNULL\t", "x;y\tit's\t\"q\""});

  Format tsv = csv('\t');
  tsv.null_string = "\\N";
  const auto t = dir.file("a.tsv", "a\tb\n\\N\tx y\n");
  CHECK(read_all(t, tsv, {"a", "b"}) == Lines{"\\N\tx y"});
}

TEST_CASE("csv: values are COPY-escaped and NULL is \\N", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "a,b\n\"back\\slash\",\"tab\there\"\n\"nl\nx\",\"cr\rx\"\n\\N,\n");
  CHECK(read_all(p, csv(), {"a", "b"}) ==
        Lines{"back\\\\slash\ttab\\there", "nl\\nx\tcr\\rx", "\\\\N\t\\N"});
}

TEST_CASE("csv: CRLF line ends, a BOM and a last line without a newline", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "\xEF\xBB\xBFid,name\r\n1,a\r\n2,b");
  CHECK(read_all(p, csv(), {"id", "name"}) == Lines{"1\ta", "2\tb"});
}

TEST_CASE("csv: header names match exactly first, then ignoring case", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "ID,Name\n1,a\n");
  CHECK(read_all(p, csv(), {"id", "name"}) == Lines{"1\ta"});
  // "Name" is exact for one column, so the other one is not a case-insensitive candidate.
  const auto q = dir.file("b.csv", "Name\nx\n");
  CHECK(read_all(q, csv(), {"name", "Name"}) == Lines{"\\N\tx"});
  const auto amb = stop_error(dir.file("c.csv", "NAME\nx\n"), csv(), {"name", "Name"});
  CHECK_THAT(amb.reason(), Contains("\"NAME\"") && Contains("several target columns"));
}

TEST_CASE("csv: an unknown header name is an error naming it and the target columns", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "id,nmae\n1,a\n");
  const FileError e = stop_error(p, csv(), {"id", "name", "amount"});
  CHECK(e.line() == 1);
  CHECK(e.file() == p);
  CHECK_THAT(e.what(), Contains(p + ":1: column \"nmae\" in the header is not a target column"));
  CHECK_THAT(e.reason(), Contains("did you mean 'name'") && Contains("id, name, amount"));
}

TEST_CASE("csv: ignore_unknown skips unknown header fields", "[unit][files]") {
  TempDir dir;
  Format f = csv();
  f.ignore_unknown = true;
  const auto p = dir.file("a.csv", "extra,id,other\nx,1,y\n");
  CHECK(read_all(p, f, {"id"}) == Lines{"1"});
}

TEST_CASE("csv: duplicate header names are an error", "[unit][files]") {
  TempDir dir;
  const FileError e = stop_error(dir.file("a.csv", "id,name,ID\n1,a,2\n"), csv(), {"id", "name"});
  CHECK(e.line() == 1);
  CHECK_THAT(e.reason(), Contains("header fields 1 (\"id\") and 3 (\"ID\") both name column \"id\""));
}

TEST_CASE("csv: target columns missing from the header are NULL and listed", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "b\nx\n");
  RecordReader reader(p, csv(), {"a", "b", "c"});
  CHECK(reader.missing_columns() == Lines{"a", "c"});
  Record r;
  REQUIRE(reader.next(r));
  CHECK(r.copy_line == "\\N\tx\t\\N");
}

TEST_CASE("csv: a wrong field count names the physical line, counting newlines inside quotes", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv",
                          "a,b,c,d,e\n"
                          "1,\"multi\nline\nvalue\",3,4,5\n"  // lines 2-4
                          "1,2,3,4\n"                         // line 5
                          "1,2,3,4,5,6\n"                     // line 6
                          "1,2,3,4,5\n");                     // line 7
  const auto got = read_all(p, csv(), {"a", "b", "c", "d", "e"});
  CHECK(got == Lines{"1\tmulti\\nline\\nvalue\t3\t4\t5", "line 5: expected 5 fields, found 4",
                     "line 6: expected 5 fields, found 6", "1\t2\t3\t4\t5"});
  RecordReader reader(p, csv(), {"a", "b", "c", "d", "e"});
  Record r;
  REQUIRE(reader.next(r));
  CHECK(r.line == 2);
  CHECK(r.raw == "1,\"multi\nline\nvalue\",3,4,5");
  try {
    reader.next(r);
    FAIL("expected a field-count error");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()) == p + ":5: expected 5 fields, found 4");
    CHECK(e.record() == "1,2,3,4");
  }
  CHECK(reader.can_continue());
}

TEST_CASE("csv: an unterminated quote at end of file names the line where the field started", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "a,b\n1,2\n3,\"open\nmore\nend\n");
  RecordReader reader(p, csv(), {"a", "b"});
  Record r;
  REQUIRE(reader.next(r));
  try {
    reader.next(r);
    FAIL("expected an unterminated-quote error");
  } catch (const FileError& e) {
    CHECK(e.line() == 3);
    CHECK_THAT(e.reason(), Contains("quoted field 2 starts here and is never closed"));
  }
  CHECK_FALSE(reader.can_continue());
  CHECK_THROWS_AS(reader.next(r), FileError);  // the same error again, not a silent end
}

TEST_CASE("csv: bad quoting is a per-record error and reading goes on", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", "a,b\n1,\"x\"y\n2,ab\"c\n3,ok\n");
  const auto got = read_all(p, csv(), {"a", "b"});
  REQUIRE(got.size() == 3);
  CHECK_THAT(got[0], Contains("line 2: text after the closing quote (field 2"));
  CHECK_THAT(got[1], Contains("line 3: a quote inside an unquoted field (field 2"));
  CHECK(got[2] == "3\tok");
}

TEST_CASE("csv: blank lines are skipped, except in a one-column file", "[unit][files]") {
  TempDir dir;
  CHECK(read_all(dir.file("a.csv", "a,b\n\n1,2\n\n"), csv(), {"a", "b"}) == Lines{"1\t2"});
  // As in PostgreSQL's COPY … CSV, an empty line of a one-column file is one empty field.
  CHECK(read_all(dir.file("b.csv", "a\n1\n\n2\n"), csv(), {"a"}) == Lines{"1", "\\N", "2"});
}

TEST_CASE("csv: an empty file has no header and is an error", "[unit][files]") {
  TempDir dir;
  const FileError e = stop_error(dir.file("a.csv", ""), csv(), {"a"});
  CHECK(e.line() == 0);
  CHECK_THAT(e.reason(), Contains("a header row is required"));
  // A header alone is a file with no records.
  CHECK(read_all(dir.file("b.csv", "a\n"), csv(), {"a"}).empty());
}

TEST_CASE("csv: the raw text of a record is capped at 64 KiB on a character boundary", "[unit][files]") {
  TempDir dir;
  std::string big;
  for (int i = 0; i < 40000; ++i) big += "\xC3\xA9";  // é, 80000 bytes
  const auto p = dir.file("a.csv", "a\n" + big + "\n");
  RecordReader reader(p, csv(), {"a"});
  Record r;
  REQUIRE(reader.next(r));
  CHECK(r.copy_line == big);
  CHECK(r.raw.size() == 64 * 1024);
  CHECK(r.raw == big.substr(0, 64 * 1024));
}

TEST_CASE("csv: a record longer than max_record_bytes is a file error", "[unit][files]") {
  TempDir dir;
  Format f = csv();
  f.max_record_bytes = 100;
  const FileError line = stop_error(dir.file("a.csv", "a\n" + std::string(200, 'x') + "\n"), f, {"a"});
  CHECK(line.line() == 2);
  CHECK_THAT(line.reason(), Contains("longer than 100 bytes"));
  std::string runaway = "a\n\"";
  for (int i = 0; i < 50; ++i) runaway += "0123456789\n";
  const FileError quote = stop_error(dir.file("b.csv", runaway), f, {"a"});
  CHECK_THAT(quote.reason(), Contains("is a quote missing in field 1, which starts on line 2"));
}

TEST_CASE("csv: a NUL byte in a value is a per-record error", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.csv", std::string("a\nx\0y\nok\n", 9));
  const auto got = read_all(p, csv(), {"a"});
  REQUIRE(got.size() == 2);
  CHECK_THAT(got[0], Contains("line 2: column \"a\" holds a NUL byte"));
  CHECK(got[1] == "ok");
}

// ---- gzip and the byte source ------------------------------------------------------------------

TEST_CASE("gzip: a compressed file reads like the plain one", "[unit][files]") {
  TempDir dir;
  std::string text = "id,v\n";
  for (int i = 0; i < 5000; ++i) text += std::to_string(i) + ",\"v\n" + std::to_string(i) + "\"\n";
  const auto plain = read_all(dir.file("a.csv", text), csv(), {"id", "v"});
  const auto gz = dir.gz("a.csv.gz", text);
  CHECK(read_all(gz, csv(), {"id", "v"}) == plain);
  CHECK(plain.size() == 5000);
  RecordReader reader(gz, csv(), {"id", "v"});
  Record r;
  while (reader.next(r)) {
  }
  CHECK(reader.bytes_read() == static_cast<int64_t>(fs::file_size(gz)));
}

TEST_CASE("gzip: a truncated file is an error, not a short file", "[unit][files]") {
  TempDir dir;
  std::string text = "id\n";
  for (int i = 0; i < 100000; ++i) text += std::to_string(i * 7919 % 100003) + "\n";
  const auto whole = dir.gz("whole.csv.gz", text);
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto half = dir.file("half.csv.gz", bytes.substr(0, bytes.size() / 2));
  const FileError e = stop_error(half, csv(), {"id"});
  CHECK_THAT(e.reason(), Contains("unexpected end of compressed data"));
  CHECK(e.line() > 1);  // how far it got
  // Even with every record intact, a missing trailer (CRC and length) is an error.
  const auto no_trailer = dir.file("trailer.csv.gz", bytes.substr(0, bytes.size() - 8));
  CHECK_THAT(stop_error(no_trailer, csv(), {"id"}).reason(), Contains("unexpected end of compressed data"));
}

TEST_CASE("gzip: corrupt data is an error", "[unit][files]") {
  TempDir dir;
  std::string text = "id\n";
  for (int i = 0; i < 20000; ++i) text += std::to_string(i) + "\n";
  std::ifstream in(dir.gz("ok.csv.gz", text), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i) bytes[i] = '\xFF';
  const FileError e = stop_error(dir.file("bad.csv.gz", bytes), csv(), {"id"});
  CHECK_THAT(e.reason(), Contains("corrupt compressed data"));
}

TEST_CASE("files: a missing file is an error naming it", "[unit][files]") {
  TempDir dir;
  const auto p = dir.path("nope.csv");
  const FileError e = stop_error(p, csv(), {"a"});
  CHECK(std::string(e.what()) == p + ": cannot open: No such file or directory");
}

// ---- JSON Lines ------------------------------------------------------------------------------

TEST_CASE("jsonl: keys map to columns; strings, numbers, booleans and null", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl",
                          "{\"id\": 1, \"name\": \"al\\tice\\n\", \"ok\": true, \"score\": -2.5}\n"
                          "{\"ok\": false, \"id\": 2, \"name\": null}\n"
                          "{\"ID\": 3, \"Name\": \"back\\\\slash é\"}\n");
  CHECK(read_all(p, jsonl(), {"id", "name", "ok", "score"}) ==
        Lines{"1\tal\\tice\\n\ttrue\t-2.5", "2\t\\N\tfalse\t\\N", "3\tback\\\\slash é\t\\N\t\\N"});
}

TEST_CASE("jsonl: big integers and decimals keep their exact text", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl",
                          "{\"n\": 12345678901234567890}\n"
                          "{\"n\": 0.1}\n"
                          "{\"n\": 1.10}\n"
                          "{\"n\": 123456789012345678901234567890.000000000000000001}\n"
                          "{\"n\": -99999999999999999999999}\n"
                          "{\"n\": 1E+2}\n"
                          "{\"n\": -9223372036854775808}\n"
                          "{\"n\": {\"x\": [0.1, 12345678901234567890123]}}\n");
  CHECK(read_all(p, jsonl(), {"n"}) ==
        Lines{"12345678901234567890", "0.1", "1.10",
              "123456789012345678901234567890.000000000000000001", "-99999999999999999999999",
              "1E+2", "-9223372036854775808", "{\"x\":[0.1,12345678901234567890123]}"});
}

TEST_CASE("jsonl: nested objects and arrays become compact JSON text", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl",
                          "{\"id\": 1, \"doc\": {\"a\": [1, \"x\\\"y\", null, {\"b\": true}], \"c\": {}},"
                          " \"tags\": [ ], \"skip\": {\"deep\": [1, 2]}}\n"
                          "{\"id\": 2, \"doc\": [[1, 2], [3], \"tab\\t\"]}\n");
  Format f = jsonl();
  f.ignore_unknown = true;
  CHECK(read_all(p, f, {"id", "doc", "tags"}) ==
        Lines{"1\t{\"a\":[1,\"x\\\\\"y\",null,{\"b\":true}],\"c\":{}}\t[]",
              "2\t[[1,2],[3],\"tab\\\\t\"]\t\\N"});
}

TEST_CASE("jsonl: a line that is not a JSON object is a per-record error", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl",
                          "{\"id\": 1}\n"
                          "[1, 2]\n"
                          "{\"id\": tru}\n"
                          "42\n"
                          "{\"id\": 2} trailing\n"
                          "{\"id\": 3}\n");
  const auto got = read_all(p, jsonl(), {"id"});
  REQUIRE(got.size() == 6);
  CHECK(got[0] == "1");
  CHECK(got[1] == "line 2: not a JSON object: the line holds an array");
  CHECK_THAT(got[2], Contains("line 3: not a JSON object: parse error at column") &&
                         Contains("invalid literal"));
  CHECK(got[3] == "line 4: not a JSON object: the line holds a number");
  CHECK_THAT(got[4], Contains("line 5: not a JSON object: parse error") && Contains("end of input"));
  CHECK(got[5] == "3");
}

TEST_CASE("jsonl: an unknown key is an error unless ignore_unknown", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl", "{\"id\": 1, \"nmae\": \"x\"}\n{\"id\": 2}\n");
  const auto got = read_all(p, jsonl(), {"id", "name"});
  REQUIRE(got.size() == 2);
  CHECK_THAT(got[0], Contains("line 1: key \"nmae\" is not a target column (did you mean 'name'?)") &&
                         Contains("(target columns: id, name)"));
  CHECK(got[1] == "2\t\\N");
  Format f = jsonl();
  f.ignore_unknown = true;
  CHECK(read_all(p, f, {"id", "name"}) == Lines{"1\t\\N", "2\t\\N"});
}

TEST_CASE("jsonl: a key that sets a column twice is an error", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl", "{\"id\": 1, \"ID\": 2}\n");
  const auto got = read_all(p, jsonl(), {"id"});
  REQUIRE(got.size() == 1);
  CHECK(got[0] == "line 1: key \"ID\": column \"id\" is set twice");
}

TEST_CASE("jsonl: blank lines are skipped and line numbers stay physical", "[unit][files]") {
  TempDir dir;
  const auto p = dir.gz("a.jsonl.gz", "\xEF\xBB\xBF{\"id\": 1}\r\n\r\n   \n{\"id\": 2}");
  RecordReader reader(p, jsonl(), {"id"});
  Record r;
  REQUIRE(reader.next(r));
  CHECK(r.line == 1);
  CHECK(r.copy_line == "1");
  REQUIRE(reader.next(r));
  CHECK(r.line == 4);
  CHECK(r.raw == "{\"id\": 2}");
  CHECK_FALSE(reader.next(r));
}

TEST_CASE("jsonl: missing_columns lists the columns no record had", "[unit][files]") {
  TempDir dir;
  const auto p = dir.file("a.jsonl", "{\"a\": 1}\n{\"b\": null}\n");
  RecordReader reader(p, jsonl(), {"a", "b", "c"});
  CHECK(reader.missing_columns() == Lines{"a", "b", "c"});
  Record r;
  while (reader.next(r)) {
  }
  CHECK(reader.missing_columns() == Lines{"c"});
}

// ---- scale -----------------------------------------------------------------------------------

TEST_CASE("files: a million-row gzip file streams through one record at a time", "[unit][files]") {
  TempDir dir;
  const std::string p = dir.path("big.csv.gz");
  {
    gzFile g = gzopen(p.c_str(), "wb1");
    REQUIRE(g != nullptr);
    gzputs(g, "id,name,note\n");
    std::string chunk;
    for (int i = 0; i < 1000000; ++i) {
      chunk += std::to_string(i) + ",name " + std::to_string(i) + ",\"a, \"\"quoted\"\"\nnote\"\n";
      if (chunk.size() > (1 << 16)) {
        gzwrite(g, chunk.data(), static_cast<unsigned>(chunk.size()));
        chunk.clear();
      }
    }
    gzwrite(g, chunk.data(), static_cast<unsigned>(chunk.size()));
    REQUIRE(gzclose(g) == Z_OK);
  }
  RecordReader reader(p, csv(), {"id", "name", "note"});
  Record r;
  int64_t rows = 0;
  while (reader.next(r)) ++rows;
  CHECK(rows == 1000000);
  CHECK(r.copy_line == "999999\tname 999999\ta, \"quoted\"\\nnote");
  CHECK(r.line == 2000000);
}
