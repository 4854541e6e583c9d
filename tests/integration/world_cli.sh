#!/usr/bin/env bash
# Drives `agentrec world` through its scriptable contract: config, generate (byte-identical for
# the same seed with 1 and 2 threads, readable by info/split/eval), eval --json with intervals and
# oracle_fraction, stats --json, the documented example worlds, and bad configs rejected with
# the JSON path of the offending field.
# usage: world_cli.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
# Sanitizer builds: LLVM 14's LeakSanitizer tracer can crash at exit ("Tracer caught signal 11")
# in its __tls_get_addr interception when libomp threads exist -- an upstream bug
# (google/sanitizers#1267, fixed by https://reviews.llvm.org/D147459); this is its workaround.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$S/out" 2>"$S/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$S/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

expect_rc 0 "$AR" world --help
grep -q "usage: agentrec world" "$S/out" || fail "world --help"
expect_rc 2 "$AR" world
expect_rc 2 "$AR" world nosuch
expect_rc 2 "$AR" world generate --days 2
expect_rc 2 "$AR" world eval --policy nosuch --visits 10

# The default config round-trips: printed, then read back as a file.
expect_rc 0 "$AR" world config
cp "$S/out" "$S/default.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['customers']==10000" "$S/default.json"

# A small world derived from the example, so the test stays fast under sanitizers.
python3 - "$SRC/docs/examples/world-small.json" "$S/w.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["customers"] = 400; d["items"] = 150
json.dump(d, open(sys.argv[2], "w"))
PY
expect_rc 0 "$AR" world generate --config "$S/w.json" --seed 5 --days 8 --policy popular --out "$S/g1" --threads 1
expect_rc 0 "$AR" world generate --config "$S/w.json" --seed 5 --days 8 --policy popular --out "$S/g2" --threads 2
cmp "$S/g1/dataset.ards" "$S/g2/dataset.ards" || fail "generate differs between 1 and 2 threads"
expect_rc 0 "$AR" world generate --config "$S/w.json" --seed 6 --days 8 --policy popular --out "$S/g3"
cmp -s "$S/g1/dataset.ards" "$S/g3/dataset.ards" && fail "another seed gave the same bytes"
expect_rc 0 "$AR" info "$S/g1" --json
python3 - "$S/out" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["users"] == 400 and d["items"] == 150, d
assert {"impression", "click", "cart", "purchase"} <= set(d["events"]), d
names = {a["name"] for a in d["item_attributes"]}
assert {"brand", "tier", "category", "collection", "colour", "material", "line", "price", "margin", "stock"} <= names, names
assert {"segment", "region"} <= {a["name"] for a in d["user_attributes"]}
PY
expect_rc 0 "$AR" split "$S/g1" --method temporal --test-ratio 0.2
expect_rc 0 "$AR" eval "$S/g1" --model mostpop --k 10 --json

# eval --json: every metric with mean/ci_low/ci_high, and oracle_fraction.
expect_rc 0 "$AR" world eval --config "$S/w.json" --seed 5 --policy random --visits 1500 --json
python3 - "$S/out" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
for k in ["revenue_per_visit", "conversion", "ctr", "aov", "new_collection_share", "long_tail_share", "violations"]:
    m = d[k]
    assert m["ci_low"] <= m["mean"] <= m["ci_high"], (k, m)
assert 0 <= d["oracle_fraction"] < 1, d
assert d["visits"] == 1500 and d["violations"]["mean"] > 0, d
assert len(d["violations_per_rule"]) == 4
PY
expect_rc 0 "$AR" world eval --config "$S/w.json" --seed 5 --policy oracle --visits 800 --json
python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read()); assert d['oracle_fraction']==1 and d['violations']['mean']==0, d" "$S/out"
expect_rc 0 "$AR" world stats --config "$S/w.json" --seed 5 --json
python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read()); assert 0 < d['popularity_gini'] < 1 and 'price_by_tier' in d, d" "$S/out"

# The launch example parses and runs (shrunk the same way).
python3 - "$SRC/docs/examples/world-launch.json" "$S/l.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["customers"] = 400; d["items"] = 150
json.dump(d, open(sys.argv[2], "w"))
PY
expect_rc 0 "$AR" world eval --config "$S/l.json" --policy popular --visits 500 --json

# Bad configs: exit 1, one line naming the JSON path.
bad() { # bad PYTHON_EDIT EXPECTED_TEXT
  python3 - "$S/w.json" "$S/bad.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(d, open(sys.argv[2], "w"))
PY
  expect_rc 1 "$AR" world eval --config "$S/bad.json" --visits 10
  grep -qF "$2" "$S/err" || { cat "$S/err" >&2; fail "expected '$2'"; }
  [ "$(wc -l <"$S/err")" -eq 1 ] || fail "error is not one line"
}
bad 'd["catalog"]["brands"][2]["tier"] = "cheap"' "catalog.brands[2].tier: expected one of luxury, premium, contemporary"
bad 'd["catalog"]["colour"] = 3' "catalog.colour: unknown key"
bad 'd["customers"] = "many"' "customers: expected an integer"
bad 'd["catalog"]["tiers"] = {"luxury": {"price_median": -10}}' "catalog.tiers.luxury.price_median: must be > 0"
bad 'd["behaviour"] = {"purchase_given_cart": 2}' "behaviour.purchase_given_cart: a probability must be in [0, 1]"
bad 'd["guardrails"][1]["brands"] = ["Kite", "Nobody"]' "guardrails[1].brands[1]: unknown brand 'Nobody'"
bad 'd["items"] = 10**9' "items: must be in [1, 2000000]"
printf '{"items": ' >"$S/bad.json"
expect_rc 1 "$AR" world eval --config "$S/bad.json"
grep -q "line 1" "$S/err" || fail "malformed JSON position"
echo "world_cli: ok"
