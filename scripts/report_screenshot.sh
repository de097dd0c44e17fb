#!/usr/bin/env bash
# Makes docs/tracking-report.png, the README's picture of the HTML memory report: builds the demo
# (tests/tracking/report_demo.cpp: a small server workload with stacks, temporaries, a growing and
# trimmed cache, a tracked pool and two leaks), writes its report and screenshots it with headless
# Chromium (Debian package chromium). Usage: scripts/report_screenshot.sh [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/tracking-report.png}"
command -v chromium >/dev/null || { echo "report_screenshot: chromium not installed (apt-get install chromium)" >&2; exit 1; }
[[ -d build/release ]] || cmake --preset release >/dev/null
cmake --build build/release --target tracking_report_demo -j2 >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
build/release/tests/tracking_report_demo "$work/report.html" 400000 900 16
# The page's first sections (summary, memory over time, flame graph, top sites, sizes) at 1200 px.
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
  --window-size=1200,1500 --screenshot="$work/shot.png" "file://$work/report.html" 2>/dev/null >/dev/null
mv "$work/shot.png" "$out"
size=$(stat -c %s "$out")
echo "report_screenshot: $out, $size bytes"
((size < 300 * 1024)) || { echo "report_screenshot: $out is over 300 KB" >&2; exit 1; }
