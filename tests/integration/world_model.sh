#!/usr/bin/env bash
# A model of the zoo serving the retail world: generate history, train on it, evaluate the model
# online with `world eval --model-file`, and refuse a model whose dataset is not the world's.
# usage: world_model.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
W=$SRC/docs/examples/world-small.json

"$AR" world generate --config "$W" --days 10 --out "$S/d" >/dev/null
"$AR" train "$S/d" --model mostpop --out "$S/m.model" >/dev/null
"$AR" world eval --config "$W" --model-file "$S/m.model" --dataset "$S/d" --visits 2000 \
  --threads 2 --json >"$S/a.json"
"$AR" world eval --config "$W" --model-file "$S/m.model" --dataset "$S/d" --visits 2000 \
  --threads 1 --json >"$S/b.json"
cmp -s "$S/a.json" "$S/b.json" || fail "model policy depends on the thread count"
python3 - "$S/a.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["policy"] == "mostpop", d
r = d["revenue_per_visit"]
assert r["ci_low"] <= r["mean"] <= r["ci_high"] and r["mean"] > 0, d
assert 0 < d["oracle_fraction"] < 1, d
PY

# With impressions in the log, a model learns from the clicks, carts and purchases only.
"$AR" world generate --config "$W" --days 10 --out "$S/di" >/dev/null
"$AR" train "$S/di" --model mostpop --events click=1,cart=2,purchase=4 --out "$S/mi.model" >/dev/null
"$AR" world eval --config "$W" --model-file "$S/mi.model" --dataset "$S/di" --visits 500 --json >/dev/null
"$AR" eval "$S/di" --model mostpop --events click,purchase=3 --k 10 --metrics hr --json >/dev/null \
  2>"$S/err" || grep -q "no user has an interaction" "$S/err" || fail "eval --events: $(cat "$S/err")"
set +e
"$AR" train "$S/di" --model mostpop --events clicks=1 --out "$S/x.model" 2>"$S/err"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "no event 'clicks'" "$S/err" || fail "unknown event accepted (exit $rc)"

# A model fitted on another dataset is refused with a one-line error.
"$AR" example --out "$S/other" --users 50 --items 40 >/dev/null
"$AR" train "$S/other" --model mostpop --out "$S/o.model" >/dev/null
set +e
"$AR" world eval --config "$W" --model-file "$S/o.model" --dataset "$S/d" --visits 100 2>"$S/err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "foreign model accepted (exit $rc)"
grep -q "other users or items" "$S/err" || fail "foreign model message: $(cat "$S/err")"
"$AR" world eval --config "$W" --model-file "$S/m.model" --visits 10 2>/dev/null && fail "--model-file without --dataset accepted"
echo "world_model.sh: all checks passed"
