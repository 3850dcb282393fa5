// SQL text without a database (identifier quoting, qualified names, Sql with values kept
// apart), and the small pure helpers: durations, did-you-mean, password redaction.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "tidemark/sql.hpp"
#include "tidemark/util.hpp"

using Catch::Contains;
using tidemark::NamePart;
using tidemark::QualifiedName;
using tidemark::quote_ident;
using tidemark::split_name;
using tidemark::split_name_error;
using tidemark::SplitName;
using tidemark::Sql;
using tidemark::SqlValue;

namespace {

// parse() that must fail; returns its reason.
std::string parse_error(const std::string& text) {
  std::string why;
  const auto q = QualifiedName::parse(text, &why);
  CHECK_FALSE(q.has_value());
  return why;
}

QualifiedName parse_ok(const std::string& text) {
  std::string why;
  const auto q = QualifiedName::parse(text, &why);
  INFO("parse error for " << text << ": " << why);
  REQUIRE(q.has_value());
  return *q;
}

}  // namespace

TEST_CASE("sql: quote_ident double-quotes every identifier and doubles embedded quotes", "[unit][sql]") {
  CHECK(quote_ident("orders") == "\"orders\"");
  CHECK(quote_ident("Orders") == "\"Orders\"");  // case is kept, never folded
  CHECK(quote_ident("a\"b") == "\"a\"\"b\"");
  CHECK(quote_ident("\"") == "\"\"\"\"");
  CHECK(quote_ident("Order Id") == "\"Order Id\"");
  CHECK(quote_ident("größe_été") == "\"größe_été\"");  // UTF-8 bytes pass through untouched
  CHECK(quote_ident("\"; drop table x; --") == "\"\"\"; drop table x; --\"");
  CHECK(quote_ident("select") == "\"select\"");  // reserved words are safe
  CHECK(quote_ident("") == "\"\"");
}

TEST_CASE("sql: a qualified name parses schema.table and a bare table", "[unit][sql]") {
  const QualifiedName q = parse_ok("public.orders");
  CHECK(q.schema == "public");
  CHECK(q.name == "orders");
  CHECK(q.quoted() == "\"public\".\"orders\"");
  CHECK(q.display() == "public.orders");

  const QualifiedName bare = parse_ok("Orders");
  CHECK(bare.schema.empty());
  CHECK(bare.name == "Orders");
  CHECK(bare.quoted() == "\"Orders\"");
  CHECK(bare.display() == "Orders");
}

TEST_CASE("sql: quoted name parts may hold dots, spaces and doubled quotes", "[unit][sql]") {
  const QualifiedName q = parse_ok("\"Sales EU\".\"orders.2024\"");
  CHECK(q.schema == "Sales EU");
  CHECK(q.name == "orders.2024");
  CHECK(q.quoted() == "\"Sales EU\".\"orders.2024\"");

  const QualifiedName w = parse_ok("raw.\"we\"\"ird\"");
  CHECK(w.schema == "raw");
  CHECK(w.name == "we\"ird");
  CHECK(w.quoted() == "\"raw\".\"we\"\"ird\"");

  const QualifiedName only = parse_ok("\"a.b\"");
  CHECK(only.schema.empty());
  CHECK(only.name == "a.b");

  const QualifiedName evil = parse_ok("\"x\"\"; drop table t; --\"");
  CHECK(evil.name == "x\"; drop table t; --");
  CHECK(evil.quoted() == "\"x\"\"; drop table t; --\"");
}

TEST_CASE("sql: malformed qualified names are refused with the reason", "[unit][sql]") {
  CHECK(parse_error("a.b.c") == "expected `table` or `schema.table`");
  CHECK(parse_error("\"unterminated") == "unterminated quoted name");
  CHECK(parse_error("public.\"orders") == "unterminated quoted name");
  CHECK(parse_error(".orders") == "empty name part");
  CHECK(parse_error("a..b") == "empty name part");
  CHECK(parse_error("public.") == "empty name");
  CHECK(parse_error("") == "empty name");
  CHECK(parse_error("\"\"") == "empty name");
  CHECK(parse_error("ab\"c\"") == "unexpected '\"' inside a name");
  CHECK(parse_error("\"ab\"c") == "text after a closing quote");
  // The error pointer is optional.
  CHECK_FALSE(QualifiedName::parse("a.b.c", nullptr).has_value());
}

