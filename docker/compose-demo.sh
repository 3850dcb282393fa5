#!/usr/bin/env bash
# The tidemark service of docker-compose.yml: the demo of scripts/demo.sh, run in the tidemark
# image against the postgres service (which seeded "app" and created the "warehouse" tables
# on its first start, docker/initdb/).
#
# Usage: compose-demo.sh [first|second]
#   first   (default) drop payments_20261101.csv and payments_20261102.csv.gz, validate,
#           run every pipeline of configs/demo.yaml, show status
#   second  the demo's second round of file drops (payments_20261103.jsonl, and
#           payments_20261101.csv re-exported without payment 50), run, show status.
#           Change the tables first:
#             docker compose exec postgres psql -U postgres -d app -q -f /tidemark-demo/changes.sql
#
# Environment: DEMO_APP_DSN, DEMO_WAREHOUSE_DSN, DEMO_DROPS (set by docker-compose.yml),
# TIDEMARK_CONFIG (the config).
set -euo pipefail

: "${DEMO_DROPS:?DEMO_DROPS is not set}"
: "${TIDEMARK_CONFIG:?TIDEMARK_CONFIG is not set}"

step() { printf '\n==> %s\n' "$*"; }
run() {
  step "$*"
  "$@"
}
# payments_YYYYMMDD.csv: payment ids FIRST..LAST, dated back a minute so they are past the
# pipeline's settle time (as in scripts/demo.sh).
payments_csv() {
  local file="$1" first="$2" last="$3" skip="${4:-0}"
  {
    echo "payment_id,order_id,amount,method"
    for ((i = first; i <= last; i++)); do
      ((i == skip)) && continue
      echo "$i,$((i % 300 + 1)),$((i % 500)).$((i % 100 / 10))$((i % 10)),card"
    done
  } >"$file"
  touch -d '-1 min' "$file"
}

mkdir -p "$DEMO_DROPS"
case "${1:-first}" in
  first)
    if [[ ! -e "$DEMO_DROPS/payments_20261101.csv" ]]; then
      step "file drops in $DEMO_DROPS: payments_20261101.csv, payments_20261102.csv.gz"
      payments_csv "$DEMO_DROPS/payments_20261101.csv" 1 100
      payments_csv "$DEMO_DROPS/payments_20261102.csv" 101 200
      gzip -f "$DEMO_DROPS/payments_20261102.csv"
      touch -d '-1 min' "$DEMO_DROPS/payments_20261102.csv.gz"
    fi
    run tidemark validate
    step "first run: copies everything"
    ;;
  second)
    step "new file drops: payments_20261103.jsonl, and payments_20261101.csv re-exported without payment 50"
    for ((i = 201; i <= 250; i++)); do
      echo "{\"payment_id\": $i, \"order_id\": $((i % 300 + 1)), \"amount\": $((i % 500)).25, \"method\": \"transfer\"}"
    done >"$DEMO_DROPS/payments_20261103.jsonl"
    touch -d '-1 min' "$DEMO_DROPS/payments_20261103.jsonl"
    payments_csv "$DEMO_DROPS/payments_20261101.csv" 1 100 50
    step "second run: moves only the delta"
    ;;
  *)
    echo "compose-demo.sh: unknown argument '$1' (first or second)" >&2
    exit 2
    ;;
esac
run tidemark run
run tidemark status
