#!/usr/bin/env bash
# Many-tables benchmark (issue 17): measured, not asserted. bench/run.sh runs it after its own
# figures, on its cluster, and puts its table in its report; it also runs alone.
#
# Usage: bench/many.sh [--tables N] [--rows R] [--tie-rows T] [--reps R] [--quick] [--smoke]
#                      [--out FILE] [--keep] [--cluster NAME --port PORT]
#
#   --tables N    tables of the cron-tick and initial-load figures (default 60)
#   --rows R      rows per table (default 2000); a tick changes 3 tables, 100 rows each
#   --tie-rows T  rows of the two no-op tables, distinct and tied timestamps (default 200000)
#   --reps R      repetitions of the tick and load figures, medians reported (default 3);
#                 the no-op figures use max(R, 5)
#   --quick       full sizes, 1 repetition (3 for the no-op figures): a rough look
#   --smoke       tiny sizes (6 tables of 200 rows, 2000 tied rows), 1 repetition; fails only
#                 when tidemark fails or a copy is wrong, never on timing; writes no file
#   --out FILE    the Markdown report (default bench/results/many.md; none for --smoke)
#   --raw FILE    also keep the raw samples there (default: FILE of --out with .tsv)
#   --keep        leave the cluster and the databases in place afterwards
#   --cluster NAME --port PORT
#                 use that cluster of scripts/lib/pgcluster.sh (bench/run.sh passes its own);
#                 it is started when it is not running, and never stopped by this script
#
# Environment: TIDEMARK_BIN (default build/tidemark, built when missing);
# TIDEMARK_BENCH_MANY_PORT (default 55437, 55438 for --smoke) for the script's own cluster;
# TIDEMARK_BENCH_JOBS=auto|yes|no: measure `run --jobs 2` (auto: when this binary accepts
# --jobs on a run that is not a backfill); TIDEMARK_BENCH_SELECTORS=auto|yes|no: also measure
# the tick through one selector pipeline (`source.tables`, auto: when `tidemark validate`
# accepts that config); TIDEMARK_BENCH_QUIET=auto|yes|no: also measure the tick with each
# pipeline run on its own (TIDEMARK_QUIET_CHECK=off; auto: when the binary has that check). A figure whose feature is missing is reported as skipped, with why.
#
# Every figure is a ratio against one `psql -X -c 'select 1'` process on the same cluster (the
# real client from $TM_PGBIN, which bench/lib.sh puts first on PATH), timed
# the same way (a CHECKPOINT first, then the whole process under /usr/bin/time), alternating
# with the tidemark runs inside each repetition. Next to the times: connections opened per run,
# counted from the server's log_connections lines ("connection authorized") written while the
# measured process ran (so every connection counts, whoever opens it), and round trips per
# pipeline from the `round_trips` field of `run --json` when the binary reports it.
# Each measured run is checked: every target equals its source (count and hash per table).
# Exit status: 0, or 1 when a tidemark run failed or a copy was wrong.
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_DIR/lib.sh"

TABLES=60
ROWS=2000
CHANGED=3
DELTA=100
TIE_ROWS=200000
REPS=3
QUICK=0
SMOKE=0
KEEP=0
OUT=""
OUT_SET=0
RAW_OUT=""
CLUSTER=""
PORT=""
SHARED=0
DBS=(many_src many_tm many_sel many_alone)

