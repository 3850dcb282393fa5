#!/bin/sh
# ctest packaging_install (label unit, no database): `cmake --install` of the current
# build into a temporary prefix, then checks what a package would ship:
#   - bin/tidemark runs and prints `tidemark VERSION` for --version;
#   - share/man/man1/tidemark.1 exists, has a section for every subcommand that
#     `tidemark --help` lists and names every long option of `tidemark <command> --help`,
#     and (when groff is installed) formats without warnings;
#   - the docs and example configs are under share/doc/tidemark/.
#
# Usage: check_install.sh BUILD_DIR VERSION
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: check_install.sh BUILD_DIR VERSION" >&2
  exit 2
fi
build="$1"
version="$2"
cmake="${CMAKE_COMMAND:-cmake}"

fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

prefix="$(mktemp -d "${TMPDIR:-/tmp}/tidemark-install.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT

# DESTDIR from the environment would put the files somewhere else.
if ! env -u DESTDIR "$cmake" --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1; then
  cat "$prefix.log" >&2
  rm -f "$prefix.log"
  echo "FAIL: cmake --install $build --prefix $prefix" >&2
  exit 1
fi
rm -f "$prefix.log"

bin="$prefix/bin/tidemark"
man="$prefix/share/man/man1/tidemark.1"
doc="$prefix/share/doc/tidemark"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

# --- the binary --------------------------------------------------------------------------
if [ ! -x "$bin" ]; then
  fail "bin/tidemark is not installed"
  exit 1
fi
got="$("$bin" --version 2>&1)" || fail "bin/tidemark --version exited $?"
[ "$got" = "tidemark $version" ] || fail "bin/tidemark --version printed '$got', want 'tidemark $version'"

# --- the man page ------------------------------------------------------------------------
if [ ! -s "$man" ]; then
  fail "share/man/man1/tidemark.1 is missing or empty"
  exit 1
fi
grep -q '^\.TH TIDEMARK 1 ' "$man" || fail "tidemark.1 has no '.TH TIDEMARK 1' title line"
grep -qF "tidemark $version" "$man" || fail "tidemark.1 does not carry version $version"

commands="$("$bin" --help | awk '
  /^Subcommands:$/ { in_sub = 1; next }
  /^[^ ]/          { in_sub = 0 }
  in_sub && /^  [^ ]/ { print $1 }')"
[ -n "$commands" ] || fail "tidemark --help lists no subcommands (has its layout changed?)"

# The page with roff's escapes undone, to look for option names.
plain="$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' "$man")"
n=0
for cmd in $commands; do
  n=$((n + 1))
  grep -qxF ".SS \"tidemark $cmd\"" "$man" || fail "tidemark.1 has no section for 'tidemark $cmd'"
  opts="$("$bin" "$cmd" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)"
  for o in $opts; do
    # Each option within its own command's section.
    printf '%s\n' "$plain" | awk -v s=".SS \"tidemark $cmd\"" -v o="$o" '
      $0 == s { inside = 1; next }
      /^\.S[SH] / { inside = 0 }
      inside && index($0, o) { found = 1 }
      END { exit !found }' || fail "tidemark.1 does not mention $o in the section of 'tidemark $cmd'"
  done
done
echo "man page: $n subcommands checked: $(echo $commands)"

if command -v groff >/dev/null 2>&1; then
  warnings="$(groff -man -Tutf8 -ww -z "$man" 2>&1)" || fail "groff could not format tidemark.1"
  [ -z "$warnings" ] || fail "groff warns about tidemark.1: $warnings"
fi

# --- docs and examples -------------------------------------------------------------------
for f in README.md LICENSE docs/operations.md docs/config.md examples/demo.yaml examples/example.yaml \
  examples/example.json; do
  [ -s "$doc/$f" ] || fail "share/doc/tidemark/$f is not installed"
done

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "install into a temporary prefix: OK"
