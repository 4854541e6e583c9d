#!/usr/bin/python3
"""A misbehaving /v1/chat/completions server for the LLM client's error paths (stdlib only).

usage: fake_server.py MODE PORTFILE [REQUESTLOG]

Binds 127.0.0.1 on a free port, writes the port to PORTFILE, and answers every POST by MODE:
  garbage   200 with a body that is not JSON
  http500   500 with a short error body
  http404   404 (not retried by the client)
  nochoices 200 with a JSON object that has no choices
  notjson   200, a well-formed envelope whose content is not JSON
  slow      sleeps 5 s before answering (for client timeouts)
  flaky     429 with Retry-After: 0 on the first request, then a valid answer {"ok": true}
  echo      a valid envelope whose content is the request's Authorization header (to check
            that a key echoed back is scrubbed from logs)
  card      a method card's JSON block that satisfies the card schema and ar_card_parse (an
            ItemKNN on the dataset "toy", MovieLens format, a random split)
  badcard   the same card with a predefined split and no test file: it satisfies the card
            schema but not ar_card_parse (dataset.test), so every answer is rejected
Each request body is appended to REQUESTLOG as one JSON line when given.
"""
import http.server
import json
import sys
import time

mode, portfile = sys.argv[1], sys.argv[2]
reqlog = sys.argv[3] if len(sys.argv) > 3 else None
count = 0


def envelope(content, finish="stop"):
    return json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                       "choices": [{"index": 0, "finish_reason": finish,
                                    "message": {"role": "assistant", "content": content}}]})


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, headers=()):
        data = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global count
        count += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if reqlog:
            with open(reqlog, "a") as f:
                f.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\n")
        if mode == "garbage":
            self.send(200, "<html>this is not json")
        elif mode == "http500":
            self.send(500, '{"error": {"message": "model crashed"}}')
        elif mode == "http404":
            self.send(404, '{"error": {"message": "no such route"}}')
        elif mode == "nochoices":
            self.send(200, '{"object": "chat.completion", "choices": []}')
        elif mode == "notjson":
            self.send(200, envelope("Sure! Here is a model: itemknn"))
        elif mode == "slow":
            time.sleep(5)
            self.send(200, envelope('{"ok": true}'))
        elif mode == "flaky":
            if count == 1:
                self.send(429, '{"error": {"message": "slow down"}}', [("Retry-After", "0")])
            else:
                self.send(200, envelope('{"ok": true}'))
        elif mode == "card":
            self.send(200, envelope(json.dumps(CARD)))
        elif mode == "badcard":
            self.send(200, envelope(json.dumps(BADCARD)))
        elif mode == "echo":
            self.send(200, envelope(json.dumps({"ok": self.headers.get("Authorization", "")})))
        else:
            self.send(500, "unknown mode")


CARD = {"method": "ItemKNN toy", "source": "the fake server",
        "spec": {"model": "itemknn", "params": {"k": 50}},
        "dataset": {"name": "toy", "format": "movielens", "train": "u.data"},
        "protocol": {"split": "random", "test_ratio": 0.2, "seed": 3, "k": 20,
                     "ranking": "full"},
        "reported": {"recall@20": 0.01, "ndcg@20": 0.01}, "tolerance": 0.05}
BADCARD = dict(CARD, protocol=dict(CARD["protocol"], split="predefined"))

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