TEST_CASE("sql: split_name gives every dotted part with its text and whether it was quoted", "[unit][sql]") {
  auto parts = [](const std::string& text) {
    const SplitName s = split_name(text);
    INFO("split error for " << text << ": " << split_name_error(s.error));
    CHECK(s.error == SplitName::Error::none);
    std::vector<std::pair<std::string, bool>> out;
    for (const NamePart& p : s.parts) out.emplace_back(p.text, p.quoted);
    return out;
  };
  using P = std::vector<std::pair<std::string, bool>>;
  CHECK(parts("public.orders") == P{{"public", false}, {"orders", false}});
  CHECK(parts("\"Sales EU\".order_*") == P{{"Sales EU", true}, {"order_*", false}});
  CHECK(parts("raw.\"we\"\"ird.x\"") == P{{"raw", false}, {"we\"ird.x", true}});
  // Emptiness and the number of parts are the caller's to judge.
  CHECK(parts("") == P{{"", false}});
  CHECK(parts("a..\"\"") == P{{"a", false}, {"", false}, {"", true}});
  CHECK(parts("a.b.c").size() == 3);
}

TEST_CASE("sql: split_name stops at the first syntax error, keeping the parts before it", "[unit][sql]") {
  const SplitName inside = split_name("x..ab\"c\".d");
  CHECK(inside.error == SplitName::Error::quote_inside_part);
  REQUIRE(inside.parts.size() == 3);
  CHECK(inside.parts[1].text.empty());  // the empty part before the error is there to be judged
  CHECK(inside.parts[2].text == "ab");
  CHECK(split_name("\"ab\"c").error == SplitName::Error::text_after_quote);
  CHECK(split_name("a.\"b").error == SplitName::Error::unterminated);
  CHECK(std::string(split_name_error(SplitName::Error::unterminated)) == "unterminated quoted name");
  CHECK(std::string(split_name_error(SplitName::Error::none)).empty());
}

TEST_CASE("sql: Sql keeps values apart from the text and renders placeholders, display and custom forms",
          "[unit][sql]") {
  Sql s("SELECT * FROM t WHERE a = ");
  s.value(std::string("it's")).text(" AND b IS NOT DISTINCT FROM ").value(std::nullopt).text(" LIMIT 1");
  CHECK(s.parts() == std::vector<std::string>{"SELECT * FROM t WHERE a = ", " AND b IS NOT DISTINCT FROM ", " LIMIT 1"});
  REQUIRE(s.values().size() == 2);
  CHECK(s.values()[0] == SqlValue("it's"));
  CHECK_FALSE(s.values()[1].has_value());
  CHECK(s.with_placeholders() == "SELECT * FROM t WHERE a = $1 AND b IS NOT DISTINCT FROM $2 LIMIT 1");
  CHECK(s.display() == "SELECT * FROM t WHERE a = 'it''s' AND b IS NOT DISTINCT FROM NULL LIMIT 1");
  CHECK(s.render([](const SqlValue& v) { return v ? "<" + *v + ">" : std::string("<null>"); }) ==
        "SELECT * FROM t WHERE a = <it's> AND b IS NOT DISTINCT FROM <null> LIMIT 1");
  CHECK_FALSE(s.empty());
}

