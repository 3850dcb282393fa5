#!/usr/bin/env bash
# tidemark benchmark: measured, not asserted (issue 4).
#
# Usage: bench/run.sh [--rows N] [--reps R] [--smoke] [--out FILE] [--keep] [--no-many | --many-only]
#
#   --rows N   rows of the small source table (default 200000); the large one has 10×N
#   --reps R   repetitions per measurement, medians are reported (default 3, minimum 1);
#              the sub-second figures (incremental, lookback, no-op) use max(R, 5)
#   --smoke    tiny run (2000 rows, 1 repetition) for scripts/test.sh: never installs
#              packages, prints the table instead of writing bench/results/latest.md, and
#              fails only when tidemark fails or a contender's copy is wrong, never on timing
#   --out FILE where to write the Markdown report (default: bench/results/latest.md for a
#              full run, none for --smoke)
#   --keep     leave the cluster and the bench databases in place afterwards
#   --no-many  leave out the many-tables figures (bench/many.sh: cron tick over 60 tables,
#              no-op runs with distinct and tied timestamps, initial load with --jobs)
#   --many-only  run only those, through bench/many.sh on its own cluster (with --smoke:
#              its smoke sizes; --reps passed on); writes bench/results/many.md
#
# Environment: TIDEMARK_BIN (default build/tidemark, built when missing),
# TIDEMARK_BENCH_PORT (default 55434; 55435 for --smoke).
#
# The script starts and stops its own private cluster (scripts/lib/pgcluster.sh): "bench",
# or "bench-smoke" for --smoke so that scripts/test.sh never collides with a running
# benchmark. It holds one source database and one target database per contender, so no
# contender ever writes into another's table:
#   bench_src  src_n (N rows), src_10n (10×N rows), lb_src (lookback figure)
#   bench_tm   tidemark's targets and its state schema
#   bench_hand targets of the COPY pipe and of the hand-written SQL baseline
#   bench_pgl  pgloader's target          bench_py  the psycopg2 script's target
# Every measurement starts after a CHECKPOINT; contenders alternate within each repetition
# (the order rotates); each measured run is checked (row count and sum(hashtext(row::text))
# equal to the source) and a contender whose check fails is marked FAILED.
# After its own figures it runs bench/many.sh on the same cluster (same binary, same reps)
# and puts that table in the report under "Many tables"; its raw samples go next to the
# report's (latest-many.tsv).
# Exit status: 0, or 1 when tidemark failed or a contender that ran produced a wrong copy.
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_DIR/lib.sh"

CLUSTER=bench
PORT=""
ROWS=200000
REPS=3
SMOKE=0
KEEP=0
OUT=""
OUT_SET=0
MANY=1
MANY_ONLY=0

while (($#)); do
  case "$1" in
    --rows) ROWS="${2:?--rows needs a number}"; shift 2 ;;
    --rows=*) ROWS="${1#--rows=}"; shift ;;
    --reps) REPS="${2:?--reps needs a number}"; shift 2 ;;
    --reps=*) REPS="${1#--reps=}"; shift ;;
    --smoke) SMOKE=1; shift ;;
    --out) OUT="${2:?--out needs a file}"; OUT_SET=1; shift 2 ;;
    --out=*) OUT="${1#--out=}"; OUT_SET=1; shift ;;
    --keep) KEEP=1; shift ;;
    --no-many) MANY=0; shift ;;
    --many-only) MANY_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ((MANY_ONLY)); then
  args=(--reps "$REPS")
  ((SMOKE)) && args+=(--smoke)
  ((KEEP)) && args+=(--keep)
  ((OUT_SET)) && args+=(--out "$OUT")
  exec bash "$BENCH_DIR/many.sh" "${args[@]}"
fi
if ((SMOKE)); then
  ROWS=2000
  REPS=1
  ((OUT_SET)) || OUT=""
  # Its own cluster, so scripts/test.sh can run while a full benchmark holds "bench".
  CLUSTER=bench-smoke
  PORT="${TIDEMARK_BENCH_PORT:-55435}"
else
  ((OUT_SET)) || OUT="$BENCH_DIR/results/latest.md"
  PORT="${TIDEMARK_BENCH_PORT:-55434}"
fi
if [[ ! "$ROWS" =~ ^[0-9]+$ ]] || ((ROWS < 1000)); then
  echo "bench/run.sh: --rows must be a whole number >= 1000" >&2
  exit 2
fi
if [[ ! "$REPS" =~ ^[0-9]+$ ]] || ((REPS < 1)); then
  echo "bench/run.sh: --reps must be a whole number >= 1" >&2
  exit 2
fi

ROWS10=$((ROWS * 10))
DELTA=$((ROWS / 100))          # figure 2: 1% of N, the same delta on both tables
LB_RECENT=$((ROWS / 10))       # figure 3: rows inside the lookback window
LB_OLD=$((ROWS - LB_RECENT))   # figure 3: rows far below the window
LB_SPAN_US=40000000            # the recent rows span 40 s; the lookback is 60 s
FAST_REPS=$((SMOKE ? 1 : (REPS > 5 ? REPS : 5)))
NPROC="$(nproc)"
TM_BIN="${TIDEMARK_BIN:-$TM_REPO/build/tidemark}"
TM_BIN_ORIG=""
TM_BIN_DATE=""
TM_COMMIT=""
LOAD_BEFORE=""
PY=/usr/bin/python3
WORK=""
RAW=""
CFG=""
FAILURES=()                    # "figure/contender: why" for every failed check or run
declare -A SKIP=()             # contender -> why it did not run
declare -A SRC_SUM=()          # source table -> "count|hash" of its current content
declare -A HAND_WM=()          # table -> watermark kept by the hand-written baseline
MEASURE_WAL=1                  # every sample's COUNTER is the WAL it wrote

