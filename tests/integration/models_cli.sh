#!/usr/bin/env bash
# Every model of the zoo through the CLI on the built-in example: train -> model file ->
# recommend (with explanations, category filter, fold-in) -> eval of the file, which must equal
# eval of a fresh fit (deterministic fit, lossless model file); and the error paths.
# usage: models_cli.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$AR" example --out "$S/d" --users 300 --items 120 >/dev/null
"$AR" split "$S/d" --within train --method random --test-ratio 0 --valid-ratio 0.1 --out "$S/dv" >/dev/null
models=$("$AR" train --list | awk '{print $1}')
[ -n "$models" ] || fail "no models listed"
for m in $models; do
  "$AR" train --space "$m" | python3 -c "import json,sys; a=json.load(sys.stdin); assert isinstance(a, list)" \
    || fail "$m: decision space is not a JSON array"
  "$AR" train "$S/d" --model "$m" --threads 2 --out "$S/$m.model" --json >"$S/train.json"
  python3 -c "import json; d=json.load(open('$S/train.json')); assert d['fit_seconds'] >= 0 and d['model'] == '$m'"
  "$AR" recommend "$S/d" --model-file "$S/$m.model" --user 7 -n 5 --explain --json >"$S/rec.json"
  python3 - "$S/rec.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
items = d["items"]
assert len(items) == 5, d
assert all(items[i]["score"] >= items[i + 1]["score"] for i in range(4)), d
PY
  "$AR" recommend "$S/d" --model-file "$S/$m.model" --history 1,2,3 -n 3 --category category=c1 >/dev/null
  "$AR" eval "$S/d" --model-file "$S/$m.model" --k 10 --metrics recall,ndcg --json >"$S/a.json"
  "$AR" eval "$S/d" --model "$m" --threads 1 --k 10 --metrics recall,ndcg --json >"$S/b.json"
  python3 - "$S/a.json" "$S/b.json" "$m" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("recall@10", "ndcg@10", "users"):
    assert a[k] == b[k], (sys.argv[3], k, a[k], b[k])
print(sys.argv[3], "recall@10", a["recall@10"], "ndcg@10", a["ndcg@10"])
PY
  # The trial worker (what agents run in a child process) scores validation like eval does.
  echo "{\"dataset\": \"$S/dv\", \"model\": \"$m\", \"k\": [10], \"threads\": 1}" |
    "$AR" trial >"$S/trial.json"
  "$AR" eval "$S/dv" --model "$m" --target valid --threads 1 --k 10 --metrics recall --json >"$S/v.json"
  python3 -c "
import json
t, v = json.load(open('$S/trial.json')), json.load(open('$S/v.json'))
assert t['metrics']['recall@10'] == v['recall@10'] and t['users'] == v['users'], (t, v)"
done
echo '{"dataset": "'"$S"'/dv", "model": "mostpop", "params": {"nope": 1}}' | "$AR" trial 2>"$S/err" &&
  fail "trial accepted an unknown parameter"
grep -q "nope" "$S/err" || fail "trial error message"

# The trial's fit cache: the first trial saves the fit and says how long it took, the same
# trial again loads that file and names it (what AutoTrain's reserve for the final refit adds
# up).
for n in 1 2; do
  echo "{\"dataset\": \"$S/dv\", \"model\": \"ials\", \"threads\": 1,
         \"cache\": {\"dir\": \"$S/fc\", \"min_seconds\": 0}}" | "$AR" trial >"$S/c$n.json"
done
python3 - "$S/c1.json" "$S/c2.json" <<'PY' || fail "trial cache traffic"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["cache_hits"] == 0 and a["cache_loaded"] == [], a
(path, secs), = a["cache_stored"].items()
assert isinstance(secs, float) and 0 <= secs <= a["fit_seconds"], a
assert b["cache_hits"] == 1 and b["cache_loaded"] == [path] and b["cache_stored"] == {}, b
assert a["metrics"] == b["metrics"], (a, b)
PY

# Errors: unknown model, bad parameter, a model file used with another dataset, a corrupt file.
set +e
"$AR" eval "$S/d" --model nosuch --k 10 2>"$S/err"; [ $? -eq 1 ] || fail "unknown model accepted"
grep -q "available:" "$S/err" || fail "unknown model message"
"$AR" eval "$S/d" --model mostpop --param half_life_days=-3 2>"$S/err"; [ $? -eq 1 ] || fail "bad param accepted"
grep -q "half_life_days" "$S/err" || fail "bad param message"
"$AR" example --out "$S/other" --users 50 --items 40 >/dev/null
"$AR" recommend "$S/other" --model-file "$S/mostpop.model" --user 1 2>"$S/err"; [ $? -eq 1 ] || fail "foreign dataset accepted"
grep -q "other users or items" "$S/err" || fail "fingerprint message"
head -c 100 "$S/mostpop.model" >"$S/trunc.model"
"$AR" recommend "$S/d" --model-file "$S/trunc.model" --user 1 2>"$S/err"; [ $? -eq 1 ] || fail "truncated model accepted"
grep -q "trunc.model" "$S/err" || fail "truncated model message"
"$AR" recommend "$S/d" --model-file "$S/mostpop.model" --user nobody 2>"$S/err"; [ $? -eq 1 ] || fail "unknown user accepted"
set -e
echo "models_cli.sh: all checks passed"
