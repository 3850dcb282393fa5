# shellcheck shell=bash
# What the benchmarks share (bench/run.sh, bench/many.sh, bench/partition.sh): the private
# cluster, measuring one process, and the medians, ratios and verdicts of the reports.
# Sourced after `set -euo pipefail`, with BENCH_DIR set to bench/; the caller sets CLUSTER,
# PORT, WORK and RAW, and reads the M_* results of measure.
# shellcheck disable=SC2153 # CLUSTER, PORT, WORK, RAW: the caller's

# shellcheck source-path=SCRIPTDIR source=../scripts/lib/pgcluster.sh
source "$BENCH_DIR/../scripts/lib/pgcluster.sh"
# The PostgreSQL client programs themselves, not Debian's pg_wrapper (/usr/bin/psql is a Perl
# script that picks a version first: about 22 ms per process here, which would inflate every
# reference a figure is a ratio against).
export PATH="$TM_PGBIN:$PATH"

# --help: the calling script's header comment, from its line 2 down to `set -euo`.
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[-1]}"; }

SAY_PREFIX=""  # before every `say` line: "many: " in bench/many.sh
say() { printf '==> %s%s\n' "$SAY_PREFIX" "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# ---------------------------------------------------------------------------
# Cluster and SQL
# ---------------------------------------------------------------------------

# q DB SQL: one value (or rows) from psql on $CLUSTER, unaligned, no headers.
q() { PGOPTIONS="-c client_min_messages=warning" tm_psql "$CLUSTER" "$1" -qtA -c "$2"; }
checkpoint() { q postgres CHECKPOINT >/dev/null; }
wal_lsn() { q postgres 'SELECT pg_current_wal_lsn()'; }
wal_since() { q postgres "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$1')::bigint"; } # LSN: bytes written since

# cluster_up [--set 'NAME = VALUE']... DB...: start $CLUSTER on $PORT, point PG* at it, apply
# the settings and max_wal_size = 4GB with ALTER SYSTEM and a reload, and create the databases
# afresh. A 2M-row load writes ~470 MB of WAL: with the default max_wal_size (1 GB) a
# checkpoint would start in the middle of some measurements and not others. The cluster is
# the bench's own (or its caller's), so the settings stay with it.
cluster_up() {
  local -a settings=()
  while [[ "${1:-}" == --set ]]; do settings+=("$2"); shift 2; done
  tm_cluster_start "$CLUSTER" "$PORT"
  # tm_cluster_start exports TM_PGHOST and TM_PGPORT; every psql, pgloader and psycopg2
  # connection of the benchmarks goes through these.
  export PGHOST="${TM_PGHOST:?}" PGPORT="${TM_PGPORT:?}" PGUSER=postgres
  local s db
  for s in "${settings[@]}" "max_wal_size = '4GB'"; do q postgres "ALTER SYSTEM SET $s" >/dev/null; done
  q postgres "SELECT pg_reload_conf()" >/dev/null
  for db in "$@"; do
    q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
    q postgres "CREATE DATABASE $db" >/dev/null
  done
}

# drop_databases DB...: at cleanup, quietly, whatever state the cluster is in.
drop_databases() {
  local db
  for db in "$@"; do q postgres "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}

# ---------------------------------------------------------------------------
# Measuring one process
# ---------------------------------------------------------------------------

elapsed() { awk -v a="$1" -v b="$2" -v f="${3:-%.6f}" 'BEGIN { printf f, b - a }'; } # T0 T1 [FORMAT]: seconds

MEASURE_WAL=0    # 1: measure sets M_WAL
MEASURE_CONNS=0  # 1: measure sets M_CONNS, from $SERVER_LOG (log_connections = on)

# measure CMD...: CHECKPOINT, then CMD under /usr/bin/time, its stdout in $WORK/out and its
# stderr in $WORK/err. Sets M_WALL (s, from the shell's clock), M_USER, M_SYS (client CPU s),
# M_RSS (KiB), M_RC; M_WAL: bytes of WAL written meanwhile; M_CONNS: "connection authorized"
# lines the server logged meanwhile (every connection the process opens, whoever opens it).
# The WAL position is read outside the log window, so its connections are not counted.
# shellcheck disable=SC2034 # M_*: read by the caller
measure() {
  local lsn off0 off1 t0 t1 tl
  checkpoint
  if ((MEASURE_WAL)); then lsn="$(wal_lsn)"; fi
  if ((MEASURE_CONNS)); then off0="$(stat -c %s "$SERVER_LOG")"; fi
  t0=$EPOCHREALTIME
  M_RC=0
  /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || M_RC=$?
  t1=$EPOCHREALTIME
  if ((MEASURE_CONNS)); then
    off1="$(stat -c %s "$SERVER_LOG")"
    M_CONNS="$(tail -c +"$((off0 + 1))" "$SERVER_LOG" | head -c "$((off1 - off0))" | grep -c 'connection authorized' || true)"
  fi
  if ((MEASURE_WAL)); then M_WAL="$(wal_since "$lsn")"; fi
  M_WALL="$(elapsed "$t0" "$t1")"
  tl="$(tail -n 1 "$WORK/time")"
  read -r M_USER M_SYS M_RSS <<<"$tl"
}

# begin_run NAME: the start of main: BENCH_START, LOAD_BEFORE, a fresh work directory WORK
# under bench/results/tmp with an empty RAW in it, and the traps (the caller's cleanup at exit).
# shellcheck disable=SC2034 # LOAD_BEFORE: the reports say it
begin_run() {
  BENCH_START=$EPOCHREALTIME
  LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  mkdir -p -- "$BENCH_DIR/results/tmp"
  WORK="$(mktemp -d "$BENCH_DIR/results/tmp/$1.XXXXXX")"
  RAW="$WORK/raw.tsv"
  : >"$RAW"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# end_run: the end of main: how long it took, and exit 1 after the FAILURES if there are any.
end_run() {
  say "done in $(calc '%.0f' "$EPOCHREALTIME - $BENCH_START") s"
  if ((${#FAILURES[@]})); then
    say "FAILED: ${#FAILURES[@]} failed run(s) or wrong copies:"
    printf '    %s\n' "${FAILURES[@]}" >&2
    exit 1
  fi
}

# rotate REP ITEMS...: the items, rotated by REP-1, so the contenders alternate who goes first.
rotate() {
  local rep="$1" n i
  shift
  n=$#
  local -a items=("$@")
  for ((i = 0; i < n; i++)); do printf '%s\n' "${items[$(((i + rep - 1) % n))]}"; done
}

# ---------------------------------------------------------------------------
# Results: $RAW holds one sample a line, tab-separated:
#   figure contender rep wall_s user_s sys_s maxrss_kib COUNTER rows check
# COUNTER is the script's own (WAL bytes, connections); rows "-" is no count.
# ---------------------------------------------------------------------------

# awk: median(a, n), the median of a[0..n-1], which it sorts (an insertion sort: a few
# repetitions); val(k), field k of the sample on the current line: wall, cpu (user+sys),
# rss, wallx (wall × np cores), wal or conns (the COUNTER), or rows.
# shellcheck disable=SC2016 # awk's $4, not the shell's
AWK_SAMPLES='
function median(a, n,   i, j, t) {
  for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return (n % 2) ? a[int(n/2)] : (a[n/2-1] + a[n/2]) / 2
}
function val(k) {
  return (k == "wall") ? $4 : (k == "cpu") ? $5 + $6 : (k == "rss") ? $7 : (k == "wallx") ? $4 * np : \
         (k == "wal" || k == "conns") ? $8 : $9
}'

MED_FORMAT="%.6f"  # how med prints

# med FIG CONT FIELD: the median of FIELD (see val) over the repetitions, printed with
# MED_FORMAT; empty when the contender has no measurement.
med() {
  awk -F'\t' -v f="$1" -v c="$2" -v k="$3" -v fmt="$MED_FORMAT" "$AWK_SAMPLES"'
    $1 == f && $2 == c && !(k == "rows" && $9 == "-") { a[n++] = val(k) + 0 }
    END { if (n) printf fmt, median(a, n) }' "$RAW"
}

# state FIG CONT: ok, FAILED, or skipped
state() {
  awk -F'\t' -v f="$1" -v c="$2" '$1 == f && $2 == c { n++; if ($10 != "ok") bad = 1 }
    END { print bad ? "FAILED" : n ? "ok" : "skipped" }' "$RAW"
}

# pratio FIG_A CONT_A FIELD_A FIG_B CONT_B FIELD_B: the median over the repetitions of
# A / B, each repetition's A divided by the same repetition's B. The contenders alternate
# within a repetition, so this cancels drift between repetitions (other load on the
# machine). FIELD: see val; wallx counts $NPROC cores. Empty when no pair.
pratio() {
  awk -F'\t' -v fa="$1" -v ca="$2" -v ka="$3" -v fb="$4" -v cb="$5" -v kb="$6" -v np="${NPROC:-1}" "$AWK_SAMPLES"'
    $1 == fa && $2 == ca { a[$3] = val(ka) + 0 }
    $1 == fb && $2 == cb { b[$3] = val(kb) + 0 }
    END {
      for (r in a) if ((r in b) && b[r] > 0) x[n++] = a[r] / b[r]
      if (n) printf "%.4f", median(x, n)
    }' "$RAW"
}

# verdict VALUE OP LIMIT [STATES...]: met / MISSED (OP: >=, <= or <), or FAILED / skipped
# when a run behind the comparison failed or did not run; n/a without a value.
verdict() {
  local value="$1" op="$2" limit="$3" s
  shift 3
  for s in "$@"; do [[ "$s" == FAILED ]] && { printf '**FAILED**'; return; }; done
  for s in "$@"; do [[ "$s" == skipped ]] && { printf 'skipped'; return; }; done
  [[ -z "$value" ]] && { printf 'n/a'; return; }
  if awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN {
      exit !((op == ">=" && v >= l) || (op == "<=" && v <= l) || (op == "<" && v < l)) }'; then
    printf 'met'
  else
    printf '**MISSED**'
  fi
}

# ref_verdict STATES...: for a row without a target: FAILED, skipped or —.
ref_verdict() {
  local v
  v="$(verdict "" "" "" "$@")"
  [[ "$v" == n/a ]] && v="—"
  printf '%s' "$v"
}

fmt_ms() { [[ -n "$1" ]] && calc '%.1f ms' "$1 * 1000" || printf '—'; }
fmt_x() { [[ -n "$1" ]] && calc "%.2f×${2:+ $2}" "$1" || printf '—'; } # RATIO [WHAT]
