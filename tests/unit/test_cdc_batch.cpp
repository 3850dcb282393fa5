// The CDC batcher: which changes each target commit holds, the position stored with it, and
// where a TRUNCATE falls (docs/cdc.md). The run only reads the slot and does what it yields.
#include <catch2/catch.hpp>

#include "tidemark/cdc_batch.hpp"

using namespace tidemark;
using namespace tidemark::cdc;

namespace {

const std::vector<std::string> kCols = {"id", "v", "big"}, kKey = {"id"};

Change begin(int64_t xid, uint64_t next_lsn) {
  Change c;
  c.action = 'B';
  c.xid = xid;
  c.next_lsn = next_lsn;
  return c;
}
Change commit(int64_t xid, uint64_t next_lsn) {
  Change c = begin(xid, next_lsn);
  c.action = 'C';
  return c;
}
Change insert(const std::string& id) {
  Change c;
  c.action = 'I';
  c.columns = {{"id", id}, {"v", "x"}, {"big", "y"}};
  return c;
}
Change update(const std::string& id, bool partial) {
  Change c = insert(id);
  c.action = 'U';
  if (partial) c.columns.pop_back();  // an unchanged TOASTed column is left out
  return c;
}
Change truncate() {
  Change c;
  c.action = 'T';
  return c;
}

// Feeds one peek's records and collects what the batcher asks for, the end of the peek included.
std::vector<Action> peek(Batcher& b, const std::vector<Change>& records) {
  std::vector<Action> out;
  for (const auto& r : records)
    for (auto& a : b.feed(r)) out.push_back(std::move(a));
  if (auto a = b.end_peek()) out.push_back(std::move(*a));
  return out;
}

// The ids of a commit's staged rows (first field of each line).
std::vector<std::string> ids(const Action& a) {
  std::vector<std::string> out;
  for (const auto& l : a.batch.lines) out.push_back(l.substr(0, l.find('\t')));
  return out;
}

}  // namespace

TEST_CASE("cdc batcher: a whole transaction is one commit stored at its end", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{100, std::nullopt, 0});
  const auto acts = peek(b, {begin(7, 200), insert("1"), insert("2"), commit(7, 200)});
  REQUIRE(acts.size() == 1);
  CHECK(acts[0].kind == Action::Kind::kCommit);
  CHECK(ids(acts[0]) == std::vector<std::string>{"1", "2"});
  CHECK(acts[0].batch.changes == 2);
  CHECK(acts[0].at.lsn == 200);
  CHECK_FALSE(acts[0].at.xid);
  CHECK(b.done() == 200);
  CHECK(b.position().lsn == 200);
}

TEST_CASE("cdc batcher: batch_size splits a transaction, storing how many of its changes are applied",
          "[unit][cdc]") {
  Batcher b(kCols, kKey, 2, Position{100, std::nullopt, 0});
  std::vector<Action> acts;
  for (const auto& r : {begin(7, 200), insert("1"), insert("2")})
    for (auto& a : b.feed(r)) acts.push_back(a);
  // The second change fills the batch: committed at once, inside transaction 7.
  REQUIRE(acts.size() == 1);
  CHECK(ids(acts[0]) == std::vector<std::string>{"1", "2"});
  CHECK(acts[0].at.lsn == 100);
  CHECK(acts[0].at.xid == 7);
  CHECK(acts[0].at.applied == 2);
  CHECK(b.feed(insert("3")).empty());
  CHECK(b.holding());
  CHECK(b.feed(commit(7, 200)).empty());
  const auto last = b.end_peek();
  REQUIRE(last);
  CHECK(ids(*last) == std::vector<std::string>{"3"});
  CHECK(last->at.lsn == 200);
  CHECK_FALSE(last->at.xid);
}

TEST_CASE("cdc batcher: a split transaction resumes after the changes its stored position holds", "[unit][cdc]") {
  // An earlier run committed the first 2 changes of transaction 7 and stopped.
  Batcher b(kCols, kKey, 100, Position{100, 7, 2});
  const auto acts = peek(b, {begin(7, 200), insert("1"), insert("2"), insert("3"), commit(7, 200)});
  REQUIRE(acts.size() == 1);
  CHECK(ids(acts[0]) == std::vector<std::string>{"3"});
  CHECK(acts[0].batch.changes == 1);
  CHECK(acts[0].at.lsn == 200);
  CHECK_FALSE(acts[0].at.xid);
}

TEST_CASE("cdc batcher: transactions applied by an earlier run are skipped whole", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{300, std::nullopt, 0});
  const auto acts = peek(b, {begin(7, 200), insert("1"), commit(7, 200), begin(8, 400), insert("2"), commit(8, 400)});
  REQUIRE(acts.size() == 1);
  CHECK(ids(acts[0]) == std::vector<std::string>{"2"});
  CHECK(acts[0].at.lsn == 400);
}

