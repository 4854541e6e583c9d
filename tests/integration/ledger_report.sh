#!/usr/bin/env bash
# Renders the HTML report of an example ledger in headless Chromium and checks that every chart
# (metrics, lineage, decisions, registry) is there with non-empty SVG paths, and that the page
# logs nothing to the console. Skips (77) when chromium is not installed.
# usage: ledger_report.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$CHROMIUM" ] || { echo "chromium not installed: skipping" >&2; exit 77; }

L="sqlite://$S/ledger.db"
"$AR" ledger example --ledger "$L" >/dev/null
"$AR" report --out "$S/report.html" --ledger "$L" --title "report <test> & co" >/dev/null

# --dump-dom prints the DOM after the page loaded; console messages go to stderr as CONSOLE.
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$S/profile" --enable-logging=stderr --v=0 \
  --dump-dom "file://$S/report.html" >"$S/dom.html" 2>"$S/chromium.log" \
  || { tail -20 "$S/chromium.log" >&2; fail "chromium failed"; }
if grep -q "CONSOLE" "$S/chromium.log"; then
  grep "CONSOLE" "$S/chromium.log" >&2
  fail "the report logged to the console"
fi
python3 - "$S/dom.html" <<'PY'
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts = {}   # data-chart -> number of non-empty paths
        self.stack = []
        self.title = ""
        self.in_title = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in (a.get("class") or ""):
            self.stack.append(a.get("data-chart"))
            self.charts[self.stack[-1]] = 0
        if tag == "path" and self.stack and len((a.get("d") or "").strip()) > 2:
            self.charts[self.stack[-1]] += 1
        if tag == "title" and not self.stack:
            self.in_title = True
    def handle_endtag(self, tag):
        if tag == "svg" and self.stack:
            self.stack.pop()
        if tag == "title":
            self.in_title = False
    def handle_data(self, d):
        if self.in_title:
            self.title += d

p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
need = ["metric-0", "metric-1", "metric-2", "metric-3", "lineage", "decisions", "registry"]
missing = [c for c in need if c not in p.charts]
empty = [c for c, n in p.charts.items() if n == 0]
assert not missing, f"charts missing from the rendered DOM: {missing} (have {sorted(p.charts)})"
assert not empty, f"charts without a non-empty path: {empty}"
assert p.title == "report <test> & co", f"title not escaped right: {p.title!r}"
print("charts:", ", ".join(f"{c}={n} paths" for c, n in sorted(p.charts.items())))
PY
echo "report renders in headless chromium"
