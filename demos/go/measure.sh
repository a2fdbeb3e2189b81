#!/usr/bin/env bash
# Runs each Go 1.19 twin here with the real runtime and writes the outcome
# counts to results.tsv: per program, build (plain or -race) and
# GOMAXPROCS (1, 2), how many of N runs reported a race, died with a
# fatal error, lost map entries (the program printed LOST), or completed
# cleanly. The file records the date and `go version`; it is what gort's
# Go columns are to be read from, never typed by hand.
#
#   demos/go/measure.sh [N]        (default N=20)
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-20}
if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then
  echo "measure.sh: N must be a positive integer, got '$N'" >&2
  exit 2
fi
command -v go >/dev/null || { echo "measure.sh: needs go (apt-get install golang-go)" >&2; exit 2; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
out=$(mktemp)
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(go version) runs=$N"
  printf 'program\tbuild\tgomaxprocs\truns\trace_reported\tfatal_error\tentries_lost\tcompleted\n'
  for src in *.go; do
    name=${src%.go}
    go build -o "$bin/$name" "$src"
    go build -race -o "$bin/$name.race" "$src"
    for build in plain race; do
      exe="$bin/$name"; [ "$build" = race ] && exe="$bin/$name.race"
      for procs in 1 2; do
        race=0 fatal=0 lost=0 done=0
        for _ in $(seq "$N"); do
          set +e
          GOMAXPROCS=$procs "$exe" >"$bin/stdout" 2>"$bin/stderr"
          status=$?
          set -e
          grep -q "WARNING: DATA RACE" "$bin/stderr" && race=$((race + 1))
          grep -q "^fatal error:" "$bin/stderr" && fatal=$((fatal + 1))
          grep -q "^LOST" "$bin/stdout" && lost=$((lost + 1))
          [ "$status" = 0 ] && ! grep -q "^LOST" "$bin/stdout" && done=$((done + 1))
        done
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$build" "$procs" "$N" "$race" "$fatal" "$lost" "$done"
      done
    done
  done
} >"$out"
mv "$out" results.tsv
cat results.tsv