while (($#)); do
  case "$1" in
    --tables) TABLES="${2:?--tables needs a number}"; shift 2 ;;
    --rows) ROWS="${2:?--rows needs a number}"; shift 2 ;;
    --tie-rows) TIE_ROWS="${2:?--tie-rows needs a number}"; shift 2 ;;
    --reps) REPS="${2:?--reps needs a number}"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --smoke) SMOKE=1; shift ;;
    --out) OUT="${2:?--out needs a file}"; OUT_SET=1; shift 2 ;;
    --raw) RAW_OUT="${2:?--raw needs a file}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --cluster) CLUSTER="${2:?--cluster needs a name}"; SHARED=1; shift 2 ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/many.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in TABLES ROWS TIE_ROWS REPS; do
  if [[ ! "${!v}" =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
    echo "bench/many.sh: --${v,,} must be a whole number >= 1" >&2
    exit 2
  fi
done
if ((SMOKE)); then
  TABLES=6 ROWS=200 DELTA=20 TIE_ROWS=2000 REPS=1
  ((OUT_SET)) || OUT=""
  FAST_REPS=1
elif ((QUICK)); then
  REPS=1
  FAST_REPS=3
  ((OUT_SET)) || OUT="$BENCH_DIR/results/many.md"
else
  FAST_REPS=$((REPS > 5 ? REPS : 5))
  ((OUT_SET)) || OUT="$BENCH_DIR/results/many.md"
fi
((CHANGED <= TABLES)) || CHANGED=$TABLES
((DELTA <= ROWS)) || DELTA=$ROWS
if ((SHARED)); then
  [[ -n "$PORT" ]] || { echo "bench/many.sh: --cluster needs --port" >&2; exit 2; }
else
  CLUSTER=bench-many
  ((SMOKE)) && CLUSTER=bench-many-smoke
  PORT="${TIDEMARK_BENCH_MANY_PORT:-$((SMOKE ? 55438 : 55437))}"
fi
[[ -z "$RAW_OUT" && -n "$OUT" ]] && RAW_OUT="${OUT%.md}.tsv"
JOBS_MODE="${TIDEMARK_BENCH_JOBS:-auto}"
SEL_MODE="${TIDEMARK_BENCH_SELECTORS:-auto}"
QUIET_MODE="${TIDEMARK_BENCH_QUIET:-auto}"
TM_BIN="${TIDEMARK_BIN:-$TM_REPO/build/tidemark}"
PY="$(command -v python3 || true)"
WORK=""
RAW=""      # one line per measured run
RTS=""      # one line per pipeline of a measured tidemark run
FAILURES=()
declare -A SKIP=()   # figure/contender -> why it was not measured
declare -A FP=()     # table set (many, dist, tie) -> fingerprint of its source tables
SAY_PREFIX="many: "
MEASURE_CONNS=1      # every sample's COUNTER is the connections its process opened
MED_FORMAT="%.6g"

# ---------------------------------------------------------------------------
# Cluster and SQL helpers
# ---------------------------------------------------------------------------

MANY=()   # the tick and load tables: m001, m002, …
ONE_DIST=one_dist ONE_TIE=one_tie
table_ddl() {
  printf 'CREATE TABLE public.%s (id bigint PRIMARY KEY, qty integer NOT NULL, price numeric(12,2),
    note text, updated_at timestamptz NOT NULL, attrs jsonb) WITH (autovacuum_enabled = off);\n' "$1"
}

# fp_sql TABLES...: one query giving "table:count:hash,…" over the tables, order-independent
# within each table.
fp_sql() {
  local t sep="" sql="SELECT string_agg(x, ',' ORDER BY x) FROM ("
  for t in "$@"; do
    sql+="$sep SELECT '$t:' || count(*) || ':' || coalesce(sum(hashtext(r::text)), 0) AS x FROM public.$t AS r"
    sep=" UNION ALL"
  done
  printf '%s) s' "$sql"
}
fingerprint() { q "$1" "$(fp_sql "${@:2}")"; }

start_cluster() {
  say "cluster '$CLUSTER' on port $PORT$([[ $SHARED == 1 ]] && echo " (the caller's)")"
  # Connections are counted from the server's own log: every connection the measured process
  # opens, through the run context or not. Takes effect for new connections on reload.
  cluster_up --set "log_connections = on" "${DBS[@]}"
  SERVER_LOG="${TM_CLUSTER_DIR:?}/server.log"
}

cleanup() {
  local rc=$?
  if ((KEEP)); then
    note "cluster '$CLUSTER' kept: PGHOST=${TM_PGHOST:-?} PGPORT=$PORT psql -U postgres many_src"
    note "work directory kept: $WORK"
  else
    if [[ -n "${TM_PGHOST:-}" ]]; then
      drop_databases "${DBS[@]}"
      q postgres "ALTER SYSTEM RESET log_connections" >/dev/null 2>&1 || true
      q postgres "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    fi
    ((SHARED)) || tm_cluster_stop "$CLUSTER" || true
    [[ -n "$WORK" ]] && rm -rf -- "$WORK"
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

# The rows of a `run --json` answer, wherever they sit in it (a plain array today; perhaps a
# summary with per-table rows later: then the innermost rows count): "pipeline status
# rows_read round_trips" per pipeline, "-" where a field is absent; round_trips given per role
# (an object) is summed.
json_rows() {
  "$PY" - "$1" <<'EOF'
import json, sys
def is_row(v):
    return isinstance(v, dict) and "pipeline" in v and "status" in v
def walk(v):
    """Print the innermost pipeline rows under v; True when it printed any."""
    found = False
    for x in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()):
        found = walk(x) or found
    if is_row(v) and not found:
        rt = v.get("round_trips")
        if isinstance(rt, dict):
            rt = sum(x for x in rt.values() if isinstance(x, (int, float)))
        print("\t".join(str(x) for x in (v["pipeline"], v["status"], v.get("rows_read", "-"),
                                         "-" if rt is None else rt)))
        found = True
    return found
walk(json.load(open(sys.argv[1])))
EOF
}

# tm FIG CONT REP EXPECTED_PIPELINES CONFIG [ARGS...]: one measured `tidemark run --json`; every
# pipeline must report succeeded. Keeps its per-pipeline rows in $RTS.
tm() {
  local fig="$1" cont="$2" rep="$3" want="$4" cfg="$5" n bad
  shift 5
  measure "$TM_BIN" run -c "$cfg" --json "$@"
  if ((M_RC != 0)); then
    FAILURES+=("$fig/$cont rep $rep: tidemark exited $M_RC: $(tail -n 3 "$WORK/err" | tr '\n' ' ')")
    M_OK=0
    return
  fi
  M_OK=1
  [[ -n "$PY" ]] || return 0
  if ! json_rows "$WORK/out" >"$WORK/rows" 2>"$WORK/json_err"; then
    FAILURES+=("$fig/$cont rep $rep: --json output unreadable: $(head -c 200 "$WORK/json_err")")
    M_OK=0
    return
  fi
  n="$(wc -l <"$WORK/rows")"
  bad="$(awk -F'\t' '$2 != "succeeded" { print $1 " " $2 }' "$WORK/rows" | head -n 3 | tr '\n' ' ')"
  if ((n != want)) || [[ -n "$bad" ]]; then
    FAILURES+=("$fig/$cont rep $rep: $n pipeline results (want $want)${bad:+, not succeeded: $bad}")
    M_OK=0
  fi
  awk -F'\t' -v f="$fig" -v c="$cont" -v r="$rep" 'BEGIN { OFS = "\t" } { print f, c, r, $1, $3, $4 }' \
    "$WORK/rows" >>"$RTS"
}

# check_and_record FIG CONT REP [DB SET]: compare the target tables of SET in DB with the
# source, then append the sample. A failed run or a wrong copy is a failure.
check_and_record() {
  local fig="$1" cont="$2" rep="$3" db="${4:-}" set="${5:-}" check=ok got rows="-"
  ((M_OK)) || check=FAILED
  if [[ -n "$db" && "$check" == ok ]]; then
    local -n tabs="SET_$set"
    got="$(fingerprint "$db" "${tabs[@]}" 2>/dev/null || echo error)"
    if [[ "$got" != "${FP[$set]}" ]]; then
      check=FAILED
      FAILURES+=("$fig/$cont rep $rep: the targets in $db differ from their sources")
    fi
  fi
  if [[ "$cont" != psql && -n "$PY" ]]; then
    rows="$(awk -F'\t' -v f="$fig" -v c="$cont" -v r="$rep" '$1 == f && $2 == c && $3 == r { s += $5 } END { print s + 0 }' "$RTS")"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fig" "$cont" "$rep" "$M_WALL" "$M_USER" "$M_SYS" \
    "$M_RSS" "$M_CONNS" "$rows" "$check" >>"$RAW"
  note "$(printf '%-6s %-10s rep %s: %8.3f s  %3s connections  rows read %6s  %s' "$fig" "$cont" "$rep" \
    "$M_WALL" "$M_CONNS" "$rows" "$check")"
}

# The unit of every ratio: one psql process running one query.
psql_once() {
  measure psql -X -q -d many_src -c 'select 1'
  M_OK=1
  ((M_RC == 0)) || { M_OK=0; FAILURES+=("psql select 1 exited $M_RC"); }
}

# ---------------------------------------------------------------------------
# Data and configs
# ---------------------------------------------------------------------------

generate() {
  local i t ddl=""
  for ((i = 1; i <= TABLES; i++)); do MANY+=("$(printf 'm%03d' "$i")"); done
  # The table sets a check compares, read through a nameref (local -n tabs="SET_…").
  # shellcheck disable=SC2034
  SET_many=("${MANY[@]}") SET_dist=("$ONE_DIST") SET_tie=("$ONE_TIE")
  for t in "${MANY[@]}" "$ONE_DIST" "$ONE_TIE"; do ddl+="$(table_ddl "$t")"; done
  say "generating $TABLES tables of $ROWS rows, and $ONE_DIST, $ONE_TIE of $TIE_ROWS rows"
  {
    cat <<EOF
CREATE FUNCTION gen_rows(n bigint, t0 timestamptz)
RETURNS TABLE (id bigint, qty integer, price numeric(12,2), note text, updated_at timestamptz, attrs jsonb)
LANGUAGE sql IMMUTABLE AS \$\$
  SELECT i, ((i * 7919) % 100000)::integer,
         CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 104729) % 10000000) / 100.0 END,
         'item ' || i || ' ' || md5(i::text), t0 + i * interval '1 second',
         jsonb_build_object('k', i % 97, 'tag', 't' || (i % 13), 'flag', i % 2 = 0)
  FROM generate_series(1, n) AS i
\$\$;
$ddl
EOF
    for t in "${MANY[@]}"; do
      echo "INSERT INTO $t SELECT * FROM gen_rows($ROWS, '2000-01-01 00:00:00+00'); CREATE INDEX ON $t (updated_at);"
    done
    for t in "$ONE_DIST" "$ONE_TIE"; do
      echo "INSERT INTO $t SELECT * FROM gen_rows($TIE_ROWS, '2000-01-01 00:00:00+00'); CREATE INDEX ON $t (updated_at);"
    done
    echo "VACUUM ANALYZE;"
  } | tm_psql "$CLUSTER" many_src -q -v ON_ERROR_STOP=1 >/dev/null
  printf '%s' "$ddl" | tm_psql "$CLUSTER" many_tm -q -v ON_ERROR_STOP=1 >/dev/null
  for t in "${MANY[@]}"; do table_ddl "$t"; done | tm_psql "$CLUSTER" many_sel -q -v ON_ERROR_STOP=1 >/dev/null
  for t in "${MANY[@]}"; do table_ddl "$t"; done | tm_psql "$CLUSTER" many_alone -q -v ON_ERROR_STOP=1 >/dev/null
  for t in many dist tie; do refresh_fp "$t"; done
}
refresh_fp() { local -n tabs="SET_$1"; FP[$1]="$(fingerprint many_src "${tabs[@]}")"; }