# ---------------------------------------------------------------------------
# Tools, cluster, SQL helpers
# ---------------------------------------------------------------------------

have_pgloader() { command -v pgloader >/dev/null 2>&1; }
have_psycopg2() { [[ -x "$PY" ]] && "$PY" -c 'import psycopg2' >/dev/null 2>&1; }

setup_tools() {
  if [[ ! -x "$TM_BIN" ]]; then
    say "building tidemark ($TM_BIN is missing)"
    tm_build build
    TM_BIN="$TM_REPO/build/tidemark"
  fi
  command -v /usr/bin/time >/dev/null || { echo "bench/run.sh: /usr/bin/time missing (Debian package time)" >&2; exit 1; }

  local -a missing=()
  have_pgloader || missing+=(pgloader)
  have_psycopg2 || missing+=(python3-psycopg2)
  if ((${#missing[@]})) && ((!SMOKE)) && [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    if ! { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y \
      --no-install-recommends "${missing[@]}" >/dev/null; }; then
      note "apt-get failed; the contenders it would bring are skipped"
    fi
  fi
  # Others may rebuild build/tidemark while the benchmark runs: measure one fixed copy.
  TM_BIN_ORIG="$TM_BIN"
  TM_BIN_DATE="$(stat -c '%y' "$TM_BIN" | cut -d. -f1)"
  cp -- "$TM_BIN" "$WORK/tidemark"
  TM_BIN="$WORK/tidemark"
  TM_COMMIT="$(git -C "$TM_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git -C "$TM_REPO" status --porcelain -- src include CMakeLists.txt 2>/dev/null)" ]]; then
    TM_COMMIT="$TM_COMMIT (+ uncommitted changes in src/)"
  fi

  have_pgloader || SKIP[pgloader]="pgloader is not installed (Debian package pgloader)"
  have_psycopg2 || SKIP[python]="psycopg2 is not installed for $PY (Debian package python3-psycopg2)"
  local c
  for c in "${!SKIP[@]}"; do note "skipping $c: ${SKIP[$c]}"; done
}

# Content of a table: "count|hash", the hash order-independent.
content() { q "$1" "SELECT count(*) || '|' || coalesce(sum(hashtext(t::text)), 0) FROM $2 AS t"; }
refresh_source_sum() { SRC_SUM[$1]="$(content bench_src "public.$1")"; }

# The columns every table shares: bigint key, int, numeric, text, timestamptz (cursor), jsonb.
table_ddl() {
  printf 'CREATE TABLE public.%s (id bigint PRIMARY KEY, qty integer NOT NULL, price numeric(12,2),
    note text, updated_at timestamptz NOT NULL, attrs jsonb) WITH (autovacuum_enabled = off);' "$1"
}
COLS="id, qty, price, note, updated_at, attrs"

start_cluster() {
  say "starting cluster '$CLUSTER' on port $PORT"
  cluster_up bench_src bench_tm bench_hand bench_pgl bench_py
}

