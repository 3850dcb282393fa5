#!/usr/bin/env bash
# partition_overwrite benchmark: measured, not asserted (docs/performance.md).
#
# Usage: bench/partition.sh [--days-rows N] [--touch K] [--reps R]
#   --days-rows N  source rows per day, over 60 days (default 20000: 1.2M rows)
#   --touch K      days a delta touches: one row updated in each (default 5)
#   --reps R       repetitions, medians reported (default 3)
#
# One private cluster ("bench-part", port TIDEMARK_BENCH_PART_PORT or 55436), a source
# database and a target database. The same source goes through write partition_overwrite
# into a table partitioned by day (the TRUNCATE path) and into an unpartitioned table (the
# DELETE path); the floor is the raw COPY pipe of the same windows' rows, psql to psql, into
# an empty table with the same key and index as the unpartitioned target. Each run is checked: both targets must equal the source (count and hash).
# Prints a Markdown table of wall-clock medians, their ratio to the pipe, and WAL written.
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH_DIR/lib.sh"

PER_DAY=20000
TOUCH=5
REPS=3
DAYS=60
while (($#)); do
  case "$1" in
    --days-rows) PER_DAY="$2"; shift 2 ;;
    --touch) TOUCH="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/partition.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

CLUSTER=bench-part
PORT="${TIDEMARK_BENCH_PART_PORT:-55436}"
TM_BIN="${TIDEMARK_BIN:-$TM_REPO/build/tidemark}"
[[ -x "$TM_BIN" ]] || tm_build build
WORK="$(mktemp -d)"
cleanup() {
  local rc=$?
  tm_cluster_stop "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT

cluster_up part_src part_tgt >/dev/null

say "source: $DAYS days x $PER_DAY rows"
q part_src "CREATE TABLE events (id bigserial PRIMARY KEY, event_date date NOT NULL, qty integer NOT NULL,
  note text, updated_at timestamptz NOT NULL);
  INSERT INTO events (event_date, qty, note, updated_at)
  SELECT date '2026-01-01' + (g % $DAYS), g % 1000, 'note ' || g, timestamptz '2026-03-01 00:00+00' + g * interval '1 ms'
  FROM generate_series(1, $((DAYS * PER_DAY))) g;
  CREATE INDEX ON events (event_date); CREATE INDEX ON events (updated_at); ANALYZE events;" >/dev/null
cols="id bigint NOT NULL, event_date date NOT NULL, qty integer NOT NULL, note text, updated_at timestamptz NOT NULL"
q part_tgt "CREATE TABLE events_part ($cols, PRIMARY KEY (id, event_date)) PARTITION BY RANGE (event_date);
  DO \$\$ DECLARE d date; BEGIN
    FOR d IN SELECT generate_series(date '2026-01-01', date '2026-01-01' + $DAYS, interval '1 day')::date LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF events_part FOR VALUES FROM (%L) TO (%L)',
                     'events_' || to_char(d, 'YYYYMMDD'), d, d + 1);
    END LOOP; END \$\$;
  CREATE TABLE events_flat ($cols, PRIMARY KEY (id)); CREATE INDEX ON events_flat (event_date);
  CREATE TABLE events_pipe ($cols, PRIMARY KEY (id)); CREATE INDEX ON events_pipe (event_date);" >/dev/null

dsn_src="host=$PGHOST port=$PGPORT user=postgres dbname=part_src"
dsn_tgt="host=$PGHOST port=$PGPORT user=postgres dbname=part_tgt"
cat >"$WORK/p.yaml" <<EOF
connections: {src: "$dsn_src", tgt: "$dsn_tgt"}
pipelines:
  - name: part
    source: {connection: src, table: public.events}
    detect: {strategy: updated_at, cursor: updated_at}
    target: {connection: tgt, table: public.events_part, key: [id], write: partition_overwrite,
             partition_by: {column: event_date, granularity: day}}
  - name: flat
    source: {connection: src, table: public.events}
    detect: {strategy: updated_at, cursor: updated_at}
    target: {connection: tgt, table: public.events_flat, key: [id], write: partition_overwrite,
             partition_by: {column: event_date, granularity: day}}