TEST_CASE("cdc batcher: a transaction that touches nothing only moves the slot", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{100, std::nullopt, 0});
  Change message;
  message.action = 'M';
  CHECK(peek(b, {begin(8, 300), message, commit(8, 300)}).empty());
  CHECK(b.done() == 300);  // the run advances the slot here, with no target commit
  CHECK_FALSE(b.holding());
  CHECK(b.position().lsn == 100);
}

TEST_CASE("cdc batcher: a stored split transaction that ends with nothing left still commits its end",
          "[unit][cdc]") {
  // The position names transaction 7 with all of its changes applied: its end must be stored,
  // or the next run would skip changes of another transaction 7 never seen.
  Batcher b(kCols, kKey, 100, Position{100, 7, 2});
  const auto acts = peek(b, {begin(7, 200), insert("1"), insert("2"), commit(7, 200)});
  REQUIRE(acts.size() == 1);
  CHECK(acts[0].kind == Action::Kind::kCommit);
  CHECK(acts[0].batch.lines.empty());
  CHECK(acts[0].at.lsn == 200);
  CHECK_FALSE(acts[0].at.xid);
}

TEST_CASE("cdc batcher: a TRUNCATE commits what came before it, then empties the table", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{100, std::nullopt, 0});
  const auto acts = peek(b, {begin(7, 200), insert("1"), truncate(), insert("2"), commit(7, 200)});
  REQUIRE(acts.size() == 3);
  CHECK(acts[0].kind == Action::Kind::kCommit);
  CHECK(ids(acts[0]) == std::vector<std::string>{"1"});
  CHECK(acts[0].at.xid == 7);
  CHECK(acts[0].at.applied == 1);
  CHECK(acts[1].kind == Action::Kind::kTruncate);
  CHECK(acts[2].kind == Action::Kind::kCommit);
  CHECK(ids(acts[2]) == std::vector<std::string>{"2"});
  CHECK(acts[2].at.lsn == 200);
}

TEST_CASE("cdc batcher: a TRUNCATE with nothing before it needs no commit first", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{100, std::nullopt, 0});
  b.feed(begin(7, 200));
  const auto acts = b.feed(truncate());
  REQUIRE(acts.size() == 1);
  CHECK(acts[0].kind == Action::Kind::kTruncate);
}

TEST_CASE("cdc batcher: an update leaving columns out commits an earlier change of its key first", "[unit][cdc]") {
  Batcher b(kCols, kKey, 100, Position{100, std::nullopt, 0});
  b.feed(begin(7, 200));
  CHECK(b.feed(insert("1")).empty());
  CHECK(b.feed(update("2", true)).empty());  // another key: no conflict
  CHECK(b.feed(update("1", false)).empty());  // a whole row may meet its key in a batch
  const auto acts = b.feed(update("1", true));
  REQUIRE(acts.size() == 1);
  CHECK(ids(acts[0]) == std::vector<std::string>{"1", "2", "1"});
  CHECK(acts[0].at.xid == 7);
  CHECK(acts[0].at.applied == 3);
  CHECK(b.holding());  // the partial update waits for the next commit
  b.feed(commit(7, 200));
  const auto last = b.end_peek();
  REQUIRE(last);
  CHECK(ids(*last) == std::vector<std::string>{"1"});
}

TEST_CASE("cdc batcher: a batch ends at batch_size changes across transactions", "[unit][cdc]") {
  Batcher b(kCols, kKey, 3, Position{100, std::nullopt, 0});
  const auto acts = peek(b, {begin(7, 200), insert("1"), insert("2"), commit(7, 200), begin(8, 300), insert("3"),
                             insert("4"), commit(8, 300)});
  REQUIRE(acts.size() == 2);
  CHECK(ids(acts[0]) == std::vector<std::string>{"1", "2", "3"});
  CHECK(acts[0].at.lsn == 200);  // transaction 7 is whole, 8 holds one change
  CHECK(acts[0].at.xid == 8);
  CHECK(acts[0].at.applied == 1);
  CHECK(ids(acts[1]) == std::vector<std::string>{"4"});
  CHECK(acts[1].at.lsn == 300);
  CHECK_FALSE(acts[1].at.xid);
}

TEST_CASE("cdc batcher: a later peek that sees a committed transaction again skips it", "[unit][cdc]") {
  Batcher b(kCols, kKey, 2, Position{100, std::nullopt, 0});
  const auto first = peek(b, {begin(7, 200), insert("1"), insert("2"), insert("3"), commit(7, 200)});
  REQUIRE(first.size() == 2);
  CHECK(first[0].at.applied == 2);
  CHECK(first[1].at.lsn == 200);
  // The slot was not advanced yet (a crash before advance): the same records come again.
  CHECK(peek(b, {begin(7, 200), insert("1"), insert("2"), insert("3"), commit(7, 200)}).empty());
  CHECK(b.done() == 200);
}
