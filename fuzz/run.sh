#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) and prints how many inputs
# each executed. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain it
# runs without a sanitizer (-s none) and with RUSTC_BOOTSTRAP=1 for libFuzzer's flags.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
for target in form basic jwt toml_files template shard_report; do
  mkdir -p "fuzz/corpus/$target"
  out=$(cargo fuzz run -s none "$target" "fuzz/corpus/$target" -- -max_total_time="$SECS" -rss_limit_mb=2048 2>&1) || {
    echo "$out" | tail -30
    echo "FUZZ FAILURE in $target (the crashing input is under fuzz/artifacts/$target/)"
    exit 1
  }
  echo "$target: $(echo "$out" | grep -oE 'Done [0-9]+ runs in [0-9]+ second' | tail -1)"
done
