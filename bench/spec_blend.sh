#!/bin/sh
# spec_blend.sh -- a blend of rp3beta and iALS against its members (docs/spec.md).
#
# usage: bench/spec_blend.sh AGENTREC DATASET_DIR WORK_DIR [FACTORS [NORMS]]
#   FACTORS: iALS factors (64); NORMS: blend normalisations to try ("zscore max rank")
#
# DATASET_DIR must have train and test splits (e.g. an imported ML-100k u1 or Gowalla). A copy
# in WORK_DIR gets a validation split carved from train (10%, seed 1). Each spec is fitted on
# train and scored on valid (NDCG@20 / Recall@20), then refitted on train+valid and scored on
# test. The blend's weights are learned on valid (coordinate ascent on NDCG@20) and the learned
# spec is what is refitted; so is a stack of the two members (feature-weighted linear stacking
# on bias, log history length and history popularity), whose meta-model is learned on valid.
# Prints one line per spec: name, valid ndcg, valid recall, test ndcg, test recall.
set -eu
B=$1
SRC=$2
W=$3
F=${4:-64}
NORMS=${5:-zscore max rank}
mkdir -p "$W"
"$B" split "$SRC" --within train --method random --test-ratio 0 --valid-ratio 0.1 --seed 1 \
    --out "$W/ds" --json >/dev/null
RP3='{"model": "rp3beta", "params": {"k": 100, "alpha": 0.7, "beta": 0.3, "normalize": true}}'
IALS="{\"model\": \"ials\", \"params\": {\"factors\": $F, \"reg\": 0.005, \"unobserved_weight\": 0.01}}"
echo "$RP3" >"$W/rp3beta.json"
echo "$IALS" >"$W/ials.json"
for n in $NORMS; do
    echo "{\"blend\": [{\"weight\": 1, \"spec\": $RP3}, {\"weight\": 1, \"spec\": $IALS}], \"normalize\": \"$n\"}" >"$W/blend_$n.json"
done
echo "{\"fuse\": \"rrf\", \"k\": 60, \"members\": [$RP3, $IALS]}" >"$W/rrf.json"
num() { python3 -c "import json,sys; d=json.loads(sys.stdin.readlines()[-1]); print('%.4f %.4f' % (d['ndcg@20'], d['recall@20']))"; }
run() { # name spec_file [extra eval options for the valid run]
    name=$1
    spec=$2
    shift 2
    v=$("$B" eval "$W/ds" --spec "$spec" --target valid --k 20 --json "$@" | num)
    t=$("$B" eval "$W/ds" --spec "$spec" --splits train,valid --target test --k 20 --json | num)
    echo "$name $v $t"
}
run rp3beta "$W/rp3beta.json"
run ials "$W/ials.json"
run rrf "$W/rrf.json"
for n in $NORMS; do
    run "blend_$n(1:1)" "$W/blend_$n.json"
    "$B" eval "$W/ds" --spec "$W/blend_$n.json" --target valid --k 20 --json --learn-weights \
        --spec-out "$W/learned_$n.json" >"$W/learn_$n.log"
    run "blend_$n(learned $(python3 -c "import json; d=json.load(open('$W/learned_$n.json')); print(':'.join('%g' % m['weight'] for m in d['blend']))"))" "$W/learned_$n.json"
done
echo "{\"stack\": {\"features\": [\"bias\", \"log_history_length\", \"history_popularity\"]}, \"members\": [$RP3, $IALS]}" >"$W/stack.json"
"$B" eval "$W/ds" --spec "$W/stack.json" --target valid --k 20 --json --learn-weights \
    --spec-out "$W/learned_stack.json" >"$W/learn_stack.log"
run "stack(learned $(python3 -c "import json; d=json.load(open('$W/learned_stack.json')); print(';'.join(':'.join('%g' % x for x in r) for r in d['weights']))"))" "$W/learned_stack.json"
