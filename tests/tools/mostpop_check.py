#!/usr/bin/env python3
"""Independent check of agentrec's MostPop numbers on LightGCN-format data.

Reads train.txt and test.txt (lines "user item item ...", integer ids), ranks items by the
number of distinct training users (ties: lower item id first), removes each user's training
items, and prints Recall@K and NDCG@K averaged over the users with at least one test item, as
JSON: {"recall@20": x, "ndcg@20": y, "users": n}.

The metrics follow LightGCN's utils.py (and RecBole): Recall@K = hits / |test items|,
NDCG@K = DCG / IDCG with DCG = sum_{i<K} rel_i / log2(i + 2) and IDCG over min(|test|, K)
positions. Test items are deduplicated per user. This file shares no code with the C library on
purpose: it exists so the C implementation can be checked against something written separately.
"""
import argparse
import json
import sys

try:
    import numpy as np
except ImportError:  # e.g. a pyenv python3 ahead of Debian's on PATH
    sys.exit("mostpop_check.py needs numpy: apt-get install python3-numpy, run with /usr/bin/python3")


def read_lists(path):
    """Returns {user: np.array of distinct items, in first-seen order}."""
    lists = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = [int(x) for x in fields]
            except ValueError:
                sys.exit(f"{path}:{lineno}: expected integer ids, got {line.strip()[:60]!r}")
            user, items = ids[0], ids[1:]
            seen = dict.fromkeys(lists.get(user, []))
            seen.update(dict.fromkeys(items))
            lists[user] = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
    return lists


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True, help="LightGCN train.txt")
    ap.add_argument("--test", required=True, help="LightGCN test.txt")
    ap.add_argument("--k", type=int, default=20, help="cutoff (default 20)")
    args = ap.parse_args()
    if args.k < 1:
        sys.exit("--k must be positive")

    train = read_lists(args.train)
    test = read_lists(args.test)
    max_item = max(
        [int(v.max()) for v in list(train.values()) + list(test.values()) if v.size] + [-1]
    )
    n_items = max_item + 1

    # Popularity = distinct training users per item (lists are already deduplicated).
    pop = np.zeros(n_items, dtype=np.int64)
    for items in train.values():
        pop[items] += 1
    # Stable sort on -pop keeps ascending item ids among equal popularity.
    order = np.argsort(-pop, kind="stable")

    k = args.k
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    recall_sum = ndcg_sum = 0.0
    users = 0
    for user in sorted(test):
        truth = test[user]
        if truth.size == 0:
            continue
        seen = train.get(user, np.empty(0, dtype=np.int64))
        # At most len(seen) of the first k + len(seen) items are excluded.
        head = order[: k + seen.size]
        top = head[~np.isin(head, seen)][:k]
        rel = np.isin(top, truth).astype(np.float64)
        hits = rel.sum()
        dcg = float((rel * discount[: rel.size]).sum())
        idcg = float(discount[: min(truth.size, k)].sum())
        recall_sum += hits / truth.size
        ndcg_sum += dcg / idcg
        users += 1
    if users == 0:
        sys.exit(f"{args.test}: no user has test items")
    print(
        json.dumps(
            {f"recall@{k}": recall_sum / users, f"ndcg@{k}": ndcg_sum / users, "users": users}
        )
    )


if __name__ == "__main__":
    main()
