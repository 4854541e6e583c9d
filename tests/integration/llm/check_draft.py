#!/usr/bin/python3
"""Checks one `agentrec reproduce --from-text` run end to end (stdlib only); llm_errors.sh runs it
against canned answers from fake_server.py, llm_e2e.sh against llama.cpp.

usage: check_draft.py EXPECT RC OUT.json REQUESTS.jsonl LEDGER.db DRAFT.md SCHEMA.json MARKER DATASET

EXPECT is valid, rejected or any (a random-weight model may answer anything: then only the
handling is checked, whatever the outcome). RC is the command's exit status, OUT.json its stdout
(--json), REQUESTS.jsonl the server's request log (fake_server.py's {"path", "body"} lines or
serve.mjs's bodies), SCHEMA.json the output of `agentrec reproduce --schema`, MARKER a string of
the text that must reach the model only as escaped data ("</data>" in it becomes \\u003c/data\\u003e),
DATASET a dataset of the data root that the prompt must list.

It checks: every request carries the card schema unchanged in the nested response_format form;
the text sits in the one data block, escaped; the exit status, the --json line, the draft file
and the ledger's draft run (tags, params, decision, artifact) agree with each other and with the
server's log (attempt count, prompt size, last outcome); and a valid draft that was reproduced
is the parent of the reproduce run.
"""
import json
import sqlite3
import sys

expect, rc, out_path, req_path, db_path, draft_path, schema_path, marker, dataset = sys.argv[1:10]
rc = int(rc)
schema = json.load(open(schema_path))
reqs = [json.loads(line) for line in open(req_path)]
reqs = [r.get("body", r) if "path" in r else r for r in reqs]
assert reqs, "no request reached the server"

# 1. The protocol: the card schema, nested, strict, in every request; the text as data.
for r in reqs:
    rf = r["response_format"]
    assert rf["type"] == "json_schema", rf
    assert rf["json_schema"]["name"] == "agentrec_method_card", rf["json_schema"]["name"]
    assert rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"] == schema, "the schema sent differs from reproduce --schema"
    system, user = r["messages"][0]["content"], r["messages"][1]["content"]
    assert r["messages"][0]["role"] == "system" and r["messages"][1]["role"] == "user"
    assert "never an instruction" in system and "agentrec_method_card" in system, system[:300]
    assert user.count("<data") == 1 and user.count("</data>") == 1, user
    assert '"method_description":' in user, user
    escaped = marker.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    assert escaped in user and marker not in user, (marker, user)
    assert '"name": "%s"' % dataset in user, ("the data root's datasets are not listed", user)
first = reqs[0]["messages"]
prompt_bytes = sum(len(m["content"].encode()) for m in first)

# 2. What the CLI said.
lines = [line for line in open(out_path).read().splitlines() if line.strip()]
assert lines, "no --json line"
last = json.loads(lines[-1])
draft = last["draft"]
valid = draft["valid"]
if expect != "any":
    assert valid == (expect == "valid"), (expect, draft)
assert (rc == 0) == valid or (valid and "reproduced" not in last), (rc, last)
assert rc in (0, 1), rc
assert draft["attempts"] == len(reqs), (draft["attempts"], len(reqs))
assert draft["prompt_bytes"] == prompt_bytes, (draft["prompt_bytes"], prompt_bytes)
assert (draft["outcome"] == "ok") == valid, draft
assert valid or draft["reason"], draft

# 3. The draft file: written, marked as what it is.
md = open(draft_path).read()
assert md.startswith("# Method card drafted from "), md[:200]
assert ("REJECTED" in md.splitlines()[0]) == (not valid), md[:300]
if not valid:
    assert draft["reason"][:60].replace("`", "'") in md, (draft["reason"], md[:600])

# 4. The ledger: the draft run and its decision, the attempts behind it.
db = sqlite3.connect(db_path)
run = draft["run"]
tags = dict(db.execute("SELECT key, value FROM tags WHERE run_id = ?", (run,)))
params = dict(db.execute("SELECT key, value FROM params WHERE run_id = ?", (run,)))
assert tags == {"role": "draft", "draft": "valid" if valid else "rejected"}, tags
assert params["draft.outcome"] == draft["outcome"], params
assert int(params["draft.attempts"]) == len(reqs) and int(params["draft.prompt_bytes"]) == prompt_bytes
assert params["draft.model"] == draft["model"] and params["draft.card"] == draft["card"]
assert params["draft.reason"] == ("" if valid else draft["reason"]), params
log = json.loads(params["draft.attempt_log"])
assert [a["attempt"] for a in log] == list(range(1, len(reqs) + 1)), log
assert log[-1]["outcome"] == draft["outcome"] and all(a["http"] == 200 for a in log), log
assert [a["retry"] for a in log] == [True] * (len(log) - 1) + [False], log
decisions = db.execute("SELECT action, rationale FROM decisions WHERE run_id = ?", (run,)).fetchall()
assert len(decisions) == 1 and decisions[0][0] == ("adopt" if valid else "reject"), decisions
assert "card drafted from" in decisions[0][1], decisions
status = db.execute("SELECT status FROM runs WHERE id = ?", (run,)).fetchone()[0]
assert status == ("finished" if valid else "failed"), status
art = db.execute("SELECT kind, path FROM artifacts WHERE run_id = ?", (run,)).fetchall()
assert art == [("card", draft["card"])], art
if "reproduced" in last:  # the valid draft was reproduced, in a child run of the drafting
    parent = db.execute("SELECT parent_id FROM runs WHERE id = ?", (last["run"],)).fetchone()[0]
    assert parent == run, (parent, run)
print("check_draft: %s draft, %d attempt(s) %s, prompt %d bytes, ledger run %d%s" % (
    "valid" if valid else "rejected", len(reqs), [a["outcome"] for a in log], prompt_bytes, run,
    ", reproduced in run %d" % last["run"] if "reproduced" in last else ""))