pipeline_yaml() { # NAME TABLE
  cat <<EOF
  - name: $1
    source: {connection: src, table: public.$2}
    detect: {strategy: updated_at, cursor: updated_at}
    target: {connection: tgt, table: public.$2, key: [id], write: upsert}
EOF
}

write_configs() {
  local head t
  head="version: 1
connections:
  src: \"$(tm_dsn many_src)\"
  tgt: \"$(tm_dsn many_tm)\"
  sel: \"$(tm_dsn many_sel)\"
pipelines:"
  # The tick and load figures: one explicit entry per table, what every release accepts.
  CFG_MANY="$WORK/many.yaml"
  { echo "$head"; for t in "${MANY[@]}"; do pipeline_yaml "$t" "$t"; done; } >"$CFG_MANY"
  # The same entries into their own database, each pipeline run on its own
  # (TIDEMARK_QUIET_CHECK=off): the tick as it was before unchanged pipelines were checked
  # together, measured in the same run.
  CFG_ALONE="$WORK/alone.yaml"
  { echo "${head/$(tm_dsn many_tm)/$(tm_dsn many_alone)}"; for t in "${MANY[@]}"; do pipeline_yaml "$t" "$t"; done; } >"$CFG_ALONE"
  # The no-op figures: one table per pipeline, distinct and tied timestamps.
  CFG_ONE="$WORK/one.yaml"
  { echo "$head"; pipeline_yaml dist "$ONE_DIST"; pipeline_yaml tie "$ONE_TIE"; } >"$CFG_ONE"
  # The same tables through one selector pipeline (issue 17 §1), into their own database.
  CFG_SEL="$WORK/sel.yaml"
  cat >"$CFG_SEL" <<EOF
$head
  - name: sel
    source: {connection: src, tables: ["public.m*"]}
    detect: {strategy: updated_at, cursor: updated_at}
    target: {connection: sel, table: "public.{table}", key: [id], write: upsert}
EOF
}

