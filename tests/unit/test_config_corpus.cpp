// A corpus of broken configs (tests/corpus/), each with the message it must produce: the
// expected text is the file's first line `# expect: …`, or the file NAME.expect beside it.
#include <catch2/catch.hpp>
#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tidemark/config.hpp"
#include "tidemark/errors.hpp"
#include "common/files.hpp"

using tmtest::slurp;

namespace {


std::vector<std::string> corpus_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n[0] != '.' && n.size() > 7 && n.substr(n.size() - 7) != ".expect") out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("config corpus: every broken config fails with its expected message, naming the file", "[unit][config]") {
  const std::string dir = std::string(TIDEMARK_SOURCE_DIR) + "/tests/corpus";
  const auto files = corpus_files(dir);
  REQUIRE(files.size() >= 15);
  for (const auto& name : files) {
    const std::string path = dir + "/" + name;
    std::string text = slurp(path), expected;
    if (text.rfind("# expect: ", 0) == 0) expected = text.substr(10, text.find('\n') - 10);
    else expected = slurp(path + ".expect").substr(0, slurp(path + ".expect").find('\n'));
    INFO(name << " expects: " << expected);
    REQUIRE(!expected.empty());
    try {
      tidemark::load_config(path);
      FAIL("accepted: " << name);
    } catch (const tidemark::ConfigError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(path) && Catch::Contains(expected));
    }
  }
}