EOF
say "initial load (not measured)"
"$TM_BIN" -q run -c "$WORK/p.yaml"

content() { q "$1" "SELECT count(*) || '|' || coalesce(sum(hashtext((id, event_date, qty, note, updated_at)::text)), 0) FROM $2"; }
# timed CMD...: CHECKPOINT, run, set T (s) and W (WAL bytes). Unlike measure, CMD may be a
# shell function (pipe), so no /usr/bin/time.
timed() {
  local lsn t0 t1
  checkpoint
  lsn="$(wal_lsn)"
  t0=$EPOCHREALTIME
  "$@" >/dev/null
  t1=$EPOCHREALTIME
  T="$(elapsed "$t0" "$t1" %.4f)"
  W="$(wal_since "$lsn")"
}
pipe() {
  q part_tgt "TRUNCATE events_pipe" >/dev/null
  tm_psql "$CLUSTER" part_src -qc "COPY (SELECT id, event_date, qty, note, updated_at FROM events
      WHERE event_date = ANY('$1'::date[])) TO STDOUT" |
    tm_psql "$CLUSTER" part_tgt -qc "COPY events_pipe FROM STDIN"
}

declare -a T_PART T_FLAT T_PIPE W_PART W_FLAT W_PIPE
rows=0
for ((rep = 1; rep <= REPS; rep++)); do
  # K distinct days, different each repetition; one row updated in each.
  days="$(q part_src "SELECT string_agg(d::text, ',') FROM (SELECT date '2026-01-01' + ((g * 7 + $rep * 3) % $DAYS) AS d
          FROM generate_series(1, $TOUCH) g) x")"
  q part_src "UPDATE events SET qty = qty + 1, updated_at = clock_timestamp()
    WHERE id IN (SELECT min(id) FROM events WHERE event_date = ANY('{$days}'::date[]) GROUP BY event_date)" >/dev/null
  rows="$(q part_src "SELECT count(*) FROM events WHERE event_date = ANY('{$days}'::date[])")"
  timed "$TM_BIN" -q run -c "$WORK/p.yaml" part; T_PART+=("$T"); W_PART+=("$W")
  timed "$TM_BIN" -q run -c "$WORK/p.yaml" flat; T_FLAT+=("$T"); W_FLAT+=("$W")
  timed pipe "{$days}"; T_PIPE+=("$T"); W_PIPE+=("$W")
  src="$(content part_src events)"
  for t in events_part events_flat; do
    got="$(content part_tgt "$t")"
    [[ "$got" == "$src" ]] || { echo "bench/partition.sh: $t differs from the source ($got vs $src)" >&2; exit 1; }
  done
  say "rep $rep: $rows rows in $TOUCH days: partitioned ${T_PART[-1]} s, unpartitioned ${T_FLAT[-1]} s, pipe ${T_PIPE[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mp="$(median "${T_PART[@]}")"; mf="$(median "${T_FLAT[@]}")"; mr="$(median "${T_PIPE[@]}")"
wp="$(median "${W_PART[@]}")"; wf="$(median "${W_FLAT[@]}")"; wr="$(median "${W_PIPE[@]}")"
echo "partition_overwrite, $TOUCH of $DAYS days touched ($rows rows re-read and replaced per run), medians of $REPS:"
echo
echo "| path | seconds | × raw COPY pipe | WAL MB |"
echo "|---|---|---|---|"
awk -v p="$mp" -v f="$mf" -v r="$mr" -v wp="$wp" -v wf="$wf" -v wr="$wr" 'BEGIN {
  printf "| partitioned target (TRUNCATE of each day) | %.3f | %.2f | %.1f |\n", p, p / r, wp / 1048576
  printf "| unpartitioned target (DELETE of each day) | %.3f | %.2f | %.1f |\n", f, f / r, wf / 1048576
  printf "| raw COPY pipe of the same rows into an empty table | %.3f | 1.00 | %.1f |\n", r, wr / 1048576
}'