cleanup() {
  local rc=$?
  if ((KEEP)); then
    note "cluster '$CLUSTER' kept: PGHOST=${TM_PGHOST:-?} PGPORT=$PORT psql -U postgres bench_src"
    note "work directory kept (config, tidemark copy, raw samples): $WORK"
  else
    [[ -n "${TM_PGHOST:-}" ]] && drop_databases bench_src bench_tm bench_hand bench_pgl bench_py
    tm_cluster_stop "$CLUSTER" || true
    [[ -n "$WORK" ]] && rm -rf -- "$WORK"
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------
# Measuring one run
# ---------------------------------------------------------------------------

# record FIG CONTENDER REP DB TABLE [SOURCE_TABLE]: compare the target with the source and
# append the measurement to the raw results. A failed run or a wrong copy is a failure.
record() {
  local fig="$1" cont="$2" rep="$3" db="$4" table="$5" srct="${6:-$5}" got check=ok
  got="$(content "$db" "public.$table" 2>/dev/null || echo "error")"
  if ((M_RC != 0)); then
    check=FAILED
    FAILURES+=("$fig/$cont rep $rep: exited $M_RC: $(tail -n 3 "$WORK/err" | tr '\n' ' ')")
  elif [[ "$got" != "${SRC_SUM[$srct]}" ]]; then
    check=FAILED
    FAILURES+=("$fig/$cont rep $rep: target $db.$table has count|hash $got, source has ${SRC_SUM[$srct]}")
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fig" "$cont" "$rep" "$M_WALL" "$M_USER" \
    "$M_SYS" "$M_RSS" "$M_WAL" "${got%%|*}" "$check" >>"$RAW"
  note "$(printf '%-10s %-9s rep %s: %8.3f s  cpu %6.2f s  rss %6d KiB  wal %11d B  %s' \
    "$fig" "$cont" "$rep" "$M_WALL" "$(awk -v u="$M_USER" -v s="$M_SYS" 'BEGIN{print u+s}')" \
    "$M_RSS" "$M_WAL" "$check")"
}

available() { [[ -z "${SKIP[$1]:-}" ]]; }

# ---------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------

# tidemark: one pipeline per table, named like the table.
tm_reset() {
  q bench_tm "TRUNCATE public.$1" >/dev/null
  q bench_tm "DO \$\$ BEGIN IF to_regclass('tidemark.pipeline_state') IS NOT NULL THEN
    DELETE FROM tidemark.pipeline_state WHERE pipeline = '$1'; END IF; END \$\$" >/dev/null
}
run_tidemark() {
  local status
  measure "$TM_BIN" run -c "$CFG" --json "$1"
  status="$(sed -n 's/^ *"status": "\([a-z_]*\)".*/\1/p' "$WORK/out" | head -n 1)"
  if ((M_RC == 0)) && [[ "$status" != succeeded ]]; then
    M_RC=99
    echo "tidemark reported status '$status'" >>"$WORK/err"
  fi
  if ((M_RC != 0)); then
    note "tidemark run $1 failed (exit $M_RC):"
    sed 's/^/      /' "$WORK/err" "$WORK/out" | tail -n 20 >&2
  fi
}

# The limit: psql COPY TO STDOUT | psql COPY FROM STDIN.
run_copy() { # TABLE [WHERE]
  local sel="SELECT $COLS FROM public.$1${2:+ WHERE $2}"
  # shellcheck disable=SC2016 # expanded by the inner shell
  measure bash -c 'set -o pipefail
    psql -X -q -v ON_ERROR_STOP=1 -d bench_src -c "COPY ($1) TO STDOUT" |
      psql -X -q -v ON_ERROR_STOP=1 -d bench_hand -c "COPY $2 ($3) FROM STDIN"' \
    _ "$sel" "public.$1" "$COLS"
}

# The hand-written incremental job: COPY the delta into a TEMP table and merge it with one
# INSERT … ON CONFLICT, in one psql session. MODE distinct skips unchanged rows (WHERE …
# IS DISTINCT FROM, like tidemark); MODE naive rewrites every row it read.
hand_sql() { # TABLE MODE
  local set="qty = EXCLUDED.qty, price = EXCLUDED.price, note = EXCLUDED.note,
    updated_at = EXCLUDED.updated_at, attrs = EXCLUDED.attrs"
  local where=""
  [[ "$2" == distinct ]] && where="WHERE (t.qty, t.price, t.note, t.updated_at, t.attrs)
    IS DISTINCT FROM (EXCLUDED.qty, EXCLUDED.price, EXCLUDED.note, EXCLUDED.updated_at, EXCLUDED.attrs)"
  cat <<EOF
BEGIN;
CREATE TEMP TABLE delta (LIKE public.$1) ON COMMIT DROP;
\\copy delta FROM pstdin
INSERT INTO public.$1 AS t ($COLS) SELECT $COLS FROM delta
  ON CONFLICT (id) DO UPDATE SET $set $where;
COMMIT;
EOF
}
run_hand() { # TABLE WHERE MODE
  hand_sql "$1" "$3" >"$WORK/hand.sql"
  # shellcheck disable=SC2016 # expanded by the inner shell
  measure bash -c 'set -o pipefail
    psql -X -q -v ON_ERROR_STOP=1 -d bench_src -c "COPY ($1) TO STDOUT" |
      psql -X -q -v ON_ERROR_STOP=1 -d bench_hand -f "$2"' \
    _ "SELECT $COLS FROM public.$1 WHERE $2" "$WORK/hand.sql"
}

# pgloader, PostgreSQL to PostgreSQL, data only into the existing empty table. With its
# default prefetch (100000 rows) Debian's pgloader 3.6.9 died with "Heap exhausted, game
# over" on 2 of 3 loads of the 2M-row table here (its SBCL heap reached ~1.1 GB); a smaller
# prefetch, the usual workaround, keeps it at ~300 MB and loads as fast.
run_pgloader() { # TABLE
  cat >"$WORK/pgloader.load" <<EOF
LOAD DATABASE
  FROM pgsql://postgres@unix:$PGHOST:$PGPORT/bench_src
  INTO pgsql://postgres@unix:$PGHOST:$PGPORT/bench_pgl
WITH data only, create no tables, create no indexes, reset no sequences, no foreign keys,
  prefetch rows = 10000
INCLUDING ONLY TABLE NAMES MATCHING '$1' IN SCHEMA 'public';
EOF
  rm -rf -- "$WORK/pgloader"
  measure pgloader --no-ssl-cert-verification --root-dir "$WORK/pgloader" "$WORK/pgloader.load"
}

# The psycopg2 script (bench/handwritten.py).
run_python() { # TABLE
  measure "$PY" "$BENCH_DIR/handwritten.py" --source dbname=bench_src --target dbname=bench_py \
    --table "public.$1"
}

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

generate_sources() {
  say "generating sources: src_n ($ROWS rows), src_10n ($ROWS10 rows), lb_src ($ROWS rows)"
  tm_psql "$CLUSTER" bench_src -q <<EOF
CREATE FUNCTION gen_rows(first bigint, last bigint, t0 timestamptz, step interval)
RETURNS TABLE (id bigint, qty integer, price numeric(12,2), note text, updated_at timestamptz, attrs jsonb)
LANGUAGE sql IMMUTABLE AS \$\$
  SELECT i, ((i * 7919) % 100000)::integer,
         CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 104729) % 10000000) / 100.0 END,
         'item ' || i || ' ' || md5(i::text),
         t0 + (i - first) * step,
         jsonb_build_object('k', i % 97, 'tag', 't' || (i % 13), 'flag', i % 2 = 0,
                            'tags', jsonb_build_array(i % 3, i % 5))
  FROM generate_series(first, last) AS i