# feature NAME MODE VARIABLE REFUSAL CMD...: HAVE_NAME=1 when MODE (the environment's
# VARIABLE) is yes, or auto and CMD succeeds; else HAVE_NAME=0 and WHY_NAME says why: VARIABLE=no,
# or REFUSAL and the first line CMD printed.
feature() {
  local name="$1" mode="$2" var="$3" refusal="$4" have=0 why
  shift 4
  case "$mode" in
    yes) have=1 ;;
    no) why="$var=no" ;;
    *)
      if "$@" >"$WORK/probe" 2>&1; then
        have=1
      else
        why="$refusal: $(head -n 1 "$WORK/probe" | sed "s/^[0-9T:.-]*Z //" | cut -c1-160)"
      fi ;;
  esac
  printf -v "HAVE_$name" '%s' "$have"
  ((have)) || printf -v "WHY_$name" '%s' "$why"
}

# Which optional features this binary has, found by trying them (or forced by the environment).
detect_features() {
  feature JOBS "$JOBS_MODE" TIDEMARK_BENCH_JOBS "this binary refuses \`run --jobs 2\` without --from/--to" \
    "$TM_BIN" -q run -c "$CFG_ONE" --jobs 2 --dry-run dist
  feature SEL "$SEL_MODE" TIDEMARK_BENCH_SELECTORS "\`tidemark validate\` refuses a \`source.tables\` pipeline" \
    "$TM_BIN" -q validate -c "$CFG_SEL"
  feature QUIET "$QUIET_MODE" TIDEMARK_BENCH_QUIET "this binary does not check unchanged pipelines together" \
    grep -qa checked_together "$TM_BIN"
  if ((HAVE_QUIET)); then note "each pipeline on its own: measured"; else note "each on its own: skipped: $WHY_QUIET"; SKIP[tick/alone]="$WHY_QUIET"; fi
  if ((HAVE_JOBS)); then note "run --jobs 2: measured"; else note "run --jobs 2: skipped: $WHY_JOBS"; SKIP[load/jobs2]="$WHY_JOBS"; fi
  if ((HAVE_SEL)); then note "selector pipeline: measured"; else note "selector pipeline: skipped: $WHY_SEL"; SKIP[tick/selector]="$WHY_SEL"; fi
}

