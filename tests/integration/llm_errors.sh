#!/usr/bin/env bash
# The failure paths of `agentrec llm` against a misbehaving fake endpoint
# (tests/integration/llm/fake_server.py, Python stdlib only), so they are checked on every
# machine, also where llm_e2e.sh skips for want of node: a closed port, garbage, HTTP 500, a
# timeout, a 429 that clears, an echoed API key. args: BIN SRC SCRATCH.
set -euo pipefail
BIN=$(realpath "$1")
SRC=$(realpath "$2")
SCRATCH=$3
HERE=$SRC/tests/integration/llm
PY=/usr/bin/python3

fail() {
    echo "FAIL: $*"
    exit 1
}
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SCRATCH"
. "$HERE/common.sh"
unset AGENTREC_LLM_ENDPOINT AGENTREC_LLM_MODEL AGENTREC_LLM_API_KEY OPENAI_BASE_URL OPENAI_MODEL \
    OPENAI_API_KEY

echo '{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}' >schema.json
echo '{"dataset": {"name": "tiny"}}' >context.json

# Without an endpoint the CLI says what to set.
if "$BIN" llm ping 2>noconf.err; then fail "ping without an endpoint"; fi
grep -q "AGENTREC_LLM_ENDPOINT" noconf.err || fail "missing-endpoint message: $(cat noconf.err)"

. "$HERE/error_checks.sh"
error_checks

# A 404 is not retried; a server that returns content that is not JSON is asked again.
fake http404
if "$BIN" llm ping --endpoint "$FAKE" --model m --retries 3 2>http404.err; then fail "404 accepted"; fi
[ "$(grep -c 'attempt [0-9]: http, HTTP 404' http404.err)" -eq 1 ] || fail "404 must not be retried"
fake notjson
if "$BIN" llm propose --endpoint "$FAKE" --model m --schema schema.json --retries 1 \
    2>notjson.err; then fail "prose accepted"; fi
grep -q "attempt 2: not_json" notjson.err || fail "not-JSON content: $(cat notjson.err)"
grep -q "Your previous answer was rejected" fake.notjson.jsonl || fail "no feedback after prose"
echo "llm_errors: all checks passed"
