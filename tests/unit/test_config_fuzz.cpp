// A seeded mutation fuzzer for the config loader: whatever bytes it is given, it either
// returns a Config or throws ConfigError; it never crashes or throws anything else.
#include <catch2/catch.hpp>
#include <chrono>
#include <random>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"

namespace {

const char* kSeeds[] = {
    "version: 1\nconnections:\n  app: \"host=a\"\n  wh: \"${WH:-host=b}\"\nstate: {schema: tm}\npipelines:\n"
    "  - name: orders\n    source: {connection: app, table: public.orders, columns: [id, updated_at]}\n"
    "    detect: {strategy: updated_at, cursor: updated_at, lookback: 10m, settle: 30s, null_cursor: include}\n"
    "    target: {connection: wh, table: '\"a b\".\"c\"\"d\"', key: [id], write: upsert}\n    batch_size: 100\n"
    "  - name: dim\n    source: {connection: app, query: 'SELECT 1 AS id'}\n    detect: {strategy: full}\n"
    "    target: {connection: wh, table: x.dim, key: id}\n",
    R"({"version": 1, "connections": {"a": "host=x", "b": "host=$${y}"}, "pipelines": [{"name": "p",
      "source": {"connection": "a", "table": "t"}, "detect": {"strategy": "id", "cursor": "id", "lookback": "5"},
      "target": {"connection": "b", "table": "u", "key": ["id"], "write": "append"}}]})",
};

const char* kTokens[] = {":", "- ", "{", "}", "[", "]", "\"", "'", "\n", "  ", "${", "}", "$$", "&a", "*a", "!!str ",
                         "\\u0000", "\xff", "\t", "#", ",", "null", "~", "1e400", "-1", "99999999999999999999",
                         "strategy", "key", "write", "pipelines", "connections", ".", "\"\"", "..."};

std::string mutate(std::string s, std::mt19937& rng) {
  std::uniform_int_distribution<int> op(0, 4), n(1, 4);
  for (int k = n(rng); k > 0 && !s.empty(); --k) {
    std::uniform_int_distribution<size_t> pos(0, s.size() - 1);
    size_t p = pos(rng);
    switch (op(rng)) {
      case 0: s.erase(p, std::min<size_t>(s.size() - p, n(rng) * 3)); break;
      case 1: s.insert(p, kTokens[std::uniform_int_distribution<size_t>(0, std::size(kTokens) - 1)(rng)]); break;
      case 2: s[p] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)); break;
      case 3: {  // duplicate a slice
        size_t len = std::min<size_t>(s.size() - p, 20);
        s.insert(pos(rng), s.substr(p, len));
        break;
      }
      default: std::swap(s[p], s[pos(rng)]);
    }
  }
  return s;
}

}  // namespace

TEST_CASE("config fuzz: mutated YAML and JSON configs only ever give a Config or a ConfigError", "[unit][fuzz]") {
  std::mt19937 rng(20261124);  // fixed seed: a failure reproduces
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int cases = 0, accepted = 0;
  while (std::chrono::steady_clock::now() < deadline && cases < 20000) {
    for (const char* seed : kSeeds) {
      const std::string name = seed[0] == '{' ? "fuzz.json" : "fuzz.yaml";
      const std::string text = mutate(seed, rng);
      ++cases;
      try {
        tidemark::Config cfg = tidemark::parse_config(text, name);
        ++accepted;
        CHECK_FALSE(cfg.pipelines.empty());
      } catch (const tidemark::ConfigError& e) {
        CHECK(std::string(e.what()).rfind(name, 0) == 0);  // every message names the file
      } catch (const std::exception& e) {
        FAIL("unexpected " << typeid(e).name() << ": " << e.what() << "\ninput:\n" << text);
      }
    }
  }
  INFO(cases << " mutated configs, " << accepted << " still valid");
  CHECK(cases > 1000);
}
