#!/usr/bin/env bash
# AutoTrain's learned policy against random search at an equal wall-clock budget: every
# (policy, seed) run side by side, each with its own copy of the dataset (its own validation
# carve and fit cache) and ledger, the proposer off and no warm start, so only the search
# policy differs. Prints each run's best validation NDCG@20 and the means.
# usage: bench/autotrain_compare_wall.sh AGENTREC DATASET_DIR BUDGET [SEEDS] [THREADS] [SCRATCH]
#   BUDGET as --budget takes it (450s, 10m); THREADS per run (default 2). Give the machine
#   2 x |SEEDS| x THREADS cores, or the runs slow each other unevenly.
set -euo pipefail
AR=$1 D=$2 BUDGET=$3 SEEDS=${4:-"1 2 3"} T=${5:-2} S=${6:-$(mktemp -d)}
mkdir -p "$S"
for p in rl random; do
  for s in $SEEDS; do
    mkdir -p "$S/$p-$s" && cp "$D/dataset.ards" "$S/$p-$s/"
    (cd "$S/$p-$s" && "$AR" autotrain "$S/$p-$s" --policy "$p" --proposer none --seed "$s" \
      --budget "$BUDGET" --no-test --no-warm-start --quiet --threads "$T" \
      --ledger "sqlite://$S/$p-$s.db" --json >"$S/$p-$s.json") &
  done
done
wait
for p in rl random; do
  sum=0 k=0
  for s in $SEEDS; do
    v=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["validation"]["ndcg@20"])' "$S/$p-$s.json")
    echo "$p seed $s: best validation ndcg@20 $v"
    sum=$(python3 -c "print($sum + $v)"); k=$((k + 1))
  done
  python3 -c "print('$p: mean best validation ndcg@20 over $k seeds at $BUDGET: %.4f' % ($sum / $k))"
done
