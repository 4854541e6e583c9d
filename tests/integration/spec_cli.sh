#!/usr/bin/env bash
# Model specs through the CLI: spec validate/canonical/hash/info/schema (the schema in docs/ is
# what the binary prints), train --spec -> model file -> recommend and eval of the file equal to
# eval of a fresh fit, eval --learn-weights, the trial worker with a spec, and error paths that
# name the JSON path.
# usage: spec_cli.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$AR" spec schema >"$S/schema.json"
python3 -c "import json,sys; d=json.load(open('$S/schema.json')); assert d['\$ref'] == '#/\$defs/spec'"
cmp -s "$S/schema.json" "$SRC/docs/spec.schema.json" ||
  fail "docs/spec.schema.json differs from 'agentrec spec schema' (regenerate it)"

cat >"$S/blend.json" <<'JSON'
{"blend": [{"weight": 1, "spec": {"model": "rp3beta", "params": {"k": 50},
                                  "transforms": [{"pop_damp": {"beta": 0.2}}]}},
           {"weight": 0.5, "spec": {"model": "ials", "params": {"factors": 8, "epochs": 4}}}],
 "normalize": "max"}
JSON
"$AR" spec validate "$S/blend.json" | grep -qx valid || fail "validate"
c1=$("$AR" spec canonical "$S/blend.json")
c2=$("$AR" spec canonical "$c1")
[ "$c1" = "$c2" ] || fail "canonical form is not stable"
[ "$("$AR" spec hash "$S/blend.json")" = "$("$AR" spec hash "$c1")" ] || fail "hash"
"$AR" spec info "$S/blend.json" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['leaves'] == 2 and d['depth'] == 2, d"

# Invalid specs: exit 1, the message names the path.
set +e
out=$("$AR" spec validate '{"blend": [{"weight": 1, "spec": {"model": "ials", "params": {"factors": 0}}}]}' 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || fail "invalid spec exit status $rc"
echo "$out" | grep -q 'spec.blend\[0\].spec.params.factors: expected an int in \[1, 1024\], got 0' ||
  fail "error does not name the path: $out"
out=$("$AR" spec validate --json '{"model": "nope"}' || true)
echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert not d['valid'] and 'spec.model' in d['error']" ||
  fail "validate --json"

"$AR" example --out "$S/d" --users 300 --items 120 >/dev/null
"$AR" split "$S/d" --within train --method random --test-ratio 0 --valid-ratio 0.1 --out "$S/dv" >/dev/null

# train --spec -> file -> recommend / eval equal to a fresh fit
"$AR" train "$S/d" --spec "$S/blend.json" --threads 2 --out "$S/blend.model" --json >"$S/train.json"
python3 -c "import json; d=json.load(open('$S/train.json')); assert d['model'] == 'spec' and d['spec']['normalize'] == 'max', d"
"$AR" recommend "$S/d" --model-file "$S/blend.model" --user 7 -n 5 --explain --json |
  python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d['items']) == 5, d"
"$AR" eval "$S/d" --model-file "$S/blend.model" --k 10 --metrics recall,ndcg --json >"$S/a.json"
"$AR" eval "$S/d" --spec "$S/blend.json" --threads 1 --k 10 --metrics recall,ndcg --json >"$S/b.json"
python3 - "$S/a.json" "$S/b.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("recall@10", "ndcg@10", "users"):
    assert a[k] == b[k], (k, a[k], b[k])
PY

# Learned weights: never below the best member on the validation users they were learned on.
"$AR" eval "$S/dv" --spec "$S/blend.json" --target valid --k 20 --learn-weights \
  --spec-out "$S/learned.json" --json >"$S/learn.json"
python3 - "$S/learn.json" "$S/learned.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
l = d["learned"]
assert l["final_ndcg@20"] >= l["best_single_ndcg@20"] - 1e-12, l
assert [m["weight"] for m in s["blend"]] == l["weights"], (s, l)
assert abs(d["ndcg@20"] - l["final_ndcg@20"]) < 1e-9, (d["ndcg@20"], l)
PY

# A stack learns its meta-model with train --learn-weights; the spec it writes rebuilds the
# model (eval of a refit from that spec equals eval of the saved file).
cat >"$S/stack.json" <<'JSON'
{"stack": {"features": ["bias", "log_history_length", "history_popularity"]},
 "members": [{"model": "mostpop"}, {"model": "rp3beta", "params": {"k": 50}}]}
