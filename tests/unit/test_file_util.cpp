// The shared file helpers: the atomic replace (mode, no temp file left, errors naming the
// file, the hook before the rename) and SHA-256 as hex.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/files.hpp"
#include "tidemark/errors.hpp"
#include "tidemark/file_util.hpp"

using Catch::Contains;
using Catch::StartsWith;
using namespace tidemark;
using tmtest::files_in;
using tmtest::slurp;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/tidemark-file-util-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string path;
};

}  // namespace

TEST_CASE("an atomic replace leaves the new content, the mode asked for and no temp file", "[unit][file_util]") {
  TempDir d;
  const std::string path = d.path + "/out.txt";
  replace_file_atomically(path, "first\n", "test file");
  replace_file_atomically(path, "second\n", "test file", AtomicWrite{0600, nullptr});
  CHECK(slurp(path) == "second\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(files_in(d.path) == std::vector<std::string>{"out.txt"});
}

TEST_CASE("an atomic replace calls its hook with the temp file complete and the old file still in place",
          "[unit][file_util]") {
  TempDir d;
  const std::string path = d.path + "/out.txt";
  replace_file_atomically(path, "old", "test file");
  std::string seen, tmp;
  AtomicWrite how;
  how.before_rename = [&] {
    seen = slurp(path);
    for (const auto& f : files_in(d.path))
      if (f != "out.txt") tmp = slurp(d.path + "/" + f);
  };
  replace_file_atomically(path, "new", "test file", how);
  CHECK(seen == "old");
  CHECK(tmp == "new");
  CHECK(slurp(path) == "new");
}

TEST_CASE("an atomic replace that fails names the file and its step, and removes the temp file", "[unit][file_util]") {
  TempDir d;
  CHECK_THROWS_WITH(replace_file_atomically(d.path + "/missing/x", "x", "test file " + d.path + "/missing/x"),
                    StartsWith("test file " + d.path + "/missing/x: cannot create"));
  REQUIRE(::mkdir((d.path + "/taken").c_str(), 0755) == 0);  // renaming over a directory fails
  CHECK_THROWS_WITH(replace_file_atomically(d.path + "/taken", "x", "test file"), Contains("cannot move into place"));
  CHECK(files_in(d.path) == std::vector<std::string>{"taken"});
}

TEST_CASE("the directory of a path is its parent, '.' for a bare name and '/' at the root", "[unit][file_util]") {
  CHECK(dir_of("/a/b/c.json") == "/a/b");
  CHECK(dir_of("c.json") == ".");
  CHECK(dir_of("/c.json") == "/");
}

TEST_CASE("SHA-256 hex matches the standard test vectors, whole or fed in blocks", "[unit][file_util]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update("a", 1);
  h.update("bc", 2);
  CHECK(h.hex() == sha256_hex("abc"));
}
