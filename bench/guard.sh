#!/usr/bin/env bash
# The CI guard on per-request cost. benches/per_request.rs runs each scenario (issuance with
# Basic, post, private_key_jwt and DPoP; introspection; the resource call; the load
# generator's handling of a response) N times, and bench/generator.sh the generator's whole
# cost per response in a closed loop; callgrind counts the instructions of the
# counted loop alone, and this script divides by N. Instruction counts of the same binary and
# inputs do not move with the machine's load, so a figure more than LIMIT% above the
# committed baseline (bench/per_request.baseline) is a real cost: the guard fails and prints
# old and new. A change that costs on purpose updates the baseline in the same commit and
# says why in its message.
#
#   bench/guard.sh            compare with the baseline (exit 1 when one grew > LIMIT%)
#   bench/guard.sh --update   measure and write the baseline
#   GUARD_REQUESTS=N (default 1000), GUARD_LIMIT_PERCENT=P (default 10)
#
# Counts are exact for one CPU model, but crypto libraries pick code paths by CPU features
# (ring's SHA-256 and P-256), so the baseline records the CPU it was measured on; on another
# CPU the guard still measures and prints, but reports a growth as a warning, not a failure,
# and asks for a baseline from that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-check}
N=${GUARD_REQUESTS:-1000}
LIMIT=${GUARD_LIMIT_PERCENT:-10}
BASELINE=bench/per_request.baseline
case "$MODE" in check|--update) ;; *) echo "usage: bench/guard.sh [--update]" >&2; exit 2 ;; esac
if ! command -v valgrind >/dev/null; then
  apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi

bin=$(cargo bench --bench per_request --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "per_request" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "could not build benches/per_request.rs" >&2; exit 2; }

cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | xargs)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
measured=$work/measured
: > "$measured"
for scenario in $("$bin" --list | cut -f1); do
  if ! valgrind --tool=callgrind --callgrind-out-file="$work/$scenario.out" \
      --collect-atstart=no --toggle-collect='per_request::measured*' \
      "$bin" "$scenario" "$N" >"$work/$scenario.log" 2>&1; then
    echo "per_request $scenario failed under callgrind:" >&2
    tail -20 "$work/$scenario.log" >&2
    exit 2
  fi
  total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$work/$scenario.out")
  [ -n "$total" ] && [ "$total" -gt 0 ] || { echo "no instructions counted for $scenario" >&2; exit 2; }
  echo "$scenario $((total / N))" >> "$measured"
done

# The generator's whole cost per response through its own HTTP/1.1 client, in a real closed
# loop (bench/generator.sh: the difference of two run lengths under callgrind).
line=$(bench/generator.sh | tail -1)
per=$(sed -n 's/^instructions per response: \([0-9]*\).*/\1/p' <<<"$line")
[ -n "$per" ] || { echo "bench/generator.sh gave no figure: $line" >&2; exit 2; }
echo "generator-load $per" >> "$measured"

if [ "$MODE" = --update ]; then
  {
    echo "# Instructions per request, counted by callgrind (bench/guard.sh, N=$N)."
    echo "# A change that raises one by more than ${LIMIT}% fails CI: update this file with"
    echo "# bench/guard.sh --update in the same commit and say why in its message."
    echo "# cpu: $cpu"
    cat "$measured"
  } > "$BASELINE"
  cat "$measured"
  echo "baseline written to $BASELINE"
  exit 0
fi

[ -f "$BASELINE" ] || { echo "no baseline: run bench/guard.sh --update" >&2; exit 2; }
baseline_cpu=$(sed -n 's/^# cpu: //p' "$BASELINE")
same_cpu=1
if [ "$baseline_cpu" != "$cpu" ]; then
  same_cpu=0
  echo "the baseline was counted on '$baseline_cpu', this is '$cpu': growth is reported, not failed"
fi
awk -v limit="$LIMIT" -v same_cpu="$same_cpu" '
  FNR == NR { if ($0 !~ /^#/ && NF == 2) old[$1] = $2; next }
  {
    name = $1; now = $2
    if (!(name in old)) { printf "%-16s %12s %12d   new scenario: add it with bench/guard.sh --update\n", name, "-", now; bad = 1; next }
    ratio = now / old[name]
    verdict = "ok"
    if (ratio > 1 + limit / 100) { verdict = sprintf("GREW more than %d%%", limit); bad = 1 }
    else if (ratio < 1 - limit / 100) verdict = "fell: update the baseline to keep the guard tight"
    printf "%-16s %12d %12d  %6.3f  %s\n", name, old[name], now, ratio, verdict
  }
  BEGIN { printf "%-16s %12s %12s  %6s\n", "instructions/req", "baseline", "now", "now/old" }
  END {
    if (bad && !same_cpu) {
      print "\nper-request cost grew on a CPU the baseline was not counted on: a warning, not a failure;"
      print "run bench/guard.sh --update on this machine to gate here."
      exit 0
    }
    if (bad) {
      print "\nper-request cost grew: find the cause (callgrind_annotate on bench/guard.sh'"'"'s output),"
      print "or, if the cost is deliberate, run bench/guard.sh --update and say why in the commit message."
      exit 1
    }
  }' "$BASELINE" "$measured"