\$\$;
$(table_ddl src_n)
$(table_ddl src_10n)
$(table_ddl lb_src)
INSERT INTO src_n SELECT * FROM gen_rows(1, $ROWS, '2000-01-01 00:00:00+00', '1 second');
INSERT INTO src_10n SELECT * FROM gen_rows(1, $ROWS10, '2000-01-01 00:00:00+00', '1 second');
CREATE INDEX ON src_n (updated_at);
CREATE INDEX ON src_10n (updated_at);
CREATE INDEX ON lb_src (updated_at);
VACUUM ANALYZE src_n;
VACUUM ANALYZE src_10n;
EOF
  refresh_source_sum src_n
  refresh_source_sum src_10n
  local db
  for db in bench_tm bench_hand; do
    tm_psql "$CLUSTER" "$db" -q -c "$(table_ddl src_n) $(table_ddl src_10n) $(table_ddl lb_src)"
  done
  tm_psql "$CLUSTER" bench_pgl -q -c "$(table_ddl src_n) $(table_ddl src_10n)"
  tm_psql "$CLUSTER" bench_py -q -c "$(table_ddl src_n)"
}

write_config() {
  CFG="$WORK/bench.yaml"
  cat >"$CFG" <<EOF
version: 1
connections:
  src: "$(tm_dsn bench_src)"
  tgt: "$(tm_dsn bench_tm)"
pipelines:
EOF
  local t lookback
  for t in src_n src_10n lb_src; do
    lookback=""
    [[ "$t" == lb_src ]] && lookback=", lookback: 60s"
    cat >>"$CFG" <<EOF
  - name: $t
    source: {connection: src, table: public.$t}
    detect: {strategy: updated_at, cursor: updated_at$lookback}
    target: {connection: tgt, table: public.$t, key: [id], write: upsert}
EOF
  done
}

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

# 1 and 5: full initial load into an empty table with the same primary key.
fig_full_load() { # FIG TABLE CONTENDERS...
  local fig="$1" table="$2" rep c
  shift 2
  say "figure 1: full load of $table (${fig}), contenders: $*"
  for ((rep = 1; rep <= REPS; rep++)); do
    while read -r c; do
      available "$c" || continue
      case "$c" in
        tidemark) tm_reset "$table"; run_tidemark "$table"; record "$fig" tidemark "$rep" bench_tm "$table" ;;
        copy) q bench_hand "TRUNCATE public.$table" >/dev/null; run_copy "$table"
          record "$fig" copy "$rep" bench_hand "$table" ;;
        pgloader) q bench_pgl "TRUNCATE public.$table" >/dev/null; run_pgloader "$table"
          record "$fig" pgloader "$rep" bench_pgl "$table" ;;
        python) q bench_py "TRUNCATE public.$table" >/dev/null; run_python "$table"
          record "$fig" python "$rep" bench_py "$table" ;;
      esac
    done < <(rotate "$rep" "$@")
  done
  # What the incremental figures start from; autovacuum is off on the bench tables, so
  # vacuum and analyze the loaded targets here, untimed, as autovacuum would.
  q bench_tm "VACUUM ANALYZE public.$table" >/dev/null
  q bench_hand "VACUUM ANALYZE public.$table" >/dev/null
  HAND_WM[$table]="$(q bench_src "SELECT max(updated_at) FROM public.$table")"
}

# 2: 1% of N rows changed, spread over the whole table; tidemark vs the hand-written job.
fig_incremental() { # FIG TABLE SIZE
  local fig="$1" table="$2" size="$3" rep c stride wm
  stride=$((size / DELTA))
  say "figure 2: incremental run on $table ($size rows, delta $DELTA rows)"
  for ((rep = 1; rep <= FAST_REPS; rep++)); do
    q bench_src "UPDATE public.$table SET qty = qty + 1, attrs = attrs || jsonb_build_object('rev', $rep),
      updated_at = clock_timestamp() WHERE id % $stride = $(((rep * 37) % stride))" >/dev/null
    q bench_src "VACUUM ANALYZE public.$table" >/dev/null
    refresh_source_sum "$table"
    wm="${HAND_WM[$table]}"
    while read -r c; do
      case "$c" in
        tidemark) run_tidemark "$table"; record "$fig" tidemark "$rep" bench_tm "$table" ;;
        hand) run_hand "$table" "updated_at > '$wm'" distinct; record "$fig" hand "$rep" bench_hand "$table" ;;
      esac
    done < <(rotate "$rep" tidemark hand)
    HAND_WM[$table]="$(q bench_src "SELECT max(updated_at) FROM public.$table")"
  done
}

# 4: nothing changed since the last run: whole-process wall time.
fig_noop() { # FIG TABLE
  local fig="$1" table="$2" rep c
  say "figure 4: no-op run on $table"
  for ((rep = 1; rep <= FAST_REPS; rep++)); do
    while read -r c; do
      case "$c" in
        tidemark) run_tidemark "$table"; record "$fig" tidemark "$rep" bench_tm "$table" ;;
        hand) run_hand "$table" "updated_at > '${HAND_WM[$table]}'" distinct
          record "$fig" hand "$rep" bench_hand "$table" ;;
      esac
    done < <(rotate "$rep" tidemark hand)
  done
}

