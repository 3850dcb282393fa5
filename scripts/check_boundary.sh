#!/usr/bin/env bash
# The dependency rule of docs/architecture.md, checked on the source tree (ctest: boundary_check,
# so scripts/test.sh and CI run it). Fails, naming file and line, when
#   - libpqxx appears outside src/pg (an include, a type, the pg-internal header);
#   - the run layer or the CLI reaches into a pg object's libpqxx side (.tx(), .raw());
#   - the run layer or the CLI builds SQL text (a Sql value, or a string literal that starts
#     with an SQL command): SQL is built by the pure core or in src/pg;
#   - a library of CMakeLists.txt holds a file outside the folders it stands for.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail=0
report() {  # report WHAT HITS (grep -n output; empty: none)
  local what="$1" hits="$2"
  if [[ -n "$hits" ]]; then
    echo "boundary: $what:" >&2
    sed 's/^/  /' <<<"$hits" >&2
    fail=1
  fi
}

sources() { find "$@" -name '*.cpp' -o -name '*.hpp' | sort; }

# shellcheck disable=SC2046
report "libpqxx outside src/pg" "$(grep -nwH 'pqxx' $(sources src include | grep -v '^src/pg/'))"
# shellcheck disable=SC2046
report "src/pg/internal.hpp outside src/pg" "$(grep -nH 'pg/internal\.hpp' $(sources src include | grep -v '^src/pg/'))"
# shellcheck disable=SC2046
report "a pg object's libpqxx side used in src/run or src/cli" "$(grep -nHE '\.(tx|raw)\(\)' $(sources src/run src/cli))"
# shellcheck disable=SC2046
report "SQL built in src/run or src/cli (build it in the core or in src/pg)" \
  "$(grep -nHE '\bSql[[:space:]]*[({]|\bSql[[:space:]]+[A-Za-z_][A-Za-z0-9_]*[[:space:]]*[({]("|std::string)|\.text\(("|std::string)' $(sources src/run src/cli))"
keywords='SELECT|INSERT|UPDATE|DELETE|ALTER|CREATE|DROP|ANALYZE|TRUNCATE|COPY|WITH|BEGIN|COMMIT|ROLLBACK|SET|GRANT|LOCK|VACUUM|EXPLAIN'
# shellcheck disable=SC2046
report "SQL text in a string literal in src/run or src/cli" "$(grep -nHE "\"[[:space:]]*($keywords)[[:space:]]" $(sources src/run src/cli))"

# Folders map to libraries.
awk -v failfile=/dev/stderr '
  /^add_library\(/ { lib = $1; sub(/^add_library\(/, "", lib); next }
  lib != "" && /\)/ { inlib = 0 }
  lib != "" {
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^#/) break
      if ($i !~ /^src\//) continue
      split($i, part, "/"); folder = part[2]
      ok = 0
      if (lib == "tidemark_core") ok = folder ~ /^(config|util|strategy|write|plan|compare|state|cdc|files|metrics)$/
      else if (lib == "tidemark_pg") ok = folder == "pg"
      else if (lib == "tidemark_run") ok = folder == "run"
      else if (lib == "tidemark_cli") ok = folder == "cli"
      else if (lib == "tidemark_log") ok = folder == "log"
      else { printf "boundary: library %s is not one the dependency rule knows\n", lib > failfile; bad = 1; ok = 1 }
      if (!ok) { printf "boundary: %s is in library %s, which does not stand for src/%s\n", $i, lib, folder > failfile; bad = 1 }
    }
    if ($0 ~ /\)/) lib = ""
  }
  END { exit bad }
' CMakeLists.txt || fail=1

if ((fail)); then
  echo "boundary: see docs/architecture.md, \"The dependency rule\"" >&2
  exit 1
fi
echo "boundary: ok"
