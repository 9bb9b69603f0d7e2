#!/usr/bin/env bash
# Two builds of `grantcheck serve` in one run, alternating, so a change's cost shows apart
# from the machine's noise: Basic issuance, client_secret_post issuance and introspection,
# each driven by wrk (bench/post.lua) as bench/run.sh does (server on core 0 with one tokio
# worker, wrk on core 1, 32 connections), ROUNDS times per build.
#
#   bench/versions.sh OLD_BINARY NEW_BINARY [SECONDS] [ROUNDS]
#
# Build the old one from a worktree, e.g.
#   git worktree add /tmp/old REV && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin grantcheck)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1; NEW=$2; SECS=${3:-5}; ROUNDS=${4:-3}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
PORT=18096
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT
MY="Basic $(printf 'myClient:forgerock' | base64 -w0)"; RS="Basic $(printf 'rs-client:rs-secret' | base64 -w0)"
URL="http://127.0.0.1:$PORT/oauth2"
measure() { # label url auth body
  AUTH="$3" BODY="$4" taskset -c 1 wrk -t1 -c32 -d1s -s bench/post.lua "$2" >/dev/null
  AUTH="$3" BODY="$4" taskset -c 1 wrk -t1 -c32 -d"${SECS}s" -s bench/post.lua "$2" | sed -n 's/^RESULT rps=\([0-9]*\).*/\1/p'
}
one() { # label binary
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$2" serve --addr 127.0.0.1:$PORT --token-ttl 10 >/dev/null 2>&1 & pid=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
  local token
  token=$(curl -s -u myClient:forgerock -d grant_type=client_credentials "$URL/access_token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  echo "$1 issuance $(measure "$1" "$URL/access_token" "$MY" grant_type=client_credentials)"
  echo "$1 issuance-post $(measure "$1" "$URL/access_token" "" "grant_type=client_credentials&client_id=myClient&client_secret=forgerock")"
  echo "$1 introspection $(measure "$1" "$URL/introspect" "$RS" "token=$token")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per target, $ROUNDS rounds"
results=$(for _ in $(seq 1 "$ROUNDS"); do one old "$OLD"; one new "$NEW"; done)
echo "$results" | awk '{ rows[$1 " " $2] = rows[$1 " " $2] " " $3 } END { for (k in rows) printf "  %-20s%s\n", k, rows[k] }' | sort
echo "$results" | awk '
  { sum[$1 " " $2] += $3; n[$1 " " $2]++ }
  END {
    split("issuance issuance-post introspection", kinds, " ")
    for (i = 1; i <= 3; i++) {
      k = kinds[i]; o = sum["old " k] / n["old " k]; w = sum["new " k] / n["new " k]
      printf "%-14s old %8.0f req/s  new %8.0f req/s  new/old %.2f\n", k, o, w, w / o
    }
  }'
