#!/usr/bin/env bash
# Drives ItemKNN and RP3beta through the real CLI on the built-in example dataset: train, save,
# recommend with explanations from the model file, eval with 1 and 2 threads (identical
# metrics), and a truncated model file refused with a one-line error.
# usage: knn.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd... : runs cmd, checks the exit code, keeps stderr in $S/err
  local want=$1; shift
  set +e; "$@" >"$S/out" 2>"$S/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$S/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

expect_rc 0 "$AR" example --out "$S/demo" --users 300 --items 200
expect_rc 0 "$AR" train --space itemknn
grep -q '"asymmetric"' "$S/out" || fail "itemknn decision space"

for spec in "itemknn --param similarity=asymmetric --param alpha=0.2 --param weighting=bm25" \
            "rp3beta --param alpha=0.8 --param beta=0.3"; do
  set -- $spec
  model=$1; shift
  expect_rc 0 "$AR" train "$S/demo" --model "$model" "$@" --out "$S/$model.armd" --json
  expect_rc 0 "$AR" recommend "$S/demo" --model-file "$S/$model.armd" --history 1,2,3 -n 5 \
    --explain --json
  python3 - "$S/out" <<'PY' || fail "$model recommend output"
import json, sys
d = json.loads(open(sys.argv[1]).read())
items = d["items"]
assert 0 < len(items) <= 5, d
for it in items:
    assert it["item"] not in ("1", "2", "3"), d
assert any(it.get("because") for it in items), d
PY
  expect_rc 0 "$AR" eval "$S/demo" --model "$model" "$@" --threads 1 --k 10 --json
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k) for k in ('fit_seconds','peak_rss_mb')]; print(json.dumps(d, sort_keys=True))" "$S/out" >"$S/t1"
  expect_rc 0 "$AR" eval "$S/demo" --model "$model" "$@" --threads 2 --k 10 --json
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k) for k in ('fit_seconds','peak_rss_mb')]; print(json.dumps(d, sort_keys=True))" "$S/out" >"$S/t2"
  cmp -s "$S/t1" "$S/t2" || fail "$model: 1 and 2 threads differ: $(cat "$S/t1") vs $(cat "$S/t2")"

  # A truncated model file is refused with one line naming the file.
  head -c 1000 "$S/$model.armd" >"$S/bad.armd"
  expect_rc 1 "$AR" recommend "$S/demo" --model-file "$S/bad.armd" --history 1 -n 3
  [ "$(wc -l <"$S/err")" -eq 1 ] || fail "$model: truncated file error is not one line"
  grep -q "bad.armd" "$S/err" || fail "$model: error does not name the file"
done
echo "knn.sh: ok"
