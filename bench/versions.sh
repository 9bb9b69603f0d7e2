#!/usr/bin/env bash
# Two builds of `grantcheck serve` in one run, alternating, so a change's cost shows apart
# from the machine's noise: Basic issuance, client_secret_post issuance and introspection of a
# live token, each driven by wrk (bench/post.lua) with the method of bench/lib.sh. Each round
# measures old then new (the order swaps every round); the figure is the median of the
# per-round new/old ratios, for throughput and for the server's CPU time per request.
#
#   bench/versions.sh OLD_BINARY NEW_BINARY [SECONDS] [ROUNDS] [CONNECTIONS]  (5, 8, 32)
#
# Build the old one from a worktree, e.g.
#   git worktree add /tmp/old REV && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin grantcheck)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1; NEW=$2; SECS=${3:-5}; ROUNDS=${4:-8}; CONNS=${5:-32}
source bench/lib.sh
need wrk "apt-get install wrk"
PORT=18096
URL="http://127.0.0.1:$PORT/oauth2"
MY=$(basic myClient:forgerock); RS=$(basic rs-client:rs-secret)

one() { # binary -> "issuance rps cpu / post rps cpu / introspection rps cpu" as 6 numbers
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$1" serve --addr 127.0.0.1:$PORT --token-ttl 10 >/dev/null 2>&1 & local pid=$!
  pids+=($pid)
  wait_http "http://127.0.0.1:$PORT/"
  local i p n token
  i=$(wrk_measure $pid "$URL/access_token" "$MY" grant_type=client_credentials)
  p=$(wrk_measure $pid "$URL/access_token" "" "grant_type=client_credentials&client_id=myClient&client_secret=forgerock")
  token=$(live_token "$URL/access_token")
  n=$(wrk_measure $pid "$URL/introspect" "$RS" "token=$token" '"active":true')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$i $p $n"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per target, $ROUNDS rounds"
rows=$(for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then o=$(one "$OLD"); n=$(one "$NEW"); else n=$(one "$NEW"); o=$(one "$OLD"); fi
  echo "$o $n" | awk -v r="$round" '{
    split("issuance issuance-post introspection", k, " ")
    for (j = 0; j < 3; j++) {
      ors = $(1 + 3 * j); ocpu = $(2 + 3 * j); obad = $(3 + 3 * j)
      nrs = $(10 + 3 * j); ncpu = $(11 + 3 * j); nbad = $(12 + 3 * j)
      printf "%d %s_new/old %.4f\n", r, k[j + 1], nrs / ors
      printf "%d %s_cpu_new/old %.4f\n", r, k[j + 1], ncpu / ocpu
      printf "%d %s_old_rps %d\n%d %s_new_rps %d\n", r, k[j + 1], ors, r, k[j + 1], nrs
      printf "%d %s_old_cpu_us %.2f\n%d %s_new_cpu_us %.2f\n", r, k[j + 1], ocpu, r, k[j + 1], ncpu
      if (obad + nbad > 0) printf "%d errors %d %s old=%d new=%d\n", r, obad + nbad, k[j + 1], obad, nbad
    }
  }'
  echo "round $round done" >&2
done)
if echo "$rows" | grep -q ' errors '; then
  echo "WARNING: some answers were not 200, or socket errors, or introspection said inactive (round, count, what):"
  echo "$rows" | grep ' errors ' | sed 's/^/  round /'
fi
echo "median over rounds (min, max):"
echo "$rows" | grep -v ' errors ' | medians | sort | awk '{ printf "  %-30s %10s   (%s, %s; %d rounds)\n", $1, $2, $3, $4, $5 }'