reset_many() { # DB: empty the tick tables' targets and forget their state
  local list
  list="$(printf 'public.%s,' "${MANY[@]}")"
  q "$1" "TRUNCATE ${list%,}" >/dev/null
  q "$1" "DO \$\$ BEGIN IF to_regclass('tidemark.pipeline_state') IS NOT NULL THEN
    DELETE FROM tidemark.pipeline_state WHERE pipeline ~ '^(m[0-9]+|sel\\..*)\$'; END IF; END \$\$" >/dev/null
}

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------

# The initial load of every table, --jobs 1 (a plain run) against --jobs 2.
fig_load() {
  local rep c
  say "initial load of $TABLES tables: run against run --jobs 2"
  for ((rep = 1; rep <= REPS; rep++)); do
    while read -r c; do
      case "$c" in
        jobs1) reset_many many_tm; tm load jobs1 "$rep" "$TABLES" "$CFG_MANY"
          check_and_record load jobs1 "$rep" many_tm many ;;
        jobs2) ((HAVE_JOBS)) || continue
          reset_many many_tm; tm load jobs2 "$rep" "$TABLES" "$CFG_MANY" --jobs 2
          check_and_record load jobs2 "$rep" many_tm many ;;
      esac
    done < <(rotate "$rep" jobs1 jobs2)
  done
  q many_tm "VACUUM ANALYZE" >/dev/null
}

