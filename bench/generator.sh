#!/usr/bin/env bash
# The load generator's instructions per response (issue 20), counted by callgrind: the
# closed loop of bench/load-issuance.toml (4 users) against the fixed-body token server,
# run for N1 and N2 iterations per user; the difference divided by the extra responses
# leaves out start-up, the preflight and the reports. Deterministic enough to compare two
# builds on one machine (its figure does not move with load on the machine).
#
#   bench/generator.sh [N1] [N2]      (default 250 1250 iterations per user)
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${1:-250}; N2=${2:-1250}; USERS=4; PORT=18095
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet --bin grantcheck --example fixed_token_server
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
"$bin"/examples/fixed_token_server 127.0.0.1:$PORT >/dev/null 2>&1 & server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

count() { # iterations per user
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" \
    "$bin"/grantcheck load --profile bench/load-issuance.toml \
    --token-url "http://127.0.0.1:$PORT/" --client-id myClient --client-secret forgerock \
    -u $USERS -r $USERS --iterations "$1" --no-print-metrics --report-dir "$work/r$1" \
    >"$work/log.$1" 2>&1 || { cat "$work/log.$1" >&2; exit 1; }
  sed -n 's/^summary: *//p' "$work/cg.$1"
}
a=$(count "$N1"); b=$(count "$N2")
extra=$(( (N2 - N1) * USERS ))
echo "instructions per response: $(( (b - a) / extra )) ($a for $N1, $b for $N2 iterations per user, $USERS users)"
