# shellcheck shell=bash
# Helpers for the tidemark scripts: system packages, the CMake build, and
# private throwaway PostgreSQL clusters that live next to the checkout.
#
# Source it; don't execute it. It leaves the caller's shell options alone
# (an interactive shell that sources it must not inherit `set -e`), so every
# function checks its own steps and returns non-zero on failure, which the
# calling scripts (all `set -euo pipefail`) turn into an exit.
#
# Functions:
#   tm_ensure_packages              install missing Debian packages (root) or explain how
#   tm_build [build_dir]            configure (once) and build; extra cmake args: $TIDEMARK_CMAKE_ARGS
#   tm_cluster_start NAME PORT      start/reuse a cluster; exports TM_PGHOST, TM_PGPORT, TM_CLUSTER_DIR
#   tm_cluster_stop NAME            fast shutdown; no error if it is not running
#   tm_psql NAME DB [psql args...]  psql as superuser "postgres" over the cluster's socket
#   tm_dsn DB                       libpq DSN for DB on the last started cluster
#   tm_mask_dsn DSN                 DSN with any password replaced by ****

TM_REPO="${TM_REPO:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
TM_PGBIN="${TM_PGBIN:-/usr/lib/postgresql/15/bin}"
TM_PACKAGES=(
  cmake g++ make pkg-config
  libpqxx-dev libpq-dev libssl-dev libcli11-dev nlohmann-json3-dev libspdlog-dev catch2 libyaml-cpp-dev
  postgresql-15 postgresql-15-wal2json postgresql-client-15
  time zlib1g-dev
)

_tm_info() { printf 'tidemark: %s\n' "$*" >&2; }
_tm_err() { printf 'tidemark: error: %s\n' "$*" >&2; }
_tm_is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------------------
# Packages and build
# ---------------------------------------------------------------------------

