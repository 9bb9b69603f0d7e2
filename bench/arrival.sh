#!/usr/bin/env bash
# The load engine against wrk and oha in one run, closed loop and open model, as medians of
# per-round ratios to wrk's closed loop on the same server (method: bench/lib.sh):
#  - closed loop: requests/s of `grantcheck load` (32 users) and `oha -c 32`;
#  - the open model bounds grantcheck to 32 iterations in flight (INFLIGHT=N to change), as
#    oha's 32 connections bound it: the same concurrency for both;
#  - open model: the highest arrival rate each sustains, as a fraction of wrk's closed loop,
#    found per round by bisecting the fraction (STEPS tries from 0.6): for
#    `grantcheck load --rate`, < 1% of iterations late, < 1% errors and 99% of the planned
#    iterations started; for `oha -q --latency-correction`, the achieved rate within 1% of
#    the asked one with < 1% non-200 (oha reports no late starts, so it cannot be held to
#    the first bar); and grantcheck held to oha's bar too (achieved rate within 1% of the
#    asked one, < 1% errors), so the two generators are compared on the same criterion;
#  - the generator's own start lag (intended start to sent) at 5,000/s, p50 and p99, beside
#    the latency from the intended start.
# Against the fixed-body ceiling server and the reference server.
#
#   bench/arrival.sh [SECONDS] [ROUNDS] [STEPS]       (defaults 3, 8, 4)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}; ROUNDS=${2:-8}; STEPS=${3:-4}; CONNS=32
source bench/lib.sh
need wrk "apt-get install wrk"
need oha "cargo install oha"
need taskset "util-linux"
cargo build --release --quiet --bin grantcheck --example fixed_token_server

BASE_PORT=18093; REF_PORT=18094
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/examples/fixed_token_server 127.0.0.1:$BASE_PORT >/dev/null & pids+=($!)
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/grantcheck serve --addr 127.0.0.1:$REF_PORT --token-ttl 10 >/dev/null 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$BASE_PORT/"; wait_http "http://127.0.0.1:$REF_PORT/"
MY=$(basic myClient:forgerock)

wrk_rps() { # url
  AUTH="$MY" BODY="grant_type=client_credentials" taskset -c 1 wrk -t1 -c$CONNS -d1s -s bench/post.lua "$1" >/dev/null
  AUTH="$MY" BODY="grant_type=client_credentials" taskset -c 1 wrk -t1 -c$CONNS -d"${SECS}s" -s bench/post.lua "$1" \
    | sed -n 's/^RESULT rps=\([0-9.]*\).*/\1/p'
}

# One `grantcheck load` run; prints "rps late% error% started/planned lag_p50_us lag_p99_us
# latency_p99_us within/planned" (within: started before the plan's end, not in its grace).
grantcheck_run() { # url [rate]
  local dir; dir=$(mktemp -d)
  local how=(-u $CONNS -r $CONNS); [ -n "${2:-}" ] && how=(--rate "$2/s" --max-in-flight "${INFLIGHT:-$CONNS}")
  taskset -c 1 target/release/grantcheck load --profile bench/load-issuance.toml --token-url "$1" \
    --client-id myClient --client-secret forgerock "${how[@]}" -t "${SECS}s" \
    --no-print-metrics --report-dir "$dir" >"$dir/log" 2>&1 || true
  python3 - "$dir" <<'PY'
import json, sys, glob
files = [f for f in glob.glob(sys.argv[1] + "/load-*.json") if not f.endswith(".goose.json")]
if not files:
    print("0 100 100 0 0 0 0 0"); sys.exit()
d = json.load(open(files[0]))
reqs = sum(r["success"] + r["fail"] for r in d["requests"].values())
errs = sum(d.get("errors", {}).values())
def pct(buckets, q):
    total = sum(c for _, c in buckets)
    if not total: return 0
    seen = 0
    for floor, count in buckets:
        seen += count
        if seen >= q * total: return floor
    return buckets[-1][0]
a = d.get("arrival")
if a:
    late = 100 * a["late"] / max(a["started"], 1)
    started = a["started"] / max(a["planned"], 1)
    lag = a.get("generator_lag_us") or a["lag_us"]
    within = (a["started"] - a.get("started_after_plan", 0)) / max(a["planned"], 1)
    print(f'{d["rps"]:.0f} {late:.3f} {100 * errs / max(reqs, 1):.3f} {started:.4f} {pct(lag, .5)} {pct(lag, .99)} {pct(a["latency_us"], .99)} {within:.4f}')
else:
    print(f'{d["rps"]:.0f} 0 {100 * errs / max(reqs, 1):.3f} 1 0 0 0 1')
PY
  rm -rf "$dir"
}