JSON
"$AR" spec validate "$S/stack.json" | grep -qx valid || fail "validate stack"
c1=$("$AR" spec canonical "$S/stack.json")
[ "$c1" = "$("$AR" spec canonical "$c1")" ] || fail "stack canonical form is not stable"
"$AR" train "$S/dv" --spec "$S/stack.json" --learn-weights --threads 2 --spec-out "$S/stack_learned.json" \
  --out "$S/stack.model" --json >"$S/stack_train.json"
python3 - "$S/stack_train.json" "$S/stack_learned.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
l = d["learned"]
assert l["features"] == ["bias", "log_history_length", "history_popularity"], l
assert l["final_ndcg@20"] >= max(l["start_ndcg@20"], l["best_single_ndcg@20"]) - 1e-12, l
assert len(s["weights"]) == 2 and all(len(r) == 3 for r in s["weights"]), s
assert all(abs(a - b) <= 1e-9 * (1 + abs(a)) for ra, rb in zip(s["weights"], l["weights"])
           for a, b in zip(ra, rb)), (s, l)
assert d["spec"] == s, (d["spec"], s)
PY
"$AR" eval "$S/dv" --model-file "$S/stack.model" --k 10 --metrics recall,ndcg --json >"$S/sa.json"
"$AR" eval "$S/dv" --spec "$S/stack_learned.json" --threads 1 --k 10 --metrics recall,ndcg --json >"$S/sb.json"
python3 - "$S/sa.json" "$S/sb.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("recall@10", "ndcg@10", "users"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
set +e
out=$("$AR" spec validate '{"stack": {}, "members": [{"model": "mostpop"}], "weights": [[1, 0, 0]]}' 2>&1)
set -e
echo "$out" | grep -q 'spec.weights\[0\]: expected an array of 2 weights (bias, log_history_length)' ||
  fail "stack weights error: $out"

# The trial worker takes a spec instead of model + params.
echo "{\"dataset\": \"$S/dv\", \"spec\": $(cat "$S/blend.json"), \"k\": [10], \"threads\": 1}" |
  "$AR" trial >"$S/trial.json"
python3 -c "import json; d=json.load(open('$S/trial.json')); assert d['model'] == 'spec' and d['metrics']['ndcg@10'] > 0, d"
set +e
echo "{\"dataset\": \"$S/dv\", \"spec\": {\"fuse\": \"rrf\", \"members\": []}}" | "$AR" trial 2>"$S/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] || fail "trial with an invalid spec: exit $rc"
grep -q 'request.spec.members: expected an array of 1 to 8 members' "$S/err.txt" || fail "trial error: $(cat "$S/err.txt")"

# A corrupt composite file is refused, naming the file.
python3 - "$S/blend.model" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x40; open(p, "wb").write(b)
PY
set +e
"$AR" eval "$S/d" --model-file "$S/blend.model" --k 10 2>"$S/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "blend.model: corrupt file" "$S/err.txt" || fail "corrupt model: $rc $(cat "$S/err.txt")"
# A composite serves the retail world unchanged, learning from clicks, carts and purchases.
W=$SRC/docs/examples/world-small.json
"$AR" world generate --config "$W" --days 10 --out "$S/w" >/dev/null
cat >"$S/world_spec.json" <<'JSON'
{"fuse": "rrf", "members": [
  {"model": "itemknn", "transforms": [{"events": {"click": 1, "cart": 2, "purchase": 4}}]},
  {"model": "mostpop", "transforms": [{"events": {"purchase": 1}}]}]}
JSON
"$AR" train "$S/w" --spec "$S/world_spec.json" --out "$S/w.model" >/dev/null
for t in 1 2; do
  "$AR" world eval --config "$W" --model-file "$S/w.model" --dataset "$S/w" --visits 1000 \
    --threads $t --json >"$S/w$t.json"
done
cmp -s "$S/w1.json" "$S/w2.json" || fail "the composite's world policy depends on the thread count"
python3 -c "import json; d=json.load(open('$S/w1.json')); assert d['policy'] == 'spec' and d['revenue_per_visit']['mean'] > 0, d"
echo "spec CLI ok"
