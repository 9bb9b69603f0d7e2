#!/usr/bin/env bash
# Re-makes the screenshots in docs/screenshots/ from real runs: the terminal of a passing, a
# failing and a no-verdict `conform` run (run in tmux, captured with its colours by
# `tmux capture-pane -e`, turned into HTML by ansi2html.py, shot in headless Chromium), and
# report.html and the load report at a phone's (390 px) and a desktop's (1280 px) width.
# Needs tmux, chromium, python3. Usage: docs/screenshots/make.sh [GRANTCHECK_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-$here/../../target/release/grantcheck}")
work=$(mktemp -d)
sock="shots-$$"
static_pid=
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  [ -n "$static_pid" ] && kill "$static_pid" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

shoot() { # URL OUT WIDTH HEIGHT
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size="$3,$4" \
    --screenshot="$2" "$1" >/dev/null 2>&1
  echo "wrote $2"
}

# A terminal 120 columns wide with a bare prompt; each run starts on a clear screen.
tmux -L "$sock" new-session -d -s t -x 120 -y 200 -c "$work" \
  "env -i PATH=$PATH HOME=$work TERM=xterm-256color PS1='$ ' bash --norc --noprofile"
terminal() { # NAME TITLE COMMAND
  tmux -L "$sock" send-keys -t t "clear" Enter
  sleep 0.3
  tmux -L "$sock" clear-history -t t
  tmux -L "$sock" send-keys -t t "$3" Enter
  sleep 1
  while [ "$(tmux -L "$sock" display -p -t t '#{pane_current_command}')" != bash ]; do sleep 0.5; done
  tmux -L "$sock" capture-pane -t t -e -J -p -S - | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' \
    | sed '$d' >"$work/$1.ansi" # the last line is the next prompt
  python3 "$here/ansi2html.py" "$2" <"$work/$1.ansi" >"$work/$1.html"
  local lines # as the terminal showed them: a line longer than 120 columns wraps
  lines=$(python3 -c 'import re,sys; print(sum(max(1,-(-len(re.sub(r"\x1b\[[0-9;]*m","",l.rstrip("\n")))//120)) for l in sys.stdin))' <"$work/$1.ansi")
  shoot "file://$work/$1.html" "$here/$1.png" 1060 $((lines * 19 + 64))
}

tmux -L "$sock" send-keys -t t "export PATH=$(dirname "$bin"):\$PATH" Enter
terminal terminal-pass "grantcheck conform: a passing run (the embedded reference server)" \
  "grantcheck conform --snapshots off"
terminal terminal-fail "grantcheck conform: a failing run (a fault mode breaks RFC 6749 §5.1)" \
  "grantcheck conform --snapshots off --embedded-fault omit-cache-control"
# A static file server is no token endpoint: it answers a POST with 501.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
static_pid=$!
sleep 1
terminal terminal-no-verdict "grantcheck conform: no verdict (the token URL is a static file server)" \
  "GRANTCHECK_CLIENT_SECRET=forgerock grantcheck conform --token-url http://127.0.0.1:$port/oauth2/access_token --client-id myClient"

# report.html of the failing run, and a load report.
"$bin" conform --color never --snapshots off --embedded-fault omit-cache-control \
  --embedded-fault issue-refresh-token --report-dir "$work/fail" >/dev/null 2>&1 || true
shoot "file://$work/fail/report.html" "$here/report-failing-390.png" 390 1500
shoot "file://$work/fail/report.html" "$here/report-failing-1280.png" 1280 900
"$bin" load --profile flow -u 4 -r 4 -t 8s --report-dir "$work/load" >/dev/null 2>&1
shoot "file://$work/load/load-flow.html" "$here/load-report-390.png" 390 1500
shoot "file://$work/load/load-flow.html" "$here/load-report-1280.png" 1280 1100