# 3: a lookback re-reads the newest LB_RECENT rows; 1% of them changed. Measured per
# repetition: writing those rows the first time (lb_first) and re-reading them (lb_reread),
# tidemark (upsert … WHERE … IS DISTINCT FROM) vs the hand-written job without that WHERE.
fig_lookback() {
  local rep c wm spacing
  spacing=$((LB_SPAN_US / LB_RECENT))
  say "figure 3: lookback re-read of $LB_RECENT rows (1% changed) in lb_src ($ROWS rows)"
  for ((rep = 1; rep <= FAST_REPS; rep++)); do
    # Reset: the old rows only (one a minute, far below any later window), loaded by both.
    q bench_src "DELETE FROM lb_src" >/dev/null
    q bench_src "INSERT INTO lb_src SELECT * FROM gen_rows(1, $LB_OLD, '1990-01-01 00:00:00+00', '1 minute')" >/dev/null
    q bench_src "VACUUM ANALYZE lb_src" >/dev/null
    refresh_source_sum lb_src
    tm_reset lb_src
    q bench_hand "TRUNCATE lb_src" >/dev/null
    run_tidemark lb_src
    ((M_RC == 0)) || FAILURES+=("lookback/tidemark rep $rep: preload failed")
    run_copy lb_src
    ((M_RC == 0)) || FAILURES+=("lookback/copy rep $rep: preload failed")
    wm="$(q bench_src "SELECT max(updated_at) FROM lb_src")"
    # The recent rows arrive; both write them the first time.
    q bench_src "INSERT INTO lb_src SELECT * FROM gen_rows($((LB_OLD + 1)), $ROWS,
      '2020-01-01 00:00:00+00', '$spacing microseconds')" >/dev/null
    q bench_src "VACUUM ANALYZE lb_src" >/dev/null
    q bench_tm "VACUUM ANALYZE lb_src" >/dev/null
    q bench_hand "VACUUM ANALYZE lb_src" >/dev/null
    refresh_source_sum lb_src
    while read -r c; do
      case "$c" in
        tidemark) run_tidemark lb_src; record lb_first tidemark "$rep" bench_tm lb_src ;;
        hand) run_hand lb_src "updated_at > timestamptz '$wm' - interval '60 seconds'" naive
          record lb_first hand "$rep" bench_hand lb_src ;;
      esac
    done < <(rotate "$rep" tidemark hand)
    wm="$(q bench_src "SELECT max(updated_at) FROM lb_src")"
    q bench_tm "VACUUM lb_src" >/dev/null
    q bench_hand "VACUUM lb_src" >/dev/null
    # 1% of the recent rows change (new cursor values just above the old maximum); the
    # next run re-reads the whole window.
    q bench_src "UPDATE lb_src SET qty = qty + 1, attrs = attrs || '{\"rev\": 1}',
      updated_at = timestamptz '$wm' + (id - $LB_OLD) * interval '1 microsecond'
      WHERE id > $LB_OLD AND id % 100 = 0" >/dev/null
    q bench_src "VACUUM ANALYZE lb_src" >/dev/null
    refresh_source_sum lb_src
    while read -r c; do
      case "$c" in
        tidemark) run_tidemark lb_src; record lb_reread tidemark "$rep" bench_tm lb_src ;;
        hand) run_hand lb_src "updated_at > timestamptz '$wm' - interval '60 seconds'" naive
          record lb_reread hand "$rep" bench_hand lb_src ;;
      esac
    done < <(rotate "$rep" tidemark hand)
  done
}

# The many-tables figures (bench/many.sh) on this cluster, with this binary.
fig_many() {
  local -a args=(--cluster "$CLUSTER" --port "$PORT" --reps "$REPS" --out "$WORK/many.md" --raw "$WORK/many.tsv")
  ((SMOKE)) && args+=(--smoke)
  say "many tables (bench/many.sh)"
  if ! TIDEMARK_BIN="$TM_BIN" bash "$BENCH_DIR/many.sh" "${args[@]}" >/dev/null; then
    FAILURES+=("many tables: bench/many.sh failed (its Failures list is in the report's Many tables section)")
  fi
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

fmt_s() { [[ -n "$1" ]] && calc '%.3f s' "$1" || printf '—'; }
fmt_mib() { [[ -n "$1" ]] && calc '%.1f MiB' "$1 / 1024" || printf '—'; }
fmt_wal() { [[ -n "$1" ]] && calc '%.2f MiB' "$1 / 1048576" || printf '—'; }

ROWS_MD=()
# trow FIGURE TIDEMARK CONTENDER RATIO TARGET RESULT
trow() { ROWS_MD+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

# A value cell: the formatted median, or FAILED / skipped for a contender that did not
# produce a correct copy.
cell() { # FIG CONT FIELD FORMATTER
  local st v
  st="$(state "$1" "$2")"
  v="$(med "$1" "$2" "$3")"
  case "$st" in
    skipped) printf 'skipped%s' "${SKIP[$2]:+ (${SKIP[$2]%% (*})}" ;;
    FAILED) printf '**FAILED** (%s)' "$("$4" "$v")" ;;
    *) "$4" "$v" ;;
  esac
}

