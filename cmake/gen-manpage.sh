#!/bin/sh
# Writes the tidemark(1) man page (roff, -man macros) from the binary's own help:
# `tidemark --help` gives the name, synopsis, global options and the list of
# subcommands; `tidemark <command> --help` gives each command's section. Only the
# exit status, environment and "see also" sections are fixed text here.
#
# Usage: gen-manpage.sh TIDEMARK_BIN OUTPUT VERSION [DOCDIR]
#   DOCDIR: where the docs are installed, for SEE ALSO (default /usr/share/doc/tidemark)
#
# Run by the build (cmake/Packaging.cmake) after the tidemark target is built. Needs
# only a POSIX sh and awk. Parses CLI11's help layout: "Usage:" line, "Section:"
# headers, entries indented two spaces with the description at column 31 (or on
# the next lines, indented 30, when the name is longer).
set -eu

if [ "$#" -lt 3 ] || [ "$#" -gt 4 ]; then
  echo "usage: gen-manpage.sh TIDEMARK_BIN OUTPUT VERSION [DOCDIR]" >&2
  exit 2
fi
bin="$1"
out="$2"
version="$3"
docdir="${4:-/usr/share/doc/tidemark}"

# A sanitizer build must not fail the page on a leak report at exit.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
export ASAN_OPTIONS

# Reproducible when SOURCE_DATE_EPOCH is set (Debian builds set it).
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d 2>/dev/null || date -u +%Y-%m-%d)"
else
  date="$(date -u +%Y-%m-%d)"
fi

top_help="$("$bin" --help)"
# The subcommands, in the order --help lists them.
commands="$(printf '%s\n' "$top_help" | awk '
  /^Subcommands:$/ { in_sub = 1; next }
  /^[^ ]/          { in_sub = 0 }
  in_sub && /^  [^ ]/ { print $1 }')"
if [ -z "$commands" ]; then
  echo "gen-manpage.sh: '$bin --help' lists no subcommands" >&2
  exit 1
fi

# Turns one CLI11 help text into roff. mode=top: NAME, SYNOPSIS, DESCRIPTION,
# OPTIONS, COMMANDS; mode=sub: the body of one command's subsection.
to_roff() {
  awk -v mode="$1" '
    # Escapes backslashes; emit() also guards a leading control character.
    function esc(s) {
      gsub(/\\/, "\\\\e", s)
      return s
    }
    function emit(s) {
      if (s ~ /^[.\047]/) s = "\\&" s
      print s
    }
    # Option names and synopses: minus signs, not hyphens, so they can be copied.
    function opt(s) {
      s = esc(s)
      gsub(/-/, "\\\\-", s)
      return s
    }
    function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
    function flush() {
      if (name == "") return
      # The first word (flags or the positional) bold, its type and notes roman.
      n = split(name, w, " ")
      line = "\\fB" opt(w[1]) "\\fR"
      for (i = 2; i <= n; i++) line = line " " opt(w[i])
      print ".TP"
      print line
      if (desc == "") print "\\&"; else emit(esc(desc))
      name = ""; desc = ""
    }
    function header(title) {
      flush()
      if (mode == "top") {
        if (title == "Subcommands") print ".SH COMMANDS"
        else print ".SH " toupper(title)
      } else {
        if (title == "Positionals") title = "Arguments"
        print ".PP"
        print "\\fI" title ":\\fR"
      }
      section = title
    }
    NR == 1 && mode == "top" {
      # "tidemark: what it does"
      line = $0
      sub(/^[^:]*: */, "", line)
      print ".SH NAME"
      print "tidemark \\- " esc(line)
      next
    }
    /^Usage: / {
      flush()
      $1 = ""; $2 = "tidemark"   # the path the binary was run by
      line = trim($0)
      if (mode == "top") {
        print ".SH SYNOPSIS"
        print ".B tidemark"
        sub(/^tidemark */, "", line)
        print opt(line) " [\\fICOMMAND OPTIONS\\fR]"
        print ".br"
        print ".B tidemark \\-\\-version"
        print ".SH DESCRIPTION"
        print "tidemark copies the rows that changed in PostgreSQL tables (or new and changed"
        print "files in a directory) to another PostgreSQL database, incrementally. It reads a"
        print "pipeline config (YAML or JSON) given with \\fB\\-c\\fR or \\fBTIDEMARK_CONFIG\\fR,"
        print "and keeps each pipeline\\(aqs watermark in the target database, committed with the data."
        print ".PP"
        print "Global options may come before or after the command. Logs go to standard error;"
        print "\\fB\\-\\-json\\fR output goes to standard output."
      } else {
        print ".PP"
        print "\\fB" opt(line) "\\fR"
      }
      next
    }
    /^[A-Z][A-Za-z ]*:$/ { header(substr($0, 1, length($0) - 1)); next }
    /^$/ { flush(); next }
    /^  [^ ]/ {
      flush()
      if (length($0) > 30 && substr($0, 30, 1) == " " && substr($0, 31, 1) != " ") {
        name = trim(substr($0, 3, 28)); desc = trim(substr($0, 31))
      } else {
        name = trim($0); desc = ""
      }
      next
    }
    /^ +[^ ]/ && name != "" { desc = trim(desc " " trim($0)); next }
    {
      # Free text: a command description (first line of its help) or a footer.
      flush()
      print ".PP"
      emit(esc(trim($0)))
    }
    END {
      flush()
      if (mode == "top") {
        print ".PP"
        print "Each command is described below; \\fBtidemark \\fIcommand\\fB \\-\\-help\\fR prints the same."
      }
    }'
}

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
  echo '.\" Generated by cmake/gen-manpage.sh from `tidemark --help` and'
  echo '.\" `tidemark <command> --help`; do not edit.'
  echo ".TH TIDEMARK 1 \"$date\" \"tidemark $version\" \"User Commands\""
  printf '%s\n' "$top_help" | to_roff top
  for cmd in $commands; do
    echo ".SS \"tidemark $cmd\""
    "$bin" "$cmd" --help | to_roff sub
  done
  cat <<'EOF'
.SH EXIT STATUS
.TP
.B 0
Success, including \(lqnothing changed\(rq.
.TP
.B 1
A run failed; its transaction was rolled back and its watermark is unchanged.
.TP
.B 2
Usage or config error; for config errors, nothing was connected to.
.TP
.B 75
Skipped: another run of the pipeline holds its lock (EX_TEMPFAIL). Treat it as
success in cron jobs.
.PP
When several pipelines run, the most serious outcome wins: 2, then 1, then 75, then 0.
.SH ENVIRONMENT
.TP
.B TIDEMARK_CONFIG
The config file when \fB\-c\fR is not given.
.TP
.B PGPASSWORD\fR, \fBPGPASSFILE\fR, ...
libpq reads its usual variables; the config expands \fB${VAR}\fR from the environment.
.TP
.B TIDEMARK_FAULT
Fault injection, for crash tests only; never set it in production.
.SH EXAMPLES
.nf
tidemark validate \-c pipelines.yaml
tidemark run \-c pipelines.yaml orders \-\-dry\-run
tidemark \-q run \-c /etc/tidemark/pipelines.yaml || [ $? \-eq 75 ]
tidemark status \-c pipelines.yaml \-\-json
.fi
EOF
  cat <<EOF
.SH SEE ALSO
The full documentation is in \\fI\\%$docdir/\\fR (README.md and docs/*.md;
docs/operations.md is the command and operations reference), with example configs
in \\fI\\%$docdir/examples/\\fR.
EOF
} >"$tmp"
mv -f "$tmp" "$out"
trap - EXIT