TEST_CASE("sql: append joins statements and renumbers their placeholders", "[unit][sql]") {
  Sql a("a = ");
  a.value(std::string("1"));
  Sql b(" AND b = ");
  b.value(std::string("2")).text(" AND c = ").value(std::string("3"));
  Sql c;  // starts with a value
  c.value(std::string("4")).text(" = d");
  a.append(b).text(" AND ").append(c);
  CHECK(a.with_placeholders() == "a = $1 AND b = $2 AND c = $3 AND $4 = d");
  CHECK(a.display() == "a = '1' AND b = '2' AND c = '3' AND '4' = d");
  CHECK(a.values() == std::vector<SqlValue>{"1", "2", "3", "4"});
  CHECK(a.parts().size() == 5);
  // The appended statement is unchanged.
  CHECK(b.with_placeholders() == " AND b = $1 AND c = $2");
}

TEST_CASE("sql: placeholders count past nine and empty() means no text and no values", "[unit][sql]") {
  Sql s;
  for (int i = 0; i < 11; ++i) s.text(i ? "," : "").value(std::to_string(i));
  CHECK(s.with_placeholders() == "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11");
  CHECK(Sql().empty());
  CHECK(Sql("").empty());
  CHECK_FALSE(Sql("x").empty());
  Sql v;
  v.value(std::string(""));
  CHECK_FALSE(v.empty());
  CHECK(v.display() == "''");
}

TEST_CASE("sql: ident_list quotes each name and prefixes an alias when given", "[unit][sql]") {
  using tidemark::ident_list;
  CHECK(ident_list({"id", "Amount", "a\"b"}) == "\"id\", \"Amount\", \"a\"\"b\"");
  CHECK(ident_list({"id", "updated_at"}, "s") == "s.\"id\", s.\"updated_at\"");
  CHECK(ident_list({"x"}, "EXCLUDED") == "EXCLUDED.\"x\"");
  CHECK(ident_list({}).empty());
}

TEST_CASE("sql: display of a name whose part holds a dot keeps it unambiguous",
          "[unit][sql]") {
  const QualifiedName q = parse_ok("\"Sales EU\".\"orders.2024\"");
  std::string why;
  const auto again = QualifiedName::parse(q.display(), &why);
  REQUIRE(again.has_value());
  CHECK(again->schema == "Sales EU");
  CHECK(again->name == "orders.2024");
}

// --- util -------------------------------------------------------------------------------

