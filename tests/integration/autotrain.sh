#!/usr/bin/env bash
# AutoTrain end to end on a small generated dataset: a search under a short budget, its JSON
# result, the ledger (promotion evidence, one decision per trial, failures recorded), and a warm
# start from similar past work on a second dataset.
# usage: autotrain.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
L="sqlite://$S/ledger.db"

# Users in taste clusters over items with Zipf-like popularity: structure a model can learn and
# MostPop cannot.
gen() {
  python3 - "$1" "$2" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[2]))
users, items, clusters = 400, 240, 6
with open(sys.argv[1], "w") as f:
    f.write("user,item\n")
    for u in range(users):
        c = u % clusters
        own = [i for i in range(items) if i % clusters == c]
        for _ in range(rng.randint(12, 30)):
            pool = own if rng.random() < 0.8 else range(items)
            i = min(int(rng.paretovariate(1.1)) - 1, len(pool) - 1)
            f.write(f"u{u},i{list(pool)[i] if rng.random() < 0.5 else rng.choice(list(pool))}\n")
PY
}
gen "$S/a.csv" 1
gen "$S/b.csv" 2
for d in a b; do
  "$AR" import --format csv --file "$S/$d.csv" --user-col user --item-col item --out "$S/$d" >/dev/null
  "$AR" split "$S/$d" --method random --test-ratio 0.2 --seed 1 >/dev/null
done

"$AR" autotrain "$S/a" --budget 25s --ledger "$L" --threads 1 --proposer none --json \
  >"$S/a.json" 2>"$S/a.log" || { cat "$S/a.log"; fail "autotrain failed"; }
[ -f "$S/a/autotrain/dataset.ards" ] || fail "no validation split carved into DIR/autotrain"
# The carve takes the test split's share of the training interactions (per user, rounded).
"$AR" info "$S/a/autotrain" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
share, carved = d["test"] / (d["train"] + d["valid"] + d["test"]), d["valid"] / (d["train"] + d["valid"])
assert abs(carved - share) < 0.02, (carved, share)' || fail "the carve is not the test split's share"
grep -q "promotion to agent" "$S/a.log" || fail "no promotion evidence logged"
"$AR" eval "$S/a/autotrain" --model mostpop --target valid --k 20 --json >"$S/mp.json"
"$AR" agents --ledger "$L" --json >"$S/agents.json"
"$AR" decisions --ledger "$L" --json >"$S/decisions.json"
python3 - "$S" <<'PY'
import json, sqlite3, sys
S = sys.argv[1]
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
r, mp = last(f"{S}/a.json"), last(f"{S}/mp.json")
for key in ("champion", "trials", "validation", "test"):
    assert key in r, (key, r)
assert r["trials"] >= 4, r
assert "model" in r["champion"] or len(r["champion"]) > 0, r
v, t = r["validation"], r["test"]
assert 0 < v["ndcg@20"] <= 1 and 0 < t["ndcg@20"] <= 1 and 0 < t["recall@20"] <= 1, r
# The champion must beat MostPop on validation: the search found structure.
assert v["ndcg@20"] > mp["ndcg@20"], (v, mp)
agents = last(f"{S}/agents.json")
at = [a for a in agents if a["name"] == "autotrain"]
assert at and at[0]["promotion"]["promoted"] is True, agents
for c in ("closed_loop", "independently_evaluable", "evolvable"):
    assert at[0]["promotion"][c]["pass"] is True, at[0]["promotion"]
# Every search trial of the session is a run with its configuration and a decision with a
# rationale; the session run holds the champion, the policy state and the test score.
decisions = last(f"{S}/decisions.json")
decided = {d["run"] for d in decisions if d["rationale"]}
db = sqlite3.connect(f"{S}/ledger.db")
search = db.execute("SELECT r.id, r.config FROM runs r JOIN tags t ON t.run_id = r.id "
                    "WHERE t.key = 'role' AND t.value = 'search' AND r.parent_id = ?",
                    (r["run"],)).fetchall()
assert len(search) >= 4, search
assert all(json.loads(c) for _, c in search)
missing = [i for i, _ in search if i not in decided]
assert not missing, f"trials without a decision: {missing}"
params = dict(db.execute("SELECT key, value FROM params WHERE run_id = ?", (r["run"],)))
assert "policy_state" in params and json.loads(params["champion"]) == r["champion"], params.keys()
test = db.execute("SELECT value FROM metrics WHERE run_id = ? AND name = 'ndcg@20' AND "
                  "split = 'test'", (r["run"],)).fetchall()
assert test and abs(test[0][0] - t["ndcg@20"]) < 1e-9, test
PY

# A second, similar dataset: the search starts from the best configuration of each of the
# first one's best families, one trial each, in full; a family whose seed noise the first
# session measured as zero (its fit ignores the seed) is not rerun to measure it again.
"$AR" autotrain "$S/b" --budget 10s --ledger "$L" --threads 1 --proposer none --no-test \
  --json >"$S/b.json" 2>"$S/b.log" || { cat "$S/b.log"; fail "warm autotrain failed"; }
python3 - "$S/a.log" "$S/b.log" <<'PY' || { cat "$S/b.log"; fail "no warm start"; }
import re, sys
before, log = open(sys.argv[1]).read(), open(sys.argv[2]).read()
n = int(re.search(r"warm start: the best configuration of (\d+) model families", log)[1])
first = re.findall(r"trial +\d+ +(\S+) +fidelity 1\.00 .*search$", log, re.M)[:n]
assert n >= 2 and len(set(first)) == n, (n, first)
# That batch reaches feedback best first: one champion from it, no rerun for seed noise.
lines = log.splitlines()
trial = [i for i, l in enumerate(lines) if re.search(r"trial +\d+ ", l) and "probe" not in l]
between = lines[trial[n - 1] + 1:trial[n]]
assert sum("champion: adopted" in l for l in between) == 1, between
zero = {f for f, sd in re.findall(r"seed noise of (\S+): sd ([\d.]+)", before) if float(sd) == 0}
if zero:
    known = re.search(r"warm start: the seed noise of (.*) is zero", log)
    assert known and set(known[1].split(", ")) == zero, (zero, known)
    rerun = set(re.findall(r"trial +\d+ +(\S+) +fidelity .*seed-noise$", log, re.M))
    assert not rerun & zero, (rerun, zero)
PY

# Bad input: a clear error, non-zero exit.
if "$AR" autotrain "$S/a" --budget soon --ledger "$L" 2>"$S/err.txt"; then fail "bad budget accepted"; fi
grep -q -- "--budget soon" "$S/err.txt" || fail "bad budget error: $(cat "$S/err.txt")"
if "$AR" autotrain "$S/nope" --budget 5s --ledger "$L" 2>"$S/err.txt"; then fail "missing dataset accepted"; fi
echo ok
