#!/usr/bin/env bash
# Throughput and CPU per request in one run, as medians of per-round ratios:
#  (a) a minimal hyper server answering a fixed token body (the ceiling), driven by wrk;
#  (b) `grantcheck serve`: Basic and client_secret_post issuance, Basic issuance over HTTPS,
#      and introspection of a live token, driven by the same wrk (bench/post.lua);
#  (c) `grantcheck load` (every response checked) against (a) and (b), against wrk's figure
#      on the same server in the same round: the load engine's own overhead.
#
#   bench/run.sh [SECONDS] [ROUNDS] [CONNECTIONS]      (defaults 5, 8, 32)
#
# The method is in bench/lib.sh: server on core 0 (one tokio worker), generators on core 1;
# each round measures the baseline before and after the rest, and every ratio is taken within
# its round; the table gives the median over the rounds (min and max beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; ROUNDS=${2:-8}; CONNS=${3:-32}
source bench/lib.sh
need wrk "apt-get install wrk"
need taskset "util-linux"
cargo build --release --quiet --bin grantcheck --example fixed_token_server

BASE_PORT=18090; REF_PORT=18091; TLS_PORT=18092
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/examples/fixed_token_server 127.0.0.1:$BASE_PORT >/dev/null & BASE_PID=$!; pids+=($BASE_PID)
# Tokens live 10 s, so the store holds a steady state (~1M tokens at 100k/s) instead of
# growing through the run and making later measurements slower than earlier ones.
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$REF_PORT --token-ttl 10 >/dev/null 2>&1 & REF_PID=$!; pids+=($REF_PID)
# The same server over HTTPS (wrk keeps connections alive: TLS record cost, not handshakes).
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --tls --tls-cert-out /tmp/grantcheck-bench-cert.pem \
  --addr 127.0.0.1:$TLS_PORT --token-ttl 10 --brute-force-limit 0 >/dev/null 2>&1 & TLS_PID=$!; pids+=($TLS_PID)
wait_http "http://127.0.0.1:$BASE_PORT/"; wait_http "http://127.0.0.1:$REF_PORT/"; wait_http "https://127.0.0.1:$TLS_PORT/"

MY=$(basic myClient:forgerock); RS=$(basic rs-client:rs-secret)
BASE_URL="http://127.0.0.1:$BASE_PORT/oauth2/access_token"
REF="http://127.0.0.1:$REF_PORT/oauth2"
ISSUE=grant_type=client_credentials
POST_BODY="grant_type=client_credentials&client_id=myClient&client_secret=forgerock"

# grantcheck load's requests/s against a URL (the same Basic request as wrk's, every response
# checked), from its JSON report.
goose() { # url
  local dir; dir=$(mktemp -d)
  taskset -c 1 target/release/grantcheck load --profile bench/load-issuance.toml --token-url "$1" \
    --client-id myClient --client-secret forgerock -u "$CONNS" -r "$CONNS" -t "${SECS}s" \
    --report-dir "$dir" >"$dir/log" 2>&1 || true
  awk '/all requests/ { print $5 }' "$dir/log" | tr -d , | head -1
  rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per target, $ROUNDS rounds, $CONNS connections"
bad=0
rows=$(for round in $(seq 1 "$ROUNDS"); do
  read -r b1 bcpu1 e1 < <(wrk_measure $BASE_PID "$BASE_URL" "$MY" $ISSUE)
  read -r is icpu e2 < <(wrk_measure $REF_PID "$REF/access_token" "$MY" $ISSUE)
  read -r ps pcpu e3 < <(wrk_measure $REF_PID "$REF/access_token" "" "$POST_BODY")
  read -r ts tcpu e4 < <(wrk_measure $TLS_PID "https://127.0.0.1:$TLS_PORT/oauth2/access_token" "$MY" $ISSUE)
  token=$(live_token "$REF/access_token")
  read -r ns ncpu e5 < <(wrk_measure $REF_PID "$REF/introspect" "$RS" "token=$token" '"active":true')
  gb=$(goose "$BASE_URL"); gi=$(goose "$REF/access_token")
  read -r b2 bcpu2 e6 < <(wrk_measure $BASE_PID "$BASE_URL" "$MY" $ISSUE)
  base=$(( (b1 + b2) / 2 ))
  awk -v r="$round" -v base="$base" -v is="$is" -v ps="$ps" -v ts="$ts" -v ns="$ns" -v gb="$gb" -v gi="$gi" \
      -v b1="$b1" -v bc="$bcpu1" -v bc2="$bcpu2" -v ic="$icpu" -v pc="$pcpu" -v tc="$tcpu" -v nc="$ncpu" 'BEGIN {
    printf "%d baseline_rps %d\n", r, base
    printf "%d issuance/baseline %.4f\n", r, is / base
    printf "%d issuance-post/baseline %.4f\n", r, ps / base
    printf "%d issuance-tls/baseline %.4f\n", r, ts / base
    printf "%d introspection/baseline %.4f\n", r, ns / base
    printf "%d load/wrk_fixed-body %.4f\n", r, gb / b1
    printf "%d load/wrk_reference %.4f\n", r, gi / is
    printf "%d cpu_us/req_baseline %.2f\n", r, (bc + bc2) / 2
    printf "%d cpu_us/req_issuance %.2f\n", r, ic
    printf "%d cpu_us/req_issuance-post %.2f\n", r, pc
    printf "%d cpu_us/req_issuance-tls %.2f\n", r, tc
    printf "%d cpu_us/req_introspection %.2f\n", r, nc
  }'
  echo "$round errors $((e1 + e2 + e3 + e4 + e5 + e6)) baseline=$e1 issuance=$e2 post=$e3 tls=$e4 introspection=$e5 baseline-again=$e6"
  echo "round $round done" >&2
done)
echo "$rows" | grep ' errors ' | awk '$3 > 0 { bad = 1; rows = rows "\n  round " $0 } END { if (bad) print "WARNING: some answers were not 200, or socket errors, or introspection said inactive:" rows }'
echo "median over rounds (min, max):"
echo "$rows" | grep -v ' errors ' | medians | awk '{ printf "  %-28s %10s   (%s, %s; %d rounds)\n", $1, $2, $3, $4, $5 }'