TEST_CASE("util: durations parse to microseconds in every documented unit", "[unit][util]") {
  using tidemark::parse_duration_us;
  CHECK(parse_duration_us("90s") == std::optional<int64_t>(90'000'000));
  CHECK(parse_duration_us("15m") == std::optional<int64_t>(900'000'000));
  CHECK(parse_duration_us("2h") == std::optional<int64_t>(7'200'000'000));
  CHECK(parse_duration_us("1d") == std::optional<int64_t>(86'400'000'000));
  CHECK(parse_duration_us("500ms") == std::optional<int64_t>(500'000));
  CHECK(parse_duration_us("250us") == std::optional<int64_t>(250));
  CHECK(parse_duration_us("10 minutes") == std::optional<int64_t>(600'000'000));
  CHECK(parse_duration_us("3 sec") == std::optional<int64_t>(3'000'000));
  CHECK(parse_duration_us("2 hours") == std::optional<int64_t>(7'200'000'000));
  CHECK(parse_duration_us("7 days") == std::optional<int64_t>(604'800'000'000));
  CHECK(parse_duration_us(" 15m ") == std::optional<int64_t>(900'000'000));
  CHECK(parse_duration_us("0s") == std::optional<int64_t>(0));
}

TEST_CASE("util: durations without a unit, with fractions, signs or combinations are refused", "[unit][util]") {
  using tidemark::parse_duration_us;
  for (const char* bad : {"", "m", "15", "1.5h", "1h30m", "-5m", "+5m", "15x", "15 M", "s15", "1234567890123s"}) {
    INFO("duration: '" << bad << "'");
    CHECK_FALSE(parse_duration_us(bad).has_value());
  }
}

TEST_CASE("util: intervals are PostgreSQL literals in seconds, or microseconds for fractions", "[unit][util]") {
  using tidemark::format_interval_us;
  CHECK(format_interval_us(900'000'000) == "900 seconds");
  CHECK(format_interval_us(0) == "0 seconds");
  CHECK(format_interval_us(1'500'000) == "1500000 microseconds");
  CHECK(format_interval_us(250) == "250 microseconds");
}

TEST_CASE("util: a duration too large for 64-bit microseconds is refused instead of overflowing",
          "[unit][util]") {
  using tidemark::parse_duration_us;
  CHECK_FALSE(parse_duration_us("999999999999d").has_value());
  CHECK_FALSE(parse_duration_us("999999999999h").has_value());
}

TEST_CASE("util: suggest picks the closest candidate when it is a likely typo", "[unit][util]") {
  using tidemark::did_you_mean;
  using tidemark::suggest;
  CHECK(suggest("stratgy", {"cursor", "strategy", "lookback"}) == std::optional<std::string>("strategy"));
  CHECK(suggest("upsrt", {"upsert", "delete_insert", "append", "full_refresh"}) == std::optional<std::string>("upsert"));
  CHECK(suggest("batchsize", {"name", "batch_size"}) == std::optional<std::string>("batch_size"));
  CHECK(suggest("updated", {"id", "updated_at", "full"}) == std::nullopt);  // three edits is too far
  CHECK(suggest("zzzzzz", {"id", "updated_at", "full"}) == std::nullopt);
  CHECK(suggest("x", {}) == std::nullopt);
  CHECK(did_you_mean("warehose", {"app", "warehouse"}) == " (did you mean 'warehouse'?)");
  CHECK(did_you_mean("zzzzzz", {"app", "warehouse"}).empty());
}

TEST_CASE("util: redact_dsn removes the password of a URI, a key=value DSN and a password query parameter",
          "[unit][util]") {
  using tidemark::redact_dsn;
  CHECK(redact_dsn("postgresql://etl:s3cr3t@db1:5432/app") == "postgresql://etl:***@db1:5432/app");
  CHECK(redact_dsn("postgres://etl:p%40ss@db1/app?sslmode=require") == "postgres://etl:***@db1/app?sslmode=require");
  CHECK(redact_dsn("host=db1 user=etl password='se cret pw' dbname=app") == "host=db1 user=etl password=*** dbname=app");
  CHECK(redact_dsn("host=db1 password = plain dbname=app") == "host=db1 password = *** dbname=app");
  CHECK(redact_dsn("host=db1 password='it\\'s x' dbname=app") == "host=db1 password=*** dbname=app");
  CHECK(redact_dsn("host=db1 PASSWORD=Upper") == "host=db1 PASSWORD=***");
  const std::string qp = redact_dsn("postgresql://etl@db1/app?password=s3cr3t");
  CHECK(qp == "postgresql://etl@db1/app?password=***");
}

TEST_CASE("util: redact_text leaves text without secrets untouched", "[unit][util]") {
  using tidemark::redact_text;
  for (const std::string& plain :
       {std::string("connection to server at \"db1\" (10.0.0.7), port 5432 failed: FATAL:  password authentication "
                    "failed for user \"etl\""),
        std::string("postgresql://etl@db1/app"), std::string("host=db1 dbname=app user=etl"),
        std::string("http://example.com/x:y@z"), std::string("")}) {
    CHECK(redact_text(plain) == plain);
  }
  CHECK(redact_text("could not connect: postgresql://u:hunter2@h/db refused") ==
        "could not connect: postgresql://u:***@h/db refused");
  CHECK_THAT(redact_text("dsn host=h password=hunter2"), !Contains("hunter2"));
}

TEST_CASE("util: redacting a password query parameter keeps the parameters after it",
          "[unit][util]") {
  CHECK(tidemark::redact_dsn("postgresql://db1/app?user=etl&password=s3cr3t&sslmode=require") ==
        "postgresql://db1/app?user=etl&password=***&sslmode=require");
}

TEST_CASE("util: a backslash-escaped space in an unquoted password is redacted whole",
          "[unit][util]") {
  CHECK_THAT(tidemark::redact_dsn("host=db1 password=se\\ cret dbname=app"), !Contains("cret"));
}