grantcheck_holds() { # url rate
  local r; r=$(grantcheck_run "$1" "$2")
  echo "$r" | awk '{ exit !($2 < 1 && $3 < 1 && $4 >= 0.99) }'
}

# oha's bar: 99% of the planned iterations started within the plan's time (as oha's achieved
# rate within 1% of the asked one), < 1% errors; late starts not counted.
grantcheck_holds_rate() { # url rate
  local r; r=$(grantcheck_run "$1" "$2")
  echo "$r" | awk '{ exit !($8 >= 0.99 && $3 < 1) }'
}

oha_json() { # url [rate] -> oha's JSON report on stdout
  local rate=(); [ -n "${2:-}" ] && rate=(-q "$2" --latency-correction)
  taskset -c 1 oha --no-tui --output-format json -z "${SECS}s" "${rate[@]}" -c $CONNS \
    -m POST -H "Authorization: $MY" -H "Content-Type: application/x-www-form-urlencoded" \
    -d "grant_type=client_credentials" "$1" 2>/dev/null || true
}

oha_rps() { oha_json "$1" | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["summary"].get("requestsPerSec", 0)))' 2>/dev/null || echo 0; }

oha_holds() { # url rate
  oha_json "$1" "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin); rate = float(sys.argv[1])
codes = d.get("statusCodeDistribution", {}); total = sum(codes.values())
achieved = d["summary"].get("requestsPerSec", 0)
sys.exit(0 if total and achieved >= 0.99 * rate and codes.get("200", 0) / total >= 0.99 else 1)
' "$2" 2>/dev/null
}

# The highest fraction of wrk's rate a generator holds, bisected in STEPS tries.
sustained_fraction() { # holds_fn url wrk_rps
  local lo=0 hi=1.2 f=0.6 i
  for i in $(seq 1 "$STEPS"); do
    local rate; rate=$(awk -v f="$f" -v w="$3" 'BEGIN { printf "%d", f * w }')
    if "$1" "$2" "$rate"; then lo=$f; else hi=$f; fi
    f=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.4f", (a + b) / 2 }')
  done
  echo "$lo"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECS}s per measurement, $ROUNDS rounds, $STEPS bisection steps; oha $(oha --version | awk '{print $2}')"
rows=$(for round in $(seq 1 "$ROUNDS"); do
  for target in "fixed-body http://127.0.0.1:$BASE_PORT/oauth2/access_token" "reference http://127.0.0.1:$REF_PORT/oauth2/access_token"; do
    set -- $target
    w=$(wrk_rps "$2")
    g=$(grantcheck_run "$2" | awk '{ print $1 }')
    o=$(oha_rps "$2")
    gf=$(sustained_fraction grantcheck_holds "$2" "$w")
    gr=$(sustained_fraction grantcheck_holds_rate "$2" "$w")
    of=$(sustained_fraction oha_holds "$2" "$w")
    awk -v r="$round" -v n="$1" -v w="$w" -v g="$g" -v o="$o" -v gf="$gf" -v gr="$gr" -v of="$of" 'BEGIN {
      printf "%d %s_wrk_closed_rps %d\n", r, n, w
      printf "%d %s_grantcheck_closed/wrk %.4f\n", r, n, g / w
      printf "%d %s_oha_closed/wrk %.4f\n", r, n, o / w
      printf "%d %s_grantcheck_rate_sustained/wrk %.4f\n", r, n, gf
      printf "%d %s_grantcheck_rate_achieved_ohas_bar/wrk %.4f\n", r, n, gr
      printf "%d %s_oha_rate_sustained/wrk %.4f\n", r, n, of
    }'
  done
  read -r _ late _ _ lag50 lag99 lat99 _ < <(grantcheck_run "http://127.0.0.1:$BASE_PORT/oauth2/access_token" 5000)
  echo "$round lag_at_5000/s_p50_us $lag50"
  echo "$round lag_at_5000/s_p99_us $lag99"
  echo "$round latency_from_intended_start_at_5000/s_p99_us $lat99"
  echo "$round late_at_5000/s_percent $late"
  echo "round $round done" >&2
done)
echo "median over rounds (min, max):"
echo "$rows" | medians | awk '{ printf "  %-48s %10s   (%s, %s; %d rounds)\n", $1, $2, $3, $4, $5 }'