# A cron tick: CHANGED of the tables got DELTA updated rows each since the last run.
fig_tick() {
  local rep c i k t stride
  say "cron tick over $TABLES tables, $CHANGED changed ($DELTA rows each)"
  if ((HAVE_SEL)); then
    # Its initial load, untimed: the selector pipeline has its own state and targets.
    tm tick_prep selector 0 "$TABLES" "$CFG_SEL"
    ((M_OK)) || { HAVE_SEL=0; SKIP[tick/selector]="its initial load failed (see Failures)"; }
    q many_sel "VACUUM ANALYZE" >/dev/null
  fi
  if ((HAVE_QUIET)); then
    tm tick_prep alone 0 "$TABLES" "$CFG_ALONE"
    ((M_OK)) || { HAVE_QUIET=0; SKIP[tick/alone]="its initial load failed (see Failures)"; }
    q many_alone "VACUUM ANALYZE" >/dev/null
  fi
  stride=$((ROWS / DELTA))
  for ((rep = 1; rep <= REPS; rep++)); do
    for ((i = 0; i < CHANGED; i++)); do
      k=$(((rep * 7 + i * (TABLES / CHANGED)) % TABLES))
      t="${MANY[$k]}"
      q many_src "UPDATE public.$t SET qty = qty + 1, attrs = attrs || jsonb_build_object('rev', $rep),
        updated_at = clock_timestamp() WHERE id % $stride = $((rep % stride))" >/dev/null
      q many_src "VACUUM ANALYZE public.$t" >/dev/null
    done
    refresh_fp many
    while read -r c; do
      case "$c" in
        explicit) tm tick explicit "$rep" "$TABLES" "$CFG_MANY"; check_and_record tick explicit "$rep" many_tm many ;;
        selector) ((HAVE_SEL)) || continue
          tm tick selector "$rep" "$TABLES" "$CFG_SEL"; check_and_record tick selector "$rep" many_sel many ;;
        alone) ((HAVE_QUIET)) || continue
          export TIDEMARK_QUIET_CHECK=off
          tm tick alone "$rep" "$TABLES" "$CFG_ALONE"
          unset TIDEMARK_QUIET_CHECK
          check_and_record tick alone "$rep" many_alone many ;;
        psql) psql_once; check_and_record tick psql "$rep" ;;
      esac
    done < <(rotate "$rep" explicit selector alone psql)
  done
}

# No-op runs of one table, distinct timestamps against all rows tied on one timestamp.
fig_noop() {
  local rep c
  say "no-op runs: $ONE_DIST ($TIE_ROWS rows, distinct timestamps), $ONE_TIE (the same rows, all tied)"
  # Untimed: the initial loads; every row of one_tie then gets the same updated_at in one
  # statement (now() is the transaction's time), and a run copies that.
  tm noop_prep load 0 2 "$CFG_ONE" dist tie
  q many_src "UPDATE public.$ONE_TIE SET updated_at = now()" >/dev/null
  q many_src "VACUUM ANALYZE public.$ONE_TIE" >/dev/null
  refresh_fp tie
  tm noop_prep tie 0 1 "$CFG_ONE" tie
  ((M_OK)) || FAILURES+=("noop: preparing $ONE_TIE failed")
  q many_tm "VACUUM ANALYZE" >/dev/null
  for ((rep = 1; rep <= FAST_REPS; rep++)); do
    while read -r c; do
      case "$c" in
        dist) tm noop dist "$rep" 1 "$CFG_ONE" dist; check_and_record noop dist "$rep" many_tm dist ;;
        tie) tm noop tie "$rep" 1 "$CFG_ONE" tie; check_and_record noop tie "$rep" many_tm tie ;;
        psql) psql_once; check_and_record noop psql "$rep" ;;
      esac
    done < <(rotate "$rep" dist tie psql)
  done
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

