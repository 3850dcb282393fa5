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
exit "$status"
