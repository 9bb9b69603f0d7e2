#!/usr/bin/env bash
# report.html as a user sees it, in headless Chromium at a phone's and a desktop's width:
# the page of a failing run must need no network (no external reference, and it renders with
# every connection refused) and must show its first failure within the first screen.
# The load report likewise, with its charts.
# Usage: tests/browser/check-report.sh [GRANTCHECK_BINARY]   (exit 0: good; 1: a check failed)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-${CARGO_TARGET_DIR:-target}/debug/grantcheck}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is required (apt-get install chromium)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A failing run: one MUST broken (and a SHOULD).
set +e
"$bin" conform --color never --snapshots off --embedded-fault omit-cache-control \
  --embedded-fault issue-refresh-token --report-dir "$work/reports" >/dev/null 2>&1
code=$?
set -e
[ "$code" = 4 ] || { echo "expected the faulty run to exit 4, got $code"; exit 1; }
page="$work/reports/report.html"

fail=0
# No external asset: no src/href to another origin, no CSS import or url().
if grep -Eqi '(src|href)="(https?:)?//|@import|url\(' "$page"; then
  echo "FAIL: report.html references an external resource"; fail=1
fi

for size in 390,844 1280,900; do
  width=${size%,*} height=${size#*,}
  # Headless Chromium's window is never narrower than 500 px: the page is laid out in a frame
  # of exactly this size (its own viewport), and reports where its first failure is.
  frame="$work/frame-$width.html"
  cat >"$frame" <<HTML
<!doctype html><html><body style="margin:0"><iframe src="file://$page#layout-check" style="width:${width}px;height:${height}px;border:0"></iframe>
<script>addEventListener('message',function(e){var p=document.createElement('pre');p.id='layout';p.textContent=e.data;document.body.appendChild(p);});</script></body></html>
HTML
  # Every connection refused: only a self-contained page still renders its findings.
  dom=$("$browser" --headless --no-sandbox --disable-gpu --window-size=1400,1000 \
    --proxy-server=http://127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --virtual-time-budget=3000 --dump-dom "file://$frame" 2>/dev/null)
  top=$(printf '%s' "$dom" | sed -n 's/.*first-finding-top=\([0-9-]*\) width=\([0-9]*\).*/\1/p' | head -1)
  laid=$(printf '%s' "$dom" | sed -n 's/.*first-finding-top=[0-9-]* width=\([0-9]*\).*/\1/p' | head -1)
  top=${top:--1}
  if [ "${laid:-0}" != "$width" ]; then
    echo "FAIL at $size: the page was laid out ${laid:-at no} px wide"; fail=1
  elif [ "$top" -lt 0 ] || [ "$top" -ge "$height" ]; then
    echo "FAIL at $size: the first failure is at ${top}px, not within the first ${height}px"; fail=1
  else
    echo "ok at $size: first failure at ${top}px of ${height}px"
  fi
done
# The failure renders offline (the page itself, not framed, so its DOM is dumped).
dom=$("$browser" --headless --no-sandbox --disable-gpu --window-size=1280,900 \
  --proxy-server=http://127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
  --virtual-time-budget=3000 --dump-dom "file://$page" 2>/dev/null)
grep -q 'FAIL RESP-008' <<<"$dom" || { echo "FAIL: the failure did not render offline"; fail=1; }

# The load report: a 3 s run against the embedded server. It must need no network either
# (Goose's own HTML report loads its charts from a CDN and is blank offline).
"$bin" load --profile issuance -u 2 -r 2 -t 3s --report-dir "$work/load" >/dev/null 2>&1 \
  || { echo "FAIL: the load run failed"; fail=1; }
load_page="$work/load/load-issuance.html"
if grep -Eqi '<script|(src|href)="|@import|url\(' "$load_page"; then
  echo "FAIL: the load report references a script or an external resource"; fail=1
fi
# (At 500 px, headless Chromium's narrowest window: this page has no script to report from a
# frame; tests/integration/browser.rs and the screenshots cover 390 px.)
for size in 500,844 1280,900; do
  dom=$("$browser" --headless --no-sandbox --disable-gpu --window-size="$size" \
    --proxy-server=http://127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --virtual-time-budget=3000 --dump-dom "file://$load_page" 2>/dev/null)
  if grep -q 'responses passed their checks' <<<"$dom" && [ "$(grep -o '<polyline' <<<"$dom" | wc -l)" -ge 4 ]; then
    echo "ok at $size: the load report shows its verdict and its charts offline"
  else
    echo "FAIL at $size: the load report's verdict or charts did not render"; fail=1
  fi
done
exit $fail