# rt FIG CONT WHICH: round trips per pipeline over all repetitions, "median (min–max)";
# WHICH: all, changed (rows read > 0) or unchanged. "n/a" when the binary reports none.
rt() {
  awk -F'\t' -v f="$1" -v c="$2" -v w="$3" "$AWK_SAMPLES"'
    $1 == f && $2 == c && (w == "all" || (w == "changed") == ($5 + 0 > 0)) {
      if ($6 == "-") { miss = 1; next }
      a[n++] = $6 + 0
    }
    END {
      if (!n) { print (miss ? "n/a" : "—"); exit }
      m = median(a, n)
      if (a[0] == a[n-1]) printf "%g", m; else printf "%g (%g–%g)", m, a[0], a[n-1]
    }' "$RTS"
}
cell() { # FIG CONT: the median wall time, or why there is none
  local st
  st="$(state "$1" "$2")"
  case "$st" in
    skipped) printf 'skipped%s' "${SKIP[$1/$2]:+: ${SKIP[$1/$2]}}" ;;
    FAILED) printf '**FAILED** (%s)' "$(fmt_ms "$(med "$1" "$2" wall)")" ;;
    *) fmt_ms "$(med "$1" "$2" wall)" ;;
  esac
}
conns() { local v; v="$(med "$1" "$2" conns)"; [[ -n "$v" ]] && printf '%s' "$v" || printf '—'; }
rows_read() { local v; v="$(med "$1" "$2" rows)"; [[ -n "$v" ]] && printf '%s' "$v" || printf '—'; }

