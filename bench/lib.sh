# Shared by bench/run.sh, bench/versions.sh and bench/arrival.sh (sourced, not run).
#
# The method: servers pinned to core 0 with one tokio worker, generators pinned to core 1;
# every figure is measured in ROUNDS alternating rounds, each round's figures are turned into
# ratios against the baseline measured in the same round, and the median of those per-round
# ratios is reported (one round's ratio moves with the machine's ±15% noise; the median of
# eight does not much). Beside throughput, the server's CPU time per request, from
# /proc/PID/task/*/schedstat (nanoseconds on CPU, all threads), which does not depend on how
# fast the generator drove it.

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "$1 is needed: $2" >&2; exit 2; }; }

wait_http() { # url
  for _ in $(seq 1 100); do curl -sk -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "nothing answered at $1" >&2; exit 2
}

# Nanoseconds the process has spent on a CPU, all its threads (%.0f: mawk's %d stops at 2^31).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

basic() { printf 'Basic %s' "$(printf '%s' "$1" | base64 -w0)"; }

# A live token from a reference server (introspection is measured with it, not with an
# expired one: the script's servers keep tokens 10 s, so fetch one right before measuring).
live_token() { # token_url
  curl -sk -u myClient:forgerock -d grant_type=client_credentials "$1" \
    | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}

# wrk for SECS seconds after a 1 s warm-up; prints "rps cpu_us_per_request bad" where bad
# counts non-200 answers (and bodies without $EXPECT), errors included.
wrk_measure() { # server_pid url auth body [expect]
  AUTH="$3" BODY="$4" EXPECT="${5:-}" taskset -c 1 wrk -t1 -c"$CONNS" -d1s -s bench/post.lua "$2" >/dev/null
  local before after line
  before=$(cpu_ns "$1")
  line=$(AUTH="$3" BODY="$4" EXPECT="${5:-}" taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" -s bench/post.lua "$2" | grep '^RESULT')
  after=$(cpu_ns "$1")
  echo "$line" | awk -v cpu=$((after - before)) '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    printf "%d %.2f %d\n", f["rps"], (f["requests"] > 0 ? cpu / f["requests"] / 1000 : 0), f["errors"] + f["non200"] }'
}

# Median of per-round figures. Input lines: "round name value"; prints "name median min max".
medians() {
  python3 -c '
import sys, statistics
rows = {}
order = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) != 3: continue
    _, name, value = parts
    if name not in rows: order.append(name); rows[name] = []
    rows[name].append(float(value))
for name in order:
    v = rows[name]
    print(f"{name} {statistics.median(v):.3f} {min(v):.3f} {max(v):.3f} {len(v)}")
'
}
