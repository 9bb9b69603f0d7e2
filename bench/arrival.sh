#!/usr/bin/env bash
# Open-model load in one run (issue 16), as ratios against wrk's closed loop on the same server:
#  (a) the highest arrival rate `grantcheck load --rate` sustains (< 1% late, < 1% errors),
#      found with `grantcheck load capacity --slo error-rate<1%` (late<1% is always required),
#      against the fixed-body ceiling server and the reference server;
#  (b) the same for oha -q (the peer anchor): the highest rate at which oha's achieved rate
#      is within 1% of the asked one with < 1% errors, found by the same doubling and bisecting;
#  (c) the reference server's capacity at p99 < 10 ms (latency from the intended start).
#
#   bench/arrival.sh [STEP_SECONDS]
#
# As bench/run.sh: servers pinned to core 0 with one tokio worker, generators to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-5}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v oha >/dev/null || { echo "oha is needed: cargo install oha" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is needed (util-linux)" >&2; exit 2; }
cargo build --release --quiet --bin grantcheck --example fixed_token_server

BASE_PORT=18093; REF_PORT=18094
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/examples/fixed_token_server 127.0.0.1:$BASE_PORT >/dev/null & pids+=($!)
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$REF_PORT --token-ttl 10 >/dev/null 2>&1 & pids+=($!)
for port in $BASE_PORT $REF_PORT; do
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
MY="Basic $(printf 'myClient:forgerock' | base64 -w0)"

wrk_rps() { # url
  AUTH="$MY" BODY="grant_type=client_credentials" taskset -c 1 wrk -t1 -c32 -d2s -s bench/post.lua "$1" >/dev/null
  AUTH="$MY" BODY="grant_type=client_credentials" taskset -c 1 wrk -t1 -c32 -d"${STEP}s" -s bench/post.lua "$1" \
    | sed -n 's/^RESULT rps=\([0-9.]*\).*/\1/p'
}

grantcheck_capacity() { # url slo start -> prints the capacity (0 if none)
  local dir; dir=$(mktemp -d)
  taskset -c 1 target/release/grantcheck load capacity --profile bench/load-issuance.toml \
    --token-url "$1" --client-id myClient --client-secret forgerock \
    --slo "$2" --start-rate "$3" --step "${STEP}s" --max-time 120s --max-in-flight 256 \
    --report-dir "$dir" >"$dir/log" 2>&1 || true
  sed -n 's/.*"capacity": \([0-9.]*\).*/\1/p' "$dir/capacity.json" | head -1
  rm -rf "$dir"
}

oha_holds() { # url rate -> exit 0 when oha kept the rate with < 1% errors
  local out; out=$(mktemp)
  taskset -c 1 oha --no-tui --output-format json -z "${STEP}s" -q "$2" --latency-correction -c 256 \
    -m POST -H "Authorization: $MY" -H "Content-Type: application/x-www-form-urlencoded" \
    -d "grant_type=client_credentials" "$1" >"$out" 2>/dev/null || true
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
codes = d.get("statusCodeDistribution", {}); total = sum(codes.values())
achieved = d["summary"].get("requestsPerSec", 0)
sys.exit(0 if total and achieved >= 0.99 * rate and codes.get("200", 0) / total >= 0.99 else 1)
' "$out" "$2"
  local held=$?
  rm -f "$out"
  return $held
}

oha_capacity() { # url start -> the highest rate oha holds, by doubling then bisecting to 5%
  local good=0 bad=0 rate=$2
  while :; do
    if oha_holds "$1" "$rate"; then good=$rate; else bad=$rate; fi
    if [ "$bad" = 0 ]; then rate=$((good * 2)); continue; fi
    if [ "$good" = 0 ]; then rate=$((bad / 2)); [ "$rate" -lt 1 ] && break; continue; fi
    [ $(( (bad - good) * 100 / good )) -le 5 ] && break
    rate=$(( (good + bad) / 2 ))
  done
  echo "$good"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); steps of ${STEP}s"
for target in "fixed-body http://127.0.0.1:$BASE_PORT/oauth2/access_token" "reference http://127.0.0.1:$REF_PORT/oauth2/access_token"; do
  set -- $target
  w=$(wrk_rps "$2")
  g=$(grantcheck_capacity "$2" "error-rate<1%" 2000/s)
  o=$(oha_capacity "$2" 2000)
  awk -v n="$1" -v w="$w" -v g="$g" -v o="$o" 'BEGIN {
    printf "%-10s wrk closed loop %8.0f req/s | grantcheck --rate sustains %8.0f/s (ratio %.2f) | oha -q sustains %8.0f/s (ratio %.2f)\n", n, w, g, g / w, o, o / w }'
done
c=$(grantcheck_capacity "http://127.0.0.1:$REF_PORT/oauth2/access_token" "p99<10ms" 2000/s)
echo "reference server capacity at p99<10ms (latency from the intended start): ${c:-none}/s"
