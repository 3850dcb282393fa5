#!/usr/bin/env bash
# Build tidemark and run its test suite (ctest) against PostgreSQL.
#
# Usage: scripts/test.sh [ctest args...]        e.g. scripts/test.sh -L unit
#
# Environment:
#   TIDEMARK_TEST_DSN       use this server as is (e.g. a dockerized Postgres in CI);
#                           otherwise a private cluster "test" is started and stopped
#   TIDEMARK_TEST_PORT      port of the private cluster (default 55432)
#   TIDEMARK_KEEP_CLUSTER=1 leave the private cluster running afterwards
#   TIDEMARK_CMAKE_ARGS     extra cmake configure arguments
# Exports TIDEMARK_TEST_DSN and TIDEMARK_BIN for the tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/pgcluster.sh

tm_ensure_packages
tm_build build

export TIDEMARK_BIN="$TM_REPO/build/tidemark"

if [[ -n "${TIDEMARK_TEST_DSN:-}" ]]; then
  echo "==> tests use the external server: $(tm_mask_dsn "$TIDEMARK_TEST_DSN")"
else
  # Set the traps before starting, so a half-started cluster is stopped too.
  # INT/TERM go through exit so that the EXIT trap runs.
  if [[ "${TIDEMARK_KEEP_CLUSTER:-0}" != 1 ]]; then
    trap 'tm_cluster_stop test || true' EXIT
  fi
  trap 'exit 130' INT
  trap 'exit 143' TERM

  tm_cluster_start test "${TIDEMARK_TEST_PORT:-55432}"
  if [[ -z "$(tm_psql test postgres -tAc "select 1 from pg_database where datname = 'tidemark_test'")" ]]; then
    tm_psql test postgres -q -c 'create database tidemark_test'
  fi
  TIDEMARK_TEST_DSN="$(tm_dsn tidemark_test)"
  export TIDEMARK_TEST_DSN
  # We own this server, so the reliability tests may restart it mid-run.
  TIDEMARK_TEST_RESTART="bash -c $(printf '%q' "source $(printf '%q' "$TM_REPO/scripts/lib/pgcluster.sh") && tm_cluster_restart test")"
  export TIDEMARK_TEST_RESTART
  echo "==> tests use the private cluster: $TIDEMARK_TEST_DSN"
  if [[ "${TIDEMARK_KEEP_CLUSTER:-0}" == 1 ]]; then
    echo "    (kept running afterwards; stop it with: bash -c 'source scripts/lib/pgcluster.sh; tm_cluster_stop test')"
  fi
fi

cd build
# --no-tests=error: a suite that registered no tests must not pass CI.
status=0
export TIDEMARK_CHAOS_REPORT="$PWD/chaos-report.txt"
rm -f "$TIDEMARK_CHAOS_REPORT"
ctest --output-on-failure --no-tests=error -j2 "$@" || status=$?
if [[ -s "$TIDEMARK_CHAOS_REPORT" ]]; then
  echo "==> crash torture report (short variant; TIDEMARK_CHAOS_TRIALS=N runs more)"
  cat "$TIDEMARK_CHAOS_REPORT"
fi

# The sanitizer pass: in CI (or on request), the unit and integration tiers again, against an
# AddressSanitizer + UndefinedBehaviorSanitizer build of everything.
if [[ -n "${CI:-}" || "${TIDEMARK_SANITIZE_PASS:-0}" == 1 ]]; then
  cd "$TM_REPO"
  echo "==> sanitizer pass: building build-asan (-DTIDEMARK_SANITIZE=ON)"
  TIDEMARK_CMAKE_ARGS="-DTIDEMARK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" tm_build build-asan
  cd build-asan
  export TIDEMARK_BIN="$TM_REPO/build-asan/tidemark"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86"
  export LSAN_OPTIONS="suppressions=$TM_REPO/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  ctest --output-on-failure --no-tests=error -j2 -L 'unit|integration' || status=$?
fi
exit "$status"
