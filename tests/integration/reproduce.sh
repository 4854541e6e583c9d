#!/usr/bin/env bash
# Method cards: `agentrec reproduce` on a generated dataset -- the verdict both ways with its gap,
# the ledger record, and clear errors for bad cards.
# usage: reproduce.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S/data/toy"
fail() { echo "FAIL: $*" >&2; exit 1; }
L="sqlite://$S/ledger.db"

# MovieLens-format ratings: users in taste clusters.
python3 - "$S/data/toy/u.data" <<'PY'
import random, sys
rng = random.Random(5)
with open(sys.argv[1], "w") as f:
    for u in range(1, 301):
        c = u % 5
        for i in rng.sample([i for i in range(1, 201) if i % 5 == c], 20) + rng.sample(range(1, 201), 5):
            f.write(f"{u}\t{i}\t4\t{880000000 + rng.randint(0, 10**6)}\n")
PY
card() { # card FILE RECALL NDCG
  cat >"$1" <<EOC
# A toy card

Prose is for people; only the json block below is read.

\`\`\`json
{"method": "ItemKNN toy", "source": "this test",
 "spec": {"model": "itemknn", "params": {"k": 50}},
 "dataset": {"name": "toy", "format": "movielens", "train": "u.data"},
 "protocol": {"split": "random", "test_ratio": 0.2, "seed": 3, "k": 20},
 "reported": {"recall@20": $2, "ndcg@20": $3}, "tolerance": 0.05}
\`\`\`
EOC
}
card "$S/low.md" 0.01 0.01
card "$S/high.md" 0.99 0.99
"$AR" reproduce "$S/low.md" --data-root "$S/data" --cache "$S/cache" --ledger "$L" --json \
  >"$S/low.json" 2>"$S/low.log" || { cat "$S/low.log"; fail "reproduce failed"; }
[ -f "$S/cache/toy/dataset.ards" ] || fail "the card's dataset was not imported into the cache"
"$AR" reproduce "$S/high.md" --data-root "$S/data" --cache "$S/cache" --ledger "$L" --json \
  >"$S/high.json" 2>/dev/null || fail "reproduce (not reproduced) must still exit 0"
"$AR" decisions --ledger "$L" --json >"$S/dec.json"
python3 - "$S" <<'PY'
import json, sys
S = sys.argv[1]
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
lo, hi = last(f"{S}/low.json"), last(f"{S}/high.json")
assert lo["reproduced"] is True and hi["reproduced"] is False, (lo, hi)
# Same data, same spec, same seed: the same measurement.
assert lo["measured"] == hi["measured"], (lo["measured"], hi["measured"])
m = lo["measured"]["ndcg@20"]
assert 0 < m < 0.99 and abs(hi["gap"]["ndcg@20"] - (m - 0.99)) < 1e-9, hi
assert hi["champion"]["run"] == lo["run"], hi  # the earlier run on the same dataset
dec = last(f"{S}/dec.json")
acts = sorted((d["run"], d["action"]) for d in dec)
assert acts == [(lo["run"], "adopt"), (hi["run"], "reject")], acts
assert all("reported" in d["rationale"] and "source: this test" in d["rationale"] for d in dec)
PY

# Bad cards: a clear error naming the card and the field, exit 1.
printf '# no json here\n' >"$S/none.md"
sed 's/"format": "movielens"/"format": "parquet"/' "$S/low.md" >"$S/fmt.md"
sed 's/"k": 50/"k": 0/' "$S/low.md" >"$S/spec.md"
sed 's/"recall@20": 0.01, "ndcg@20": 0.01/"recall@20": 2/' "$S/low.md" >"$S/rep.md"
for c in none:"no \`\`\`json block" fmt:'dataset.format: "parquet"' spec:"params.k" rep:"reported.recall@20"; do
  f=${c%%:*} want=${c#*:}
  rc=0; "$AR" reproduce "$S/$f.md" --data-root "$S/data" --cache "$S/cache2" --ledger "$L" \
    2>"$S/err.txt" >/dev/null || rc=$?
  [ "$rc" = 1 ] || fail "$f.md: exit $rc, expected 1"
  grep -qF -- "$want" "$S/err.txt" || fail "$f.md: error lacks '$want': $(cat "$S/err.txt")"
done
echo ok