build_table() {
  local tm c r st_tm st_c lbl tgt_op tgt tgt_txt v fig
  # 1. Full load: at N against every contender, at 10×N against the fast ones.
  local fc size
  for fc in load_n/copy load_n/pgloader load_n/python load_10n/copy load_10n/pgloader; do
    fig="${fc%/*}"
    c="${fc#*/}"
    size="N = $ROWS"
    [[ "$fig" == load_10n ]] && size="10×N = $ROWS10"
    case "$c" in
      copy) lbl="COPY pipe (psql \\| psql)"; tgt_op=">="; tgt=0.9; tgt_txt="≥ 0.9× COPY pipe speed" ;;
      pgloader) lbl="pgloader"; tgt_op=">="; tgt=5; tgt_txt="≥ 5× pgloader speed" ;;
      python) lbl="psycopg2 script"; tgt_op=""; tgt=""; tgt_txt="— (reference)" ;;
    esac
    r="$(pratio "$fig" "$c" wall "$fig" tidemark wall)"
    st_tm="$(state "$fig" tidemark)"
    st_c="$(state "$fig" "$c")"
    if [[ -n "$tgt_op" ]]; then
      v="$(verdict "$r" "$tgt_op" "$tgt" "$st_tm" "$st_c")"
    else
      v="$(ref_verdict "$st_tm" "$st_c")"
    fi
    trow "1. Full load, $size rows: tidemark vs $lbl" "$(cell "$fig" tidemark wall fmt_s)" \
      "$(cell "$fig" "$c" wall fmt_s)" "$(fmt_x "$r" speed)" "$tgt_txt" "$v"
  done

  # 2. Incremental.
  for fig in inc_n inc_10n; do
    local sz=$ROWS
    [[ "$fig" == inc_10n ]] && sz=$ROWS10
    r="$(pratio "$fig" hand wall "$fig" tidemark wall)"
    trow "2. Incremental, $DELTA rows (1% of N) changed in $sz rows: tidemark vs COPY + INSERT … ON CONFLICT" \
      "$(cell "$fig" tidemark wall fmt_s)" "$(cell "$fig" hand wall fmt_s)" "$(fmt_x "$r" speed)" \
      "≥ 0.9× hand-written speed" "$(verdict "$r" ">=" 0.9 "$(state "$fig" tidemark)" "$(state "$fig" hand)")"
  done
  r="$(pratio inc_10n tidemark wall inc_n tidemark wall)"
  trow "2. Incremental growth, table N → 10×N at the same delta: tidemark at 10×N vs tidemark at N" \
    "$(cell inc_10n tidemark wall fmt_s)" "$(cell inc_n tidemark wall fmt_s)" "$(fmt_x "$r" time)" "< 2× time" \
    "$(verdict "$r" "<" 2 "$(state inc_10n tidemark)" "$(state inc_n tidemark)")"
  r="$(pratio inc_10n hand wall inc_n hand wall)"
  trow "2. (reference) growth of the hand-written job, N → 10×N" "—" \
    "$(cell inc_10n hand wall fmt_s) vs $(cell inc_n hand wall fmt_s)" "$(fmt_x "$r" time)" "—" "—"

  # 3. Lookback re-read.
  local st_re st_first st_naive
  st_re="$(state lb_reread tidemark)"
  st_first="$(state lb_first tidemark)"
  st_naive="$(state lb_reread hand)"
  r="$(pratio lb_reread tidemark wall lb_reread hand wall)"
  trow "3. Lookback re-read of $LB_RECENT rows, 99% unchanged: tidemark vs naive upsert (no IS DISTINCT FROM), time" \
    "$(cell lb_reread tidemark wall fmt_s)" "$(cell lb_reread hand wall fmt_s)" "$(fmt_x "$r" time)" "—" \
    "$(ref_verdict "$st_re" "$st_naive")"
  r="$(pratio lb_reread tidemark wal lb_reread hand wal)"
  trow "3. Lookback re-read: tidemark vs naive upsert, WAL" \
    "$(cell lb_reread tidemark wal fmt_wal)" "$(cell lb_reread hand wal fmt_wal)" "$(fmt_x "$r" WAL)" "—" \
    "$(ref_verdict "$st_re" "$st_naive")"
  r="$(pratio lb_reread tidemark wall lb_first tidemark wall)"
  trow "3. Lookback re-read vs tidemark writing those rows the first time, time" \
    "$(cell lb_reread tidemark wall fmt_s)" "$(cell lb_first tidemark wall fmt_s) (first write)" \
    "$(fmt_x "$r" time)" "≤ 0.35× time" "$(verdict "$r" "<=" 0.35 "$st_re" "$st_first")"
  r="$(pratio lb_reread tidemark wal lb_first tidemark wal)"
  trow "3. Lookback re-read vs tidemark writing those rows the first time, WAL" \
    "$(cell lb_reread tidemark wal fmt_wal)" "$(cell lb_first tidemark wal fmt_wal) (first write)" \
    "$(fmt_x "$r" WAL)" "≤ 0.3× WAL" "$(verdict "$r" "<=" 0.3 "$st_re" "$st_first")"

  # 4. No-op.
  tm="$(med noop tidemark wall)"
  r="$(pratio noop tidemark wall noop hand wall)"
  trow "4. No-op run (nothing changed, $ROWS10-row table): whole \`tidemark run\` process vs hand-written job moving 0 rows" \
    "$(cell noop tidemark wall fmt_ms)" "$(cell noop hand wall fmt_ms)" "$(fmt_x "$r" time)" "< 100 ms" \
    "$(verdict "$tm" "<" 0.1 "$(state noop tidemark)")"

  # CPU during the load.
  local w
  for fig in load_n load_10n; do
    w="$(med "$fig" tidemark wall)"
    r="$(pratio "$fig" tidemark cpu "$fig" tidemark wallx)"
    trow "CPU of tidemark during the full load of $([[ $fig == load_n ]] && echo "$ROWS" || echo "$ROWS10") rows: client user+sys vs wall × $NPROC cores" \
      "$(cell "$fig" tidemark cpu fmt_s)" "$([[ -n "$w" ]] && calc '%.3f s' "$w * $NPROC" || echo —)" \
      "$([[ -n "$r" ]] && calc '%.1f %%' "$r * 100" || echo —)" "≤ 15% of machine CPU" \
      "$(verdict "$r" "<=" 0.15 "$(state "$fig" tidemark)")"
  done

  # 5. Peak memory.
  trow "5. Peak RSS of tidemark, full load of N = $ROWS rows" "$(cell load_n tidemark rss fmt_mib)" "—" "—" \
    "< 64 MiB" "$(verdict "$(med load_n tidemark rss)" "<" 65536 "$(state load_n tidemark)")"
  trow "5. Peak RSS of tidemark, full load of 10×N = $ROWS10 rows" "$(cell load_10n tidemark rss fmt_mib)" "—" "—" \
    "< 64 MiB" "$(verdict "$(med load_10n tidemark rss)" "<" 65536 "$(state load_10n tidemark)")"
  r="$(pratio load_10n tidemark rss load_n tidemark rss)"
  trow "5. Peak RSS growth N → 10×N" "$(cell load_10n tidemark rss fmt_mib)" "$(cell load_n tidemark rss fmt_mib) (at N)" \
    "$(fmt_x "$r" RSS)" "flat: ≤ 1.1×" "$(verdict "$r" "<=" 1.1 "$(state load_10n tidemark)" "$(state load_n tidemark)")"
}

