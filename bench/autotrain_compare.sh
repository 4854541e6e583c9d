#!/usr/bin/env bash
# AutoTrain's learned policy against random search at equal budget, and warm start against cold.
# usage: bench/autotrain_compare.sh AGENTREC DATASET_DIR TRIALS [SEEDS] [SCRATCH]
#   DATASET_DIR: an imported dataset with train and test splits (a validation split is carved out
#   of train when missing). The budget is counted in trials (--max-trials), not seconds, so the
#   comparison does not depend on how loaded the machine is; the proposer is off so that only
#   the search policy differs. Prints one line per run and the mean best validation NDCG@20.
set -euo pipefail
AR=$1 D=$2 N=$3 SEEDS=${4:-"1 2 3"} S=${5:-$(mktemp -d)}
mkdir -p "$S"
for policy in rl random tpe; do
  sum=0 k=0
  for seed in $SEEDS; do
    out=$("$AR" autotrain "$D" --policy "$policy" --proposer none --seed "$seed" \
      --max-trials "$N" --budget 24h --no-test --no-warm-start --quiet --threads 2 \
      --ledger "sqlite://$S/$policy-$seed.db" --json | tail -1)
    v=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["validation"]["ndcg@20"])' "$out")
    echo "$policy seed $seed: best validation ndcg@20 $v"
    sum=$(python3 -c "print($sum + $v)"); k=$((k + 1))
  done
  python3 -c "print('$policy: mean best validation ndcg@20 over $k seeds at $N trials: %.4f' % ($sum / $k))"
done
