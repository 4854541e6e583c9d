#!/usr/bin/env bash
# Drives the real agentrec binary through the scriptable contract (agentrec help): help texts,
# exit codes, import -> info -> split -> eval on small generated files, ranked-list files, and
# bad input that must fail with a one-line error and leave no half-written output.
# usage: cli.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
json_get() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d$1)"; }
expect_rc() { # expect_rc CODE cmd... : runs cmd, checks the exit code, keeps stderr in $S/err
  local want=$1; shift
  set +e; "$@" >"$S/out" 2>"$S/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$S/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

# Help and usage errors.
expect_rc 0 "$AR" help
grep -q "agentrec eval DIR --model mostpop --k 20 --json" "$S/out" || fail "help lacks the contract"
for c in import info split eval demo example; do
  expect_rc 0 "$AR" "$c" --help
  grep -q "usage: agentrec $c" "$S/out" || fail "$c --help"
  expect_rc 0 "$AR" help "$c"
done
expect_rc 2 "$AR" nosuchcommand
expect_rc 2 "$AR" info
expect_rc 2 "$AR" eval "$S" --model mostpop --k abc
expect_rc 2 "$AR" import --format nosuch --train x --out "$S/x"
[ "$(wc -l <"$S/err")" -eq 1 ] || fail "usage error is not one line"

# The built-in example.
expect_rc 0 "$AR" example --out "$S/demo"
grep -q "recall@20" "$S/out" || fail "demo output"
expect_rc 0 "$AR" info "$S/demo" --json
[ "$(json_get "['users']" <"$S/out")" = 2000 ] || fail "demo users"

# A LightGCN-style split: 3 users, items 0..5.
printf '0 0 1 2\n1 1 2 3\n2 2 4\n' >"$S/train.txt"
printf '0 3\n1 0 5\n2 1\n' >"$S/test.txt"
expect_rc 0 "$AR" import --format lightgcn --train "$S/train.txt" --test "$S/test.txt" --out "$S/lg"
expect_rc 0 "$AR" info "$S/lg" --json
for kv in users=3 items=6 interactions=12 train=8 test=4; do
  k=${kv%=*} v=${kv#*=}
  [ "$(json_get "['$k']" <"$S/out")" = "$v" ] || fail "info $k != $v"
done
# MostPop: popularity 2:3 users, 1:2, 0/3/4:1 (ties by lower index).
# user 0 (train 0 1 2): list 3 4 5.. -> test {3} at rank 1; user 1 (train 1 2 3): 0 4 5 -> test
# {0,5} at ranks 1 and 3; user 2 (train 2 4): 1 0 3 -> test {1} at rank 1.
expect_rc 0 "$AR" eval "$S/lg" --model mostpop --k 1,3 --json
python3 - "$S/out" <<'PY'
import json, math, sys
d = json.loads(open(sys.argv[1]).read())
assert d["users"] == 3, d
r1 = (1 + 0.5 + 1) / 3
assert abs(d["recall@1"] - r1) < 1e-9, d
n3_u1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
assert abs(d["ndcg@3"] - (1 + n3_u1 + 1) / 3) < 1e-9, d
assert abs(d["recall@3"] - 1.0) < 1e-9, d
PY
expect_rc 0 "$AR" eval "$S/lg" --model mostpop --k 3 --metrics recall,ndcg --json
python3 -c "import json,sys; d=json.load(open('$S/out')); assert set(d) >= {'recall@3','ndcg@3','users'} and 'hr@3' not in d, d"

# A ranked-list file scored by the same evaluator: perfect lists give recall 1.
printf '0\t3\n1\t0 5\n2\t1\n' >"$S/ranked.tsv"
expect_rc 0 "$AR" eval "$S/lg" --ranked "$S/ranked.tsv" --k 2 --json
[ "$(json_get "['recall@2']" <"$S/out")" = 1.0 ] || fail "ranked recall"
printf '0\t3\n7\t1\n' >"$S/bad_ranked.tsv"
expect_rc 1 "$AR" eval "$S/lg" --ranked "$S/bad_ranked.tsv" --k 2
grep -q "bad_ranked.tsv:2" "$S/err" || fail "ranked error does not name the line"

# Sampled protocol with given negatives.
printf '0 4 5\n1 4 1\n2 5 3\n' >"$S/neg.txt"
expect_rc 0 "$AR" eval "$S/lg" --model mostpop --protocol sampled --negatives-file "$S/neg.txt" --k 1 --json
[ "$(json_get "['users']" <"$S/out")" = 3 ] || fail "sampled users"

# Splits rewrite the labels atomically; --out leaves the source alone.
expect_rc 0 "$AR" split "$S/lg" --method loo --out "$S/lg-loo" --json
[ "$(json_get "['test']" <"$S/out")" = 3 ] || fail "loo test count"
expect_rc 0 "$AR" info "$S/lg" --json
[ "$(json_get "['test']" <"$S/out")" = 4 ] || fail "split --out modified the source"
expect_rc 0 "$AR" split "$S/lg-loo" --method random --test-ratio 0.5 --seed 3 --json
a=$(cat "$S/out")
expect_rc 0 "$AR" split "$S/lg-loo" --method random --test-ratio 0.5 --seed 3 --threads 1 --json
[ "$a" = "$(cat "$S/out")" ] || fail "split depends on the thread count"
expect_rc 2 "$AR" split "$S/lg" --method random --test-ratio 2

# Bad input: one-line error naming file and line, non-zero exit, and an existing dataset in the
# output directory stays intact.
printf '0 1 2\n1 x 3\n' >"$S/bad.txt"
expect_rc 1 "$AR" import --format lightgcn --train "$S/bad.txt" --out "$S/lg"
grep -q "bad.txt:2" "$S/err" || fail "error does not name file:line"
[ "$(wc -l <"$S/err")" -eq 1 ] || fail "error is not one line"
expect_rc 0 "$AR" info "$S/lg" --json
[ "$(json_get "['interactions']" <"$S/out")" = 12 ] || fail "failed import damaged the dataset"
ls "$S/lg" | grep -q tmp && fail "temporary file left behind"
printf '0 1 2147483648\n' >"$S/big.txt"
expect_rc 1 "$AR" import --format lightgcn --train "$S/big.txt" --out "$S/big"
grep -q "big.txt:1" "$S/err" || fail "id past 2^31 not reported"
[ -e "$S/big/dataset.ards" ] && fail "dataset written despite the error"
: >"$S/empty.txt"
expect_rc 1 "$AR" import --format lightgcn --train "$S/empty.txt" --out "$S/empty"
expect_rc 1 "$AR" info "$S/nonexistent"
printf 'garbage' >"$S/lg-loo/dataset.ards"
expect_rc 1 "$AR" info "$S/lg-loo"
grep -q "dataset.ards" "$S/err" || fail "corrupt dataset not named"

# CSV with a header and a column mapping.
printf 'who,what,when,stars\nalice,x1,100,4\nbob,"x,2",200,5\nalice,"x,2",300,3\n' >"$S/log.csv"
expect_rc 0 "$AR" import --format csv --file "$S/log.csv" --user-col who --item-col what \
  --time-col when --value-col stars --out "$S/csv" --json
[ "$(json_get "['items']" <"$S/out")" = 2 ] || fail "csv items (quoted comma)"
expect_rc 1 "$AR" import --format csv --file "$S/log.csv" --user-col nobody --item-col what --out "$S/csv2"
grep -q "nobody" "$S/err" || fail "missing csv column not named"
echo "cli.sh: all checks passed"