tm_ensure_packages() {
  # Escape hatch for machines that provide the toolchain some other way.
  if [[ "${TIDEMARK_SKIP_PACKAGES:-0}" == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    _tm_info "dpkg-query not found (not Debian/Ubuntu?); skipping the package check"
    return 0
  fi

  local pkg status
  local -a missing=()
  for pkg in "${TM_PACKAGES[@]}"; do
    # dpkg-query fails for packages it has never heard of: that's "missing" too.
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi

  if ! _tm_is_root; then
    _tm_err "missing Debian packages: ${missing[*]}"
    printf '  install them with:\n    sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}" >&2
    exit 1
  fi

  _tm_info "installing missing packages: ${missing[*]}"
  apt-get update || return 1
  # postgresql-15 creates and starts a system cluster on 5432; we never use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || return 1
}

tm_build() {
  local dir="${1:-build}"
  [[ "$dir" == /* ]] || dir="$TM_REPO/$dir"

  local -a extra=()
  if [[ -n "${TIDEMARK_CMAKE_ARGS:-}" ]]; then
    read -r -a extra <<<"$TIDEMARK_CMAKE_ARGS"
  fi
  # Configure once. Configure again when an earlier configure failed (a
  # cache but no build files) and when extra args are given, so that e.g.
  # TIDEMARK_CMAKE_ARGS=-DTIDEMARK_SANITIZE=ON is not silently ignored by an
  # existing cache. Later -D options win, so the args may override the
  # build type.
  if [[ ! -f "$dir/CMakeCache.txt" || ${#extra[@]} -gt 0 ]] ||
    [[ ! -f "$dir/Makefile" && ! -f "$dir/build.ninja" ]]; then
    cmake -S "$TM_REPO" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" || return 1
  fi
  cmake --build "$dir" -j"$(nproc)" || return 1
}

# ---------------------------------------------------------------------------
# Private clusters
# ---------------------------------------------------------------------------

# Run a command as the cluster owner from inside a directory it owns:
# PostgreSQL refuses to run as root, and initdb/pg_ctl complain when they
# cannot access the current directory (e.g. /root).
_tm_pg() {
  local dir="$1"
  shift
  if _tm_is_root; then
    (cd -- "$dir" && runuser -u postgres -- "$@")
  else
    (cd -- "$dir" && "$@")
  fi
}

_tm_check_name() {
  if [[ ! "$1" =~ ^[A-Za-z0-9_-]+$ ]]; then
    _tm_err "invalid cluster name '$1' (use letters, digits, _ and -)"
    return 1
  fi
}

_tm_primary_base() { printf '%s/.tidemark/%s\n' "$TM_REPO" "$1"; }

_tm_fallback_base() {
  local hash
  hash="$(printf '%s' "$TM_REPO" | md5sum | cut -c1-8)"
  printf '/tmp/tidemark-%s-%s\n' "$1" "$hash"
}

# Can the cluster live under $TM_REPO/.tidemark? Not when the postgres user
# cannot traverse the checkout (root clones under /root), when the socket
# path would overflow sun_path (107 bytes), or when the path has characters
# we would have to quote in a DSN or in postgresql.conf.
_tm_repo_usable() {
  local base probe
  base="$(_tm_primary_base "$1")"
  [[ "$base" =~ ^[A-Za-z0-9_./+-]+$ ]] || return 1
  # "/sock/.s.PGSQL." is 15 characters, then up to 5 for the port.
  ((${#base} + 15 + 5 <= 107)) || return 1
  if _tm_is_root; then
    probe="$TM_REPO"
    [[ -d "$TM_REPO/.tidemark" ]] && probe="$TM_REPO/.tidemark"
    [[ -d "$base" ]] && probe="$base"
    runuser -u postgres -- test -x "$probe" || return 1
  fi
}

# Directory of an existing cluster, or where a new one goes. A cluster
# exists once its "port" marker is written; the marker lives outside the
# 0700 data directory so any user can find it (tm_psql).
_tm_base() {
  local primary fallback
  primary="$(_tm_primary_base "$1")"
  fallback="$(_tm_fallback_base "$1")"
  if [[ -f "$primary/port" ]]; then
    echo "$primary"
  elif [[ -f "$fallback/port" ]]; then
    echo "$fallback"
  elif _tm_repo_usable "$1"; then
    echo "$primary"
  else
    echo "$fallback"
  fi
}

_tm_existing_base() {
  local base
  base="$(_tm_base "$1")"
  [[ -f "$base/port" ]] || return 1
  echo "$base"
}

# Create the cluster directory owned by the cluster owner.
_tm_prepare_base() {
  local base="$1" owner
  owner="$(id -un)"
  _tm_is_root && owner=postgres

  if [[ "$base" == "$TM_REPO/.tidemark/"* ]]; then
    [[ -d "$TM_REPO/.tidemark" ]] || mkdir -m 755 "$TM_REPO/.tidemark" || return 1
  fi
  if [[ -L "$base" ]]; then
    _tm_err "$base is a symlink; refusing to use it"
    return 1
  fi
  if [[ ! -d "$base" ]]; then
    mkdir -m 755 "$base" || return 1
  elif [[ "$base" == /tmp/* && "$(stat -c %U "$base")" != "$owner" ]]; then
    # /tmp names are predictable: never adopt a directory someone else made.
    _tm_err "$base exists but is owned by $(stat -c %U "$base"), not $owner; remove it"
    return 1
  fi
  if _tm_is_root; then
    chown postgres:postgres "$base" || return 1
  fi
  _tm_pg "$base" mkdir -p -m 755 "$base/sock" || return 1
}

_tm_initdb() {
  local base="$1" data="$1/data" loc
  # Prefer C.UTF-8 (byte order, UTF-8 ctype); fall back when it isn't there.
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
    loc=--locale=C.UTF-8
  else
    loc=--no-locale
  fi
  rm -rf -- "$data" # leftovers of an interrupted initdb
  if ! _tm_pg "$base" "$TM_PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 "$loc" \
    >"$base/initdb.log" 2>&1; then
    rm -rf -- "$data"
    if [[ "$loc" == --no-locale ]] ||
      ! _tm_pg "$base" "$TM_PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale \
        >"$base/initdb.log" 2>&1; then
      _tm_err "initdb failed for $data:"
      tail -n 30 "$base/initdb.log" >&2
      return 1
    fi
  fi
}

# Settings go into data/tidemark.conf, rewritten on every start (so a new
# port takes effect) and included from postgresql.conf; ALTER SYSTEM still
# wins because postgresql.auto.conf is read last.
_tm_write_conf() {
  local base="$1" port="$2" data="$1/data"
  _tm_pg "$base" tee "$data/tidemark.conf" >/dev/null <<EOF || return 1
# Written by scripts/lib/pgcluster.sh on every start; edits are lost.
listen_addresses = ''
port = $port
unix_socket_directories = '$base/sock'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
fsync = off
full_page_writes = off
shared_buffers = 256MB
max_connections = 200
log_min_messages = warning
EOF
  # Some builds allow only listed logical decoding output plugins; CDC (strategy cdc) uses
  # wal2json. Stock PostgreSQL has no such setting and would refuse to start with it.
  # (Captured first: grep -q would end the pipe early, and pipefail would count that as a failure.)
  local settings
  settings="$("$TM_PGBIN/postgres" --describe-config 2>/dev/null || true)"
  if grep -q '^output_plugin_libraries' <<<"$settings"; then
    echo "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'" |
      _tm_pg "$base" tee -a "$data/tidemark.conf" >/dev/null || return 1
  fi
  # Trust everywhere, except that the one role tidemark_pw_test must give its SCRAM password
  # over the socket: the wrong-password tests (tests/integration/test_connect.cpp) need a
  # server that checks one. First match wins, so the line goes first; no other role changes.
  local hba_line='local all tidemark_pw_test scram-sha-256'
  if ! grep -qxF "$hba_line" "$data/pg_hba.conf"; then
    { printf '%s\n' "# Written by scripts/lib/pgcluster.sh: a password-checked role for the tests." "$hba_line"
      cat "$data/pg_hba.conf"; } >"$base/pg_hba.conf.new" || return 1
    _tm_pg "$base" tee "$data/pg_hba.conf" >/dev/null <"$base/pg_hba.conf.new" || return 1
    rm -f -- "$base/pg_hba.conf.new"
  fi
  if ! grep -qx "include_if_exists = 'tidemark.conf'" "$data/postgresql.conf"; then
    printf "\ninclude_if_exists = 'tidemark.conf'\n" |
      _tm_pg "$base" tee -a "$data/postgresql.conf" >/dev/null || return 1
  fi
}

# Succeeds when a postmaster serves this data directory. pg_ctl status only
# checks that the PID in postmaster.pid is alive; after a container restart
# that PID may belong to an unrelated process, so also check that the
# process's cwd is the data directory (a postmaster chdirs there).
_tm_running() {
  local base="$1" data="$1/data" pid state cwd
  _tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1 || return 1
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # A killed postmaster stays a zombie where PID 1 does not reap (containers
  # without an init); kill -0 still succeeds on it.
  state="$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" == [ZX] ]] && return 1
  cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || return 0 # can't tell: trust pg_ctl
  [[ "$cwd" == "$(readlink -f "$data")" ]]
}

# Lock files left by a dead server. PostgreSQL removes them itself unless
# their PID was reused; we only call this once _tm_running said no.
_tm_clear_stale() {
  local base="$1"
  if [[ -e "$base/data/postmaster.pid" ]]; then
    _tm_info "removing stale $base/data/postmaster.pid"
  fi
  rm -f -- "$base/data/postmaster.pid" "$base/sock"/.s.PGSQL.*
}

_tm_show_log() {
  local log="$1/server.log"
  if [[ -f "$log" ]]; then
    _tm_err "last 30 lines of $log:"
    tail -n 30 "$log" >&2
  fi
}

tm_cluster_start() {
  if (($# != 2)); then
    _tm_err "usage: tm_cluster_start NAME PORT"
    return 2
  fi
  local name="$1" port="$2" base data sock log out running_port i
  _tm_check_name "$name" || return 1
  if [[ ! "$port" =~ ^[0-9]{4,5}$ ]] || ((port < 1024 || port > 65535)); then
    _tm_err "invalid port '$port' (1024-65535)"
    return 1
  fi
  if [[ ! -x "$TM_PGBIN/pg_ctl" ]]; then
    _tm_err "$TM_PGBIN/pg_ctl not found; install postgresql-15 (tm_ensure_packages) or set TM_PGBIN"
    return 1
  fi

  base="$(_tm_base "$name")"
  data="$base/data"
  sock="$base/sock"
  log="$base/server.log"
  _tm_prepare_base "$base" || return 1

  if [[ ! -f "$data/PG_VERSION" ]]; then
    _tm_initdb "$base" || return 1
  fi

  if _tm_running "$base"; then
    running_port="$(sed -n 4p "$data/postmaster.pid")"
    if [[ "$running_port" != "$port" ]]; then
      _tm_info "cluster '$name' runs on port $running_port; restarting it on $port"
      _tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null || return 1
    fi
  fi

  _tm_write_conf "$base" "$port" || return 1
  printf '%s\n' "$port" | _tm_pg "$base" tee "$base/port" >/dev/null || return 1

  if _tm_running "$base"; then
    _tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$data" reload >/dev/null || return 1  # pg_hba.conf
  else
    _tm_clear_stale "$base"
    if ! out="$(_tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start 2>&1)"; then
      _tm_err "could not start cluster '$name' ($data):"
      printf '%s\n' "$out" >&2
      _tm_show_log "$base"
      return 1
    fi
  fi

  # pg_ctl -w waits for "ready" in postmaster.pid; also prove that clients
  # can actually connect over the socket.
  for ((i = 0; i < 60; i++)); do
    if "$TM_PGBIN/pg_isready" -q -h "$sock" -p "$port" -U postgres -d postgres; then
      export TM_PGHOST="$sock" TM_PGPORT="$port" TM_CLUSTER_DIR="$base"
      _tm_info "cluster '$name' ready: host=$sock port=$port (log: $log)"
      return 0
    fi
    sleep 0.5
  done
  _tm_err "cluster '$name' did not accept connections on $sock port $port within 30 s"
  _tm_show_log "$base"
  return 1
}

tm_cluster_stop() {
  if (($# != 1)); then
    _tm_err "usage: tm_cluster_stop NAME"
    return 2
  fi
  local name="$1" base
  _tm_check_name "$name" || return 1
  base="$(_tm_existing_base "$name")" || return 0 # never created: nothing runs
  # Never let pg_ctl signal a PID that merely looks like ours.
  if ! _tm_running "$base"; then
    return 0
  fi
  if ! _tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$base/data" -m fast -w -t 60 stop >/dev/null; then
    _tm_err "could not stop cluster '$name'"
    _tm_show_log "$base"
    return 1
  fi
  _tm_info "cluster '$name' stopped"
}

# Restarts a running cluster with a fast shutdown (every session is terminated), as an
# operator's restart would; used by the reliability tests.
tm_cluster_restart() {
  if (($# != 1)); then
    _tm_err "usage: tm_cluster_restart NAME"
    return 2
  fi
  local name="$1" base
  _tm_check_name "$name" || return 1
  base="$(_tm_existing_base "$name")" || { _tm_err "cluster '$name' does not exist"; return 1; }
  if ! _tm_pg "$base" "$TM_PGBIN/pg_ctl" -D "$base/data" -l "$base/server.log" -m fast -w -t 60 restart >/dev/null; then
    _tm_err "could not restart cluster '$name'"
    _tm_show_log "$base"
    return 1
  fi
}

tm_psql() {
  if (($# < 2)); then
    _tm_err "usage: tm_psql NAME DB [psql args...]"
    return 2
  fi
  local name="$1" db="$2" base port
  shift 2
  _tm_check_name "$name" || return 1
  if ! base="$(_tm_existing_base "$name")"; then
    _tm_err "cluster '$name' does not exist; run tm_cluster_start $name PORT first"
    return 1
  fi
  port="$(<"$base/port")"
  # Trust auth over a private socket: works for whichever user calls us.
  "$TM_PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$base/sock" -p "$port" -U postgres -d "$db" "$@"
}

tm_dsn() {
  if (($# != 1)); then
    _tm_err "usage: tm_dsn DB"
    return 2
  fi
  if [[ -z "${TM_PGHOST:-}" || -z "${TM_PGPORT:-}" ]]; then
    _tm_err "tm_dsn: TM_PGHOST/TM_PGPORT unset; call tm_cluster_start first"
    return 1
  fi
  printf 'host=%s port=%s user=postgres dbname=%s\n' "$TM_PGHOST" "$TM_PGPORT" "$1"
}

# Hide passwords in key=value DSNs (quoted or not) and in URIs
# (postgresql://user:secret@host/db, ?password=secret).
tm_mask_dsn() {
  printf '%s\n' "$1" | sed -E \
    -e "s/(password[[:space:]]*=[[:space:]]*)'([^'\\\\]|\\\\.)*'/\\1****/Ig" \
    -e "s/(password[[:space:]]*=[[:space:]]*)[^'[:space:]&][^[:space:]&]*/\\1****/Ig" \
    -e 's#^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?]*):[^@/?]*@#\1:****@#'
}
