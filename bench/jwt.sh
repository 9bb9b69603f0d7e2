#!/usr/bin/env bash
# JWT client authentication (RFC 7523) in one run (issue 15), as ratios:
#  (a) grantcheck's own signing rate per algorithm, one core (examples/sign_assertions);
#  (b) the reference server's private_key_jwt issuance rate as a ratio of its Basic issuance
#      rate, both driven by wrk (JWT: pre-signed ES256 assertions cycled, against
#      `serve --fault skip-assertion-replay-check`, since wrk cannot sign);
#  (c) `grantcheck load --profile bench/load-issuance-jwt.toml` (a fresh assertion per
#      request) against the same server, as a ratio of wrk replaying pre-signed ones;
#  (d) the same grantcheck load against `serve` with its jti replay cache on.
#
#   bench/jwt.sh [SECONDS]
#
# As bench/run.sh: servers pinned to core 0 with one tokio worker, generators to core 1,
# 32 connections/users; each server runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is needed (util-linux)" >&2; exit 2; }
cargo build --release --quiet --bin grantcheck --example sign_assertions

PORT=18095
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
serve() { # extra serve flags...
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$PORT \
    --token-ttl 10 --brute-force-limit 0 "$@" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
}
URL="http://127.0.0.1:$PORT/oauth2/access_token"
wrk_rps() { # script, env...
  local script=$1; shift
  env "$@" taskset -c 1 wrk -t1 -c32 -d2s -s "$script" "$URL" >/dev/null
  env "$@" taskset -c 1 wrk -t1 -c32 -d"${SECS}s" -s "$script" "$URL" | sed -n 's/^RESULT rps=\([0-9]*\).*/\1/p'
}
load_rps() {
  taskset -c 1 target/release/grantcheck load --profile bench/load-issuance-jwt.toml --token-url "$URL" \
    --client-auth private_key_jwt --client-key fixtures/keys/client-es256.jwk.json --jwt-client-id jwtClient \
    --client-id myClient --client-secret forgerock -u 32 -r 32 -t "${SECS}s" --report-dir "$work/load" 2>&1 \
    | awk '/all requests/ { print $5 }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per target"
echo "(a) signing on grantcheck's side:"
taskset -c 1 target/release/examples/sign_assertions | sed 's/^/    /'

target/release/examples/sign_assertions --print 2000 "$URL" >"$work/assertions.txt"
serve --fault skip-assertion-replay-check
basic=$(wrk_rps bench/post.lua AUTH="Basic $(printf 'myClient:forgerock' | base64 -w0)" BODY=grant_type=client_credentials)
jwt=$(wrk_rps bench/assertions.lua ASSERTIONS="$work/assertions.txt")
gc=$(load_rps)
serve
gc_replay=$(load_rps)
awk -v b="$basic" -v j="$jwt" -v g="$gc" -v r="$gc_replay" 'BEGIN {
  printf "(b) reference server, wrk: Basic issuance %8.0f req/s, private_key_jwt (ES256, pre-signed) %8.0f req/s  ratio %.2f\n", b, j, j / b
  printf "(c) grantcheck load issuance-jwt (fresh ES256 per request) %8.0f req/s vs wrk pre-signed %8.0f  ratio %.2f\n", g, j, g / j
  printf "(d) the same with the server'"'"'s jti replay cache on: %8.0f req/s (%.2f of (c))\n", r, r / g }'