# Per figure and contender: the medians of everything recorded.
detail_table() {
  local fig c n w cpu st
  echo "| run | contender | runs | wall | client CPU (user+sys) | wall × $NPROC cores | CPU share | WAL written | peak RSS | rows in target | check |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for fig in load_n load_10n inc_n inc_10n lb_first lb_reread noop; do
    for c in tidemark copy pgloader python hand; do
      n="$(awk -F'\t' -v f="$fig" -v c="$c" '$1 == f && $2 == c { n++ } END { print n + 0 }' "$RAW")"
      ((n)) || continue
      w="$(med "$fig" "$c" wall)"
      cpu="$(med "$fig" "$c" cpu)"
      st="$(state "$fig" "$c")"
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$fig" "$c" "$n" "$(fmt_s "$w")" \
        "$(fmt_s "$cpu")" "$(calc '%.3f s' "$w * $NPROC")" "$(calc '%.1f %%' "100 * $cpu / ($w * $NPROC)")" \
        "$(fmt_wal "$(med "$fig" "$c" wal)")" "$(fmt_mib "$(med "$fig" "$c" rss)")" \
        "$(calc '%d' "$(med "$fig" "$c" rows)")" "$([[ $st == ok ]] && echo ok || echo "**$st**")"
    done
  done
}

machine() {
  local mem cpu pgv
  mem="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  pgv="$(q postgres 'SELECT version()')"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- machine: $NPROC cores ($cpu), $mem memory, $(uname -sr); load average (1/5/15 min) $LOAD_BEFORE before the benchmark started (other work on the machine shows up there and in the timings)"
  echo "- PostgreSQL: $pgv; private cluster on a Unix socket, fsync = off, full_page_writes = off, shared_buffers = 256MB (scripts/lib/pgcluster.sh), max_wal_size = $(q postgres 'SHOW max_wal_size') (bench); source and targets live in the same cluster"
  echo "- tidemark: checkout at $TM_COMMIT when the run started, binary $TM_BIN_ORIG built $TM_BIN_DATE ($("$TM_BIN" --version 2>/dev/null | head -n 1 || true))"
  echo "- pgloader: $(have_pgloader && pgloader --version 2>/dev/null | head -n 1 || echo "not installed")"
  echo "- psycopg2: $(have_psycopg2 && "$PY" -c 'import psycopg2; print(psycopg2.__version__)' || echo "not installed")"
  echo "- sizes: N = $ROWS rows, 10×N = $ROWS10 rows, incremental delta $DELTA rows, lookback window $LB_RECENT rows; $REPS repetition(s) per figure ($FAST_REPS for the incremental, lookback and no-op figures), medians reported"
}

