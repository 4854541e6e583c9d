#!/usr/bin/env python3
"""How popular held-out items are, on a LightGCN-format split.

usage: bench/split_popularity.py DIR   (DIR holds train.txt and test.txt, e.g.
       ../shared/data/gowalla-lightgcn)

Prints the mean training degree of the test items, of a training item held out from the rest
(leave-one-out), and of a 10% random per-user carve of the training data (degree counted on
the other 90%, seed 1): a test split drawn uniformly from each user's items would score like
the leave-one-out line.
"""
import collections
import random
import sys


def load(path):
    users = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if p:
                users[int(p[0])] = [int(x) for x in p[1:]]
    return users


def mean_degree(held, rest):
    deg = collections.Counter(i for items in rest.values() for i in items)
    d = [deg[i] for items in held.values() for i in items]
    return sum(d) / len(d)


def main():
    root = sys.argv[1]
    train, test = load(root + "/train.txt"), load(root + "/test.txt")
    deg = collections.Counter(i for items in train.values() for i in items)
    loo = [deg[i] - 1 for items in train.values() for i in items]
    rng = random.Random(1)
    held, rest = {}, {}
    for u, items in train.items():
        pick = set(rng.sample(range(len(items)), max(1, round(len(items) * 0.1))))
        held[u] = [x for j, x in enumerate(items) if j in pick]
        rest[u] = [x for j, x in enumerate(items) if j not in pick]
    print("mean training degree of a test item:          %.1f" % mean_degree(test, train))
    print("of a training item held out (leave-one-out):  %.1f" % (sum(loo) / len(loo)))
    print("of a 10%% random carve (seed 1), on the rest:  %.1f" % mean_degree(held, rest))


if __name__ == "__main__":
    main()
