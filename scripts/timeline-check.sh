#!/usr/bin/env bash
# Opens a demo's HTML trace timeline in headless Chromium (Debian's
# `chromium` package), checks through the DOM that every P's lane
# rendered its slices and that the markers are there, and takes the
# screenshot the README shows (docs/timeline.png).
#
#   bash scripts/timeline-check.sh [GORT_BINARY]
#
# Needs chromium; exits 1 with a message if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
gort=${1:-target/release/gort}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "timeline-check: chromium is not installed (apt-get install chromium)" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A demo with goroutines on both Ps, a collection, map growth and a race
# report (the race detector on).
"$gort" run gc_during_writes --seed 3 --procs 2 --race --trace "$dir/timeline.html" \
  >/dev/null 2>"$dir/run.err" || true
grep -q "trace written to" "$dir/run.err" || { cat "$dir/run.err" >&2; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000)
"$browser" "${flags[@]}" --dump-dom "file://$dir/timeline.html" 2>/dev/null >"$dir/dom.html"
rendered=$(grep -o 'data-rendered="[0-9]*"' "$dir/dom.html" | grep -o '[0-9]*' || echo 0)
marks=$(grep -o 'data-marks="[0-9]*"' "$dir/dom.html" | grep -o '[0-9]*' || echo 0)
drawms=$(grep -o 'data-drawms="[0-9.]*"' "$dir/dom.html" | grep -o '[0-9.]*' || echo '?')
lanes=$(grep -o 'class="lane" data-p="[0-9]*" data-slices="[0-9]*"' "$dir/dom.html" || true)
echo "timeline-check: lanes: $(echo "$lanes" | grep -c lane); slices drawn: $rendered; markers: $marks; first frame: $drawms ms"
echo "$lanes" | sed 's/^/  /'
[ "$(echo "$lanes" | grep -c lane)" -eq 2 ] || { echo "timeline-check: expected a lane per P (2)" >&2; exit 1; }
if echo "$lanes" | grep -q 'data-slices="0"'; then
  echo "timeline-check: a lane has no slices" >&2; exit 1
fi
[ "$rendered" -gt 0 ] || { echo "timeline-check: nothing drawn" >&2; exit 1; }
[ "$marks" -gt 0 ] || { echo "timeline-check: no markers (map growth, race report)" >&2; exit 1; }
"$browser" "${flags[@]}" --window-size=1400,420 --screenshot="$dir/shot.png" \
  "file://$dir/timeline.html" >/dev/null 2>&1
[ -s "$dir/shot.png" ] || { echo "timeline-check: no screenshot" >&2; exit 1; }
cp "$dir/shot.png" docs/timeline.png
echo "timeline-check: screenshot in docs/timeline.png"