write_report() {
  build_table
  {
    echo "# tidemark benchmark$([[ $SMOKE == 1 ]] && echo " (smoke run: tiny size, timings meaningless)")"
    echo
    echo "Produced by \`bench/run.sh$([[ $SMOKE == 1 ]] && echo " --smoke")$([[ $SMOKE == 0 && $ROWS != 200000 ]] && echo " --rows $ROWS")$([[ $SMOKE == 0 && $REPS != 3 ]] && echo " --reps $REPS")\`."
    echo
    machine
    echo
    echo "Times are medians of whole-process wall times, connections included. Speed ratios are"
    echo "contender time ÷ tidemark time (above 1: tidemark is faster); time, WAL and RSS ratios are"
    echo "tidemark ÷ the reference (below 1: tidemark needs less). Each ratio is the median of the"
    echo "per-repetition ratios: the contenders alternate within a repetition, so drift between"
    echo "repetitions (other load on the machine) cancels; it can differ slightly from the quotient"
    echo "of the two medians shown. A contender whose copy does not match the source (row count"
    echo "and sum(hashtext(row::text))) is marked FAILED."
    echo
    echo "| figure | tidemark | contender | ratio | target | result |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS_MD[@]}"
    echo
    echo "## Per run (medians)"
    echo
    echo "Client CPU is user+sys of the measured process tree (\`/usr/bin/time\`; for the pipes"
    echo "both psql processes); WAL is \`pg_wal_lsn_diff\` of \`pg_current_wal_lsn()\` around the"
    echo "run. Figures: load_n/load_10n full initial load; inc_n/inc_10n incremental run;"
    echo "lb_first writing the lookback rows the first time; lb_reread re-reading them with 1%"
    echo "changed (hand = naive upsert); noop nothing changed. Contenders: copy = psql COPY | psql"
    echo "COPY; hand = psql COPY of the delta into a TEMP table + INSERT … ON CONFLICT in one"
    echo "psql session; pgloader; python = bench/handwritten.py."
    echo
    detail_table
    if [[ -f "$WORK/many.md" ]]; then
      echo
      echo "## Many tables (bench/many.sh)"
      echo
      cat "$WORK/many.md"
    elif ((MANY)); then
      echo
      echo "## Many tables (bench/many.sh)"
      echo
      echo "bench/many.sh wrote no report (see its output above)."
    fi
    if ((${#SKIP[@]})); then
      echo
      echo "Skipped contenders:"
      local c
      for c in "${!SKIP[@]}"; do echo "- $c: ${SKIP[$c]}"; done
    fi
    if ((${#FAILURES[@]})); then
      echo
      echo "Failures:"
      printf -- '- %s\n' "${FAILURES[@]}"
    fi
    echo
    echo "## Method"
    echo
    echo "- Source tables: bigint key (primary key), integer, numeric(12,2) (2% NULL), text, timestamptz cursor"
    echo "  (indexed), jsonb; generated deterministically with generate_series and VACUUM ANALYZEd."
    echo "  Targets have the same columns and primary key. Autovacuum is off on the bench tables; the"
    echo "  harness runs VACUUM (ANALYZE) at fixed points between measurements, untimed."
    echo "- tidemark runs \`updated_at\` pipelines with \`write: upsert\` (config written to a temp dir)."
    echo "- pgloader: \`LOAD DATABASE FROM pgsql://… INTO pgsql://… WITH data only, …, prefetch rows = 10000\`"
    echo "  into the existing table (its default prefetch of 100000 rows ran out of heap on the 2M-row table)."
    echo "- psycopg2 script (bench/handwritten.py): named (server-side) cursor, fetchmany(10000),"
    echo "  execute_values(INSERT … ON CONFLICT (id) DO UPDATE, page_size=1000), one commit."
    echo "- Full load: target truncated (and tidemark's state row deleted) before each repetition."
    echo "- Incremental: each repetition updates $DELTA rows spread evenly over the table"
    echo "  (qty, attrs, updated_at = clock_timestamp()); the hand-written job keeps its own watermark"
    echo "  (the source maximum it last copied) and reads \`updated_at > watermark\` through the index."
    echo "- Lookback: lb_src holds $LB_OLD old rows (one a minute, from 1990) and $LB_RECENT recent rows"
    echo "  spanning 40 s; \`lookback: 60s\`. Each repetition reloads the old rows, measures writing the"
    echo "  recent rows the first time (lb_first), changes 1% of them, and measures the re-read of the"
    echo "  whole window (lb_reread). The hand-written baseline reads the same window and upserts"
    echo "  without \`WHERE … IS DISTINCT FROM\`."
    echo "- No-op: right after the incremental runs on the 10×N table, nothing changed; tidemark's"
    echo "  whole process (config, connections, lock, state, commit) vs the hand-written job moving 0 rows."
    echo "- Raw samples: $([[ -n "$OUT" ]] && echo "\`${OUT%.md}.tsv\`" || echo "not kept (smoke)")."
  } >"$WORK/report.md"
  if [[ -n "$OUT" ]]; then
    mkdir -p -- "$(dirname -- "$OUT")"
    cp -- "$WORK/report.md" "$OUT"
    {
      printf 'figure\tcontender\trep\twall_s\tuser_s\tsys_s\tmaxrss_kib\twal_bytes\trows\tcheck\n'
      cat "$RAW"
    } >"${OUT%.md}.tsv"
    [[ -f "$WORK/many.tsv" ]] && cp -- "$WORK/many.tsv" "${OUT%.md}-many.tsv"
    say "report written to $OUT"
  fi
  cat "$WORK/report.md"
}

# ---------------------------------------------------------------------------

main() {
  begin_run run

  setup_tools
  start_cluster
  generate_sources
  write_config

  local -a load_contenders=(tidemark copy pgloader python)
  fig_full_load load_n src_n "${load_contenders[@]}"
  fig_full_load load_10n src_10n tidemark copy pgloader
  fig_incremental inc_n src_n "$ROWS"
  fig_incremental inc_10n src_10n "$ROWS10"
  fig_noop noop src_10n
  fig_lookback
  ((MANY)) && fig_many

  write_report
  end_run
}

main