TROWS=()
trow() { TROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 | $9 |"); }

build_table() {
  local r c lbl
  for c in explicit selector alone; do
    case "$c" in
      explicit) lbl="$TABLES explicit pipeline entries" ;;
      selector) lbl="one selector pipeline (\`source.tables\`)" ;;
      alone) lbl="$TABLES explicit entries, each run on its own (\`TIDEMARK_QUIET_CHECK=off\`)" ;;
    esac
    r="$(pratio tick "$c" wall tick psql wall)"
    trow "Cron tick, $TABLES tables × $ROWS rows, $CHANGED changed ($DELTA rows each), $lbl" "$(cell tick "$c")" \
      "$(cell tick psql)" "$(fmt_x "$r")" "≤ 3×" "$(verdict "$r" "<=" 3 "$(state tick "$c")" "$(state tick psql)")" \
      "$(conns tick "$c")" "unchanged $(rt tick "$c" unchanged); changed $(rt tick "$c" changed)" "$(rows_read tick "$c")"
  done
  r="$(pratio noop dist wall noop psql wall)"
  trow "No-op run, one table of $TIE_ROWS rows, distinct timestamps" "$(cell noop dist)" "$(cell noop psql)" \
    "$(fmt_x "$r")" "≤ 1.0×" "$(verdict "$r" "<=" 1.0 "$(state noop dist)" "$(state noop psql)")" \
    "$(conns noop dist)" "$(rt noop dist all)" "$(rows_read noop dist)"
  r="$(pratio noop tie wall noop psql wall)"
  trow "No-op run, one table of $TIE_ROWS rows all tied on updated_at" "$(cell noop tie)" "$(cell noop psql)" \
    "$(fmt_x "$r")" "≤ 1.0×" "$(verdict "$r" "<=" 1.0 "$(state noop tie)" "$(state noop psql)")" \
    "$(conns noop tie)" "$(rt noop tie all)" "$(rows_read noop tie)"
  r="$(pratio noop tie wall noop dist wall)"
  trow "(reference) tied against distinct timestamps, same no-op run" "$(cell noop tie)" "$(cell noop dist) (distinct)" \
    "$(fmt_x "$r")" "—" "—" "—" "—" "—"
  r="$(pratio load jobs2 wall load jobs1 wall)"
  trow "Initial load of $TABLES tables × $ROWS rows: \`run --jobs 2\` against \`run\` (one at a time)" \
    "$(cell load jobs2)" "$(cell load jobs1) (--jobs 1)" "$(fmt_x "$r")" "—" \
    "$(if [[ $(state load jobs2) == skipped ]]; then echo skipped; else ref_verdict "$(state load jobs2)" "$(state load jobs1)"; fi)" \
    "$(conns load jobs2) (--jobs 1: $(conns load jobs1))" "$(rt load jobs2 all) (--jobs 1: $(rt load jobs1 all))" \
    "$(rows_read load jobs1)"
}
write_report() {
  build_table
  {
    echo "Produced by \`bench/many.sh$([[ $SMOKE == 1 ]] && echo " --smoke")$([[ $QUICK == 1 ]] && echo " --quick")\`$([[ $SMOKE == 1 ]] && echo " (smoke run: tiny sizes, timings meaningless)")"
    echo "on $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load average $LOAD_BEFORE before it started; tidemark"
    echo "\`$("$TM_BIN" --version 2>/dev/null | head -n 1 || true)\` ($TM_BIN_DESC). $REPS repetition(s) of the tick"
    echo "and load figures, $FAST_REPS of the no-op figures; medians. Ratios are tidemark's wall time"
    echo "÷ one \`psql -X -c 'select 1'\` process on the same cluster ($(command -v psql), not"
    echo "Debian's pg_wrapper), the median of per-repetition"
    echo "ratios (they alternate within a repetition). Connections: \"connection authorized\" lines"
    echo "of the server's log_connections while the run ran (median per run). Round trips: the"
    echo "\`round_trips\` field of \`run --json\` per pipeline, median (min–max) over the pipelines"
    echo "and repetitions; n/a when this binary does not report it."
    echo
    echo "| figure | tidemark | reference | ratio | target | result | connections per run | round trips per pipeline | rows read per run |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${TROWS[@]}"
    if ((${#SKIP[@]})); then
      echo
      echo "Skipped:"
      local k
      for k in "${!SKIP[@]}"; do echo "- $k: ${SKIP[$k]}"; done
    fi
    [[ -n "$PY" ]] || { echo; echo "No python3: \`--json\` was not read (no round trips, rows read or per-pipeline status)."; }
    if ((${#FAILURES[@]})); then
      echo
      echo "Failures:"
      printf -- '- %s\n' "${FAILURES[@]}"
    fi
  } >"$WORK/report.md"
  if [[ -n "$OUT" ]]; then
    mkdir -p -- "$(dirname -- "$OUT")"
    cp -- "$WORK/report.md" "$OUT"
    say "report written to $OUT"
  fi
  if [[ -n "$RAW_OUT" ]]; then
    {
      printf 'figure\tcontender\trep\twall_s\tuser_s\tsys_s\tmaxrss_kib\tconnections\trows_read\tcheck\n'
      cat "$RAW"
      echo
      printf 'figure\tcontender\trep\tpipeline\trows_read\tround_trips\n'
      cat "$RTS"
    } >"$RAW_OUT"
  fi
  cat "$WORK/report.md"
}

# ---------------------------------------------------------------------------

main() {
  begin_run many
  RTS="$WORK/rts.tsv"
  : >"$RTS"

  command -v /usr/bin/time >/dev/null || { echo "bench/many.sh: /usr/bin/time missing (Debian package time)" >&2; exit 1; }
  [[ -x "$TM_BIN" ]] || { say "building tidemark ($TM_BIN is missing)"; tm_build build; TM_BIN="$TM_REPO/build/tidemark"; }
  if ((SHARED)); then
    TM_BIN_DESC="bench/run.sh's copy of its binary"
  else
    # Others may rebuild build/tidemark meanwhile: measure one fixed copy.
    TM_BIN_DESC="$TM_BIN built $(stat -c '%y' "$TM_BIN" | cut -d. -f1), checkout $(git -C "$TM_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    cp -- "$TM_BIN" "$WORK/tidemark"
    TM_BIN="$WORK/tidemark"
  fi
  [[ -n "$PY" ]] || note "no python3: round trips, rows read and per-pipeline statuses are not read from --json"

  start_cluster
  generate
  write_configs
  detect_features
  fig_load     # leaves the tick tables loaded: the tick starts from there
  fig_tick
  fig_noop
  write_report
  end_run
}

main
