#!/usr/bin/env bash
# End-to-end demo: copy three tables from database "app" and a directory of
# payment file drops to "warehouse" with tidemark, mirror the whole app schema
# through one selector pipeline, change the sources (and add a table), and show
# that later runs move only the delta.
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
# payments_YYYYMMDD.csv: payment ids FIRST..LAST (amount = id % 500 + cents), dated back a
# minute so they are past the pipeline's settle time.
payments_csv() {
  local file="$1" first="$2" last="$3" skip="${4:-0}"
  {
    echo "payment_id,order_id,amount,method"
    for ((i = first; i <= last; i++)); do
      ((i == skip)) && continue
      echo "$i,$((i % 300 + 1)),$((i % 500)).$((i % 100 / 10))$((i % 10)),card"
    done
  } > "$file"
  touch -d '-1 min' "$file"
}

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
export DEMO_DROPS="$PWD/.tidemark/demo/drops"

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
rm -rf "$DEMO_DROPS" && mkdir -p "$DEMO_DROPS"
payments_csv "$DEMO_DROPS/payments_20261101.csv" 1 100
payments_csv "$DEMO_DROPS/payments_20261102.csv" 101 200 && gzip -f "$DEMO_DROPS/payments_20261102.csv"
touch -d '-1 min' "$DEMO_DROPS/payments_20261102.csv.gz"
echo "    file drops in $DEMO_DROPS: $(cd "$DEMO_DROPS" && echo *)"
tm_psql "$CLUSTER" app -c "select (select count(*) from customers) as customers,
                                  (select count(*) from orders) as orders,
                                  (select count(*) from events) as events"

run "$BIN" validate -c "$CONFIG"

step "the selector pipeline app_mirror, expanded per table (the head of: $BIN plan -c $CONFIG app_mirror)"
"$BIN" -q plan -c "$CONFIG" app_mirror | sed -n '/^selector pipeline/,/^$/p'

step "first run: copies everything"
run "$BIN" run -c "$CONFIG"
run "$BIN" status -c "$CONFIG"

step "changing app (scripts/demo/changes.sql): 50 orders updated, 200 orders and 1000 events inserted, 3 customers changed, table refunds added"
tm_psql "$CLUSTER" app -q -f scripts/demo/changes.sql
step "new file drops: payments_20261103.jsonl, and payments_20261101.csv re-exported without payment 50"
for ((i = 201; i <= 250; i++)); do
  echo "{\"payment_id\": $i, \"order_id\": $((i % 300 + 1)), \"amount\": $((i % 500)).25, \"method\": \"transfer\"}"
done > "$DEMO_DROPS/payments_20261103.jsonl"
touch -d '-1 min' "$DEMO_DROPS/payments_20261103.jsonl"
payments_csv "$DEMO_DROPS/payments_20261101.csv" 1 100 50
touch -d '-1 min' "$DEMO_DROPS/payments_20261101.csv"

step "second run: moves only the delta (and app_mirror picks up the new table refunds)"
run "$BIN" run -c "$CONFIG"
run "$BIN" status -c "$CONFIG"

step "third run: nothing changed, nothing to move (4 pipelines at once)"
run "$BIN" run -c "$CONFIG" --jobs 4
run "$BIN" status -c "$CONFIG" 'app_mirror.*'

step "content check: app.public vs warehouse.analytics"
mismatch=0
for t in "${TABLES[@]}"; do
  # Whole-table fingerprint: every row as text, in primary key order.
  q="select count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' order by id)), '-') from"
  src="$(tm_psql "$CLUSTER" app -tAc "$q public.$t t")"
  dst="$(tm_psql "$CLUSTER" warehouse -tAc "$q analytics.$t t")"
  if [[ "$src" == "$dst" ]]; then
    printf '    %-12s OK        %s\n' "$t" "$src"
  else
    printf '    %-12s MISMATCH  app: %s / warehouse: %s\n' "$t" "$src" "$dst"
    mismatch=1
  fi
done
# orders_daily holds the same rows as orders, in daily partitions.
q="select count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' order by id)), '-') from"
src="$(tm_psql "$CLUSTER" app -tAc "$q public.orders t")"
dst="$(tm_psql "$CLUSTER" warehouse -tAc "$q analytics.orders_daily t")"
if [[ "$src" == "$dst" ]]; then
  printf '    %-12s OK        %s\n' orders_daily "$dst"
else
  printf '    %-12s MISMATCH  app: %s / warehouse: %s\n' orders_daily "$src" "$dst"
  mismatch=1
fi
# payments come from the files: 99 + 100 + 50 rows, each from its file, payment 50 gone.
want="249 rows from 3 files, payment 50 absent"
got="$(tm_psql "$CLUSTER" warehouse -tAc "select count(*) || ' rows from ' || count(distinct _source_file) || ' files, payment 50 ' ||
  case when bool_or(payment_id = 50) then 'present' else 'absent' end from analytics.payments")"
if [[ "$got" == "$want" ]]; then
  printf '    %-12s OK        %s\n' payments "$got"
else
  printf '    %-12s MISMATCH  want %s / got %s\n' payments "$want" "$got"
  mismatch=1
fi

step "content check: app.public vs warehouse.mirror (selector pipeline app_mirror)"
# Every table of app.public but the excluded one, as the catalog has them now.
mapfile -t MIRRORED < <(tm_psql "$CLUSTER" app -tAc "select tablename from pg_tables
  where schemaname = 'public' and tablename <> 'schema_migrations' order by 1")
for t in "${MIRRORED[@]}"; do
  src="$(tm_psql "$CLUSTER" app -tAc "$q public.$t t")"
  if [[ -n "$(tm_psql "$CLUSTER" warehouse -tAc "select to_regclass('mirror.$t')")" ]]; then
    dst="$(tm_psql "$CLUSTER" warehouse -tAc "$q mirror.$t t")"
  else
    dst="no such table"
  fi
  if [[ "$src" == "$dst" ]]; then
    printf '    %-26s OK        %s\n' "mirror.$t" "$src"
  else
    printf '    %-26s MISMATCH  app: %s / warehouse: %s\n' "mirror.$t" "$src" "$dst"
    mismatch=1
  fi
done
if ((${#MIRRORED[@]} != 4)); then
  echo "    expected 4 mirrored tables (customers, events, orders, refunds), app.public has: ${MIRRORED[*]}"
  mismatch=1
fi
# The excluded table stays out of the mirror.
got="$(tm_psql "$CLUSTER" warehouse -tAc "select coalesce(to_regclass('mirror.schema_migrations')::text, 'absent')")"
if [[ "$got" == absent ]]; then
  printf '    %-26s OK        excluded, absent\n' mirror.schema_migrations
else
  printf '    %-26s MISMATCH  excluded, but present\n' mirror.schema_migrations
  mismatch=1
fi
if ((mismatch)); then
  exit 1
fi

trap - EXIT
how_to_connect
