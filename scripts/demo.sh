#!/usr/bin/env bash
# End-to-end demo: copy three tables from database "app" to "warehouse" with
# tidemark, change the source, and show that later runs move only the delta.
#
# Usage: scripts/demo.sh           run the demo (the cluster is left running)
#        scripts/demo.sh --stop    stop the demo cluster
#
# Environment: TIDEMARK_DEMO_PORT (default 55433), TIDEMARK_CMAKE_ARGS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/pgcluster.sh

CLUSTER=demo
PORT="${TIDEMARK_DEMO_PORT:-55433}"
CONFIG=configs/demo.yaml
BIN=build/tidemark
TABLES=(customers orders events)

case "${1:-}" in
  "") ;;
  --stop)
    tm_cluster_stop "$CLUSTER"
    exit 0
    ;;
  -h | --help)
    # The header comment is the help text.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "demo.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

step() { printf '\n==> %s\n' "$*"; }
# Narrate a command, then run it.
run() {
  step "$*"
  "$@"
}

how_to_connect() {
  echo
  echo "The demo cluster is still running."
  echo "  source:    psql \"$DEMO_APP_DSN\""
  echo "  warehouse: psql \"$DEMO_WAREHOUSE_DSN\""
  echo "  stop it:   scripts/demo.sh --stop"
}

create_db() {
  if [[ -z "$(tm_psql "$CLUSTER" postgres -tAc "select 1 from pg_database where datname = '$1'")" ]]; then
    tm_psql "$CLUSTER" postgres -q -c "create database $1"
  fi
}

tm_ensure_packages

step "building tidemark"
if ! tm_build build || [[ ! -x "$BIN" ]]; then
  echo "demo.sh: error: $BIN did not build; fix the build errors above and rerun scripts/demo.sh" >&2
  exit 1
fi
if [[ ! -f "$CONFIG" ]]; then
  echo "demo.sh: error: $CONFIG is missing" >&2
  exit 1
fi

step "starting the demo cluster on port $PORT"
tm_cluster_start "$CLUSTER" "$PORT"
create_db app
create_db warehouse
export DEMO_APP_DSN DEMO_WAREHOUSE_DSN
DEMO_APP_DSN="$(tm_dsn app)"
DEMO_WAREHOUSE_DSN="$(tm_dsn warehouse)"

# From here on the cluster runs: say how to reach it even if a step fails.
on_exit() {
  local status=$?
  if ((status != 0)); then
    echo "demo.sh: failed (exit $status)" >&2
    how_to_connect >&2
  fi
}
trap on_exit EXIT

step "seeding app (scripts/demo/seed.sql) and resetting warehouse (scripts/demo/warehouse.sql)"
tm_psql "$CLUSTER" app -q -f scripts/demo/seed.sql
tm_psql "$CLUSTER" warehouse -q -f scripts/demo/warehouse.sql
tm_psql "$CLUSTER" app -c "select (select count(*) from customers) as customers,
                                  (select count(*) from orders) as orders,
                                  (select count(*) from events) as events"

run "$BIN" validate -c "$CONFIG"

step "first run: copies everything"
run "$BIN" run -c "$CONFIG"
run "$BIN" status -c "$CONFIG"

step "changing app (scripts/demo/changes.sql): 50 orders updated, 200 orders and 1000 events inserted, 3 customers changed"
tm_psql "$CLUSTER" app -q -f scripts/demo/changes.sql

step "second run: moves only the delta"
run "$BIN" run -c "$CONFIG"
run "$BIN" status -c "$CONFIG"

step "third run: nothing changed, nothing to move"
run "$BIN" run -c "$CONFIG"
run "$BIN" status -c "$CONFIG"

step "content check: app.public vs warehouse.analytics"
mismatch=0
for t in "${TABLES[@]}"; do
  # Whole-table fingerprint: every row as text, in primary key order.
  q="select count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' order by id)), '-') from"
  src="$(tm_psql "$CLUSTER" app -tAc "$q public.$t t")"
  dst="$(tm_psql "$CLUSTER" warehouse -tAc "$q analytics.$t t")"
  if [[ "$src" == "$dst" ]]; then
    printf '    %-10s OK        %s\n' "$t" "$src"
  else
    printf '    %-10s MISMATCH  app: %s / warehouse: %s\n' "$t" "$src" "$dst"
    mismatch=1
  fi
done
if ((mismatch)); then
  exit 1
fi

trap - EXIT
how_to_connect
