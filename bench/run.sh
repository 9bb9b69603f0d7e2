#!/usr/bin/env bash
# Throughput in one run, as ratios:
#  (a) a minimal hyper server answering a fixed token body (the ceiling), driven by wrk;
#  (b) `grantcheck serve` issuance and introspection, driven by the same wrk;
#  (c) `grantcheck load` (Goose) against (a) and (b), compared with wrk against the same
#      server: the load tool's own overhead.
#
#   bench/run.sh [SECONDS] [CONNECTIONS]
#
# Servers run pinned to core 0 with one tokio worker, generators pinned to core 1, so every
# server gets the same CPU and no generator competes with it. Each wrk target is measured
# after a warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}; CONNS=${2:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is needed (util-linux)" >&2; exit 2; }
cargo build --release --quiet --bin grantcheck --example fixed_token_server

BASE_PORT=18090; REF_PORT=18091; TLS_PORT=18092
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/examples/fixed_token_server 127.0.0.1:$BASE_PORT >/dev/null & pids+=($!)
# Tokens live 10 s, so the store holds a steady state (~1M tokens at 100k/s) instead of
# growing through the run and making later measurements slower than earlier ones.
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$REF_PORT --token-ttl 10 >/dev/null & pids+=($!)
# The same server over HTTPS (wrk keeps connections alive, so this is TLS record cost, not handshakes).
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --tls --tls-cert-out /tmp/grantcheck-bench-cert.pem \
  --addr 127.0.0.1:$TLS_PORT --token-ttl 10 --brute-force-limit 0 >/dev/null & pids+=($!)
for port in $BASE_PORT $REF_PORT; do
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
for _ in $(seq 1 50); do curl -sk -o /dev/null "https://127.0.0.1:$TLS_PORT/" && break; sleep 0.1; done

basic() { printf 'Basic %s' "$(printf '%s' "$1" | base64 -w0)"; }
MY=$(basic myClient:forgerock); RS=$(basic rs-client:rs-secret)
TOKEN=$(curl -s -u myClient:forgerock -d grant_type=client_credentials "http://127.0.0.1:$REF_PORT/oauth2/access_token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

measure() { # name url auth body
  AUTH="$3" BODY="$4" taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s bench/post.lua "$2" >/dev/null
  local line
  line=$(AUTH="$3" BODY="$4" taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" -s bench/post.lua "$2" | grep '^RESULT')
  echo "$1 ${line#RESULT }"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per target, $CONNS connections"
results=$(
  measure baseline  "http://127.0.0.1:$BASE_PORT/oauth2/access_token" "$MY" "grant_type=client_credentials"
  measure issuance  "http://127.0.0.1:$REF_PORT/oauth2/access_token" "$MY" "grant_type=client_credentials"
  measure issuance-post "http://127.0.0.1:$REF_PORT/oauth2/access_token" "" "grant_type=client_credentials&client_id=myClient&client_secret=forgerock"
  measure issuance-tls "https://127.0.0.1:$TLS_PORT/oauth2/access_token" "$MY" "grant_type=client_credentials"
  measure introspection "http://127.0.0.1:$REF_PORT/oauth2/introspect" "$RS" "token=$TOKEN"
  measure baseline-again "http://127.0.0.1:$BASE_PORT/oauth2/access_token" "$MY" "grant_type=client_credentials"
)
echo "$results"
echo "$results" | awk '
  { split($2, a, "="); rps[$1] = a[2] }
  END {
    base = (rps["baseline"] + rps["baseline-again"]) / 2
    printf "baseline (mean of before/after): %.0f req/s\n", base
    for (k in rps) if (k !~ /^baseline/) printf "%-14s %8.0f req/s  ratio %.2f\n", k, rps[k], rps[k] / base
  }'

# (c) grantcheck load against the same servers, compared with wrk's figures above.
goose() { # url
  taskset -c 1 target/release/grantcheck load --profile bench/load-issuance.toml --token-url "$1" \
    --client-id myClient --client-secret forgerock -u "$CONNS" -r "$CONNS" -t "${SECS}s" --report-dir /tmp/grantcheck-bench 2>&1 \
    | awk '/all requests/ { print $5 }'
}
# Each server is driven by wrk and then by grantcheck load, back to back.
for target in "baseline http://127.0.0.1:$BASE_PORT/oauth2/access_token" "issuance http://127.0.0.1:$REF_PORT/oauth2/access_token"; do
  set -- $target
  w=$(measure "$1" "$2" "$MY" "grant_type=client_credentials" | sed 's/.*rps=\([0-9]*\).*/\1/')
  g=$(goose "$2")
  awk -v name="$1" -v w="$w" -v g="$g" 'BEGIN { printf "grantcheck load vs wrk, %-9s %8.0f vs %8.0f req/s  ratio %.2f\n", name, g, w, g / w }'
done
