#!/usr/bin/env bash
# Memory of `grantcheck serve` under sustained issuance with short-lived tokens: expired
# tokens are purged, so RSS must level off instead of growing with the number issued.
#
#   bench/memory.sh [SECONDS] [TOKEN_TTL]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}; TTL=${2:-2}; PORT=18092
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet --bin grantcheck
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$PORT --token-ttl "$TTL" >/dev/null &
PID=$!; trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
rss() { awk '/VmRSS/ { print $2 }' "/proc/$PID/status"; }
echo "token lifetime ${TTL}s, ${SECS}s of issuance"
echo "RSS before load: $(rss) KiB"
AUTH="Basic $(printf myClient:forgerock | base64 -w0)" BODY="grant_type=client_credentials" \
  taskset -c 1 wrk -t1 -c32 -d"${SECS}s" -s bench/post.lua "http://127.0.0.1:$PORT/oauth2/access_token" > /tmp/grantcheck-memory-wrk.txt &
WRK=$!
for t in $(seq 10 10 "$SECS"); do sleep 10; echo "RSS after ${t}s: $(rss) KiB"; done
wait $WRK
grep RESULT /tmp/grantcheck-memory-wrk.txt
sleep $((TTL + 2))
echo "RSS ${TTL}+2 s after load (all tokens expired and purged): $(rss) KiB"
