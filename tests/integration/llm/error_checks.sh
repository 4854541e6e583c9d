# error_checks.sh -- the failure paths of `agentrec llm`, sourced by llm_e2e.sh and
# llm_errors.sh: a closed port (one attempt, a clear connection error), a server answering
# garbage or HTTP 500 (retried with backoff, then a clean failure naming the problem), one too
# slow for the timeout, a 429 that clears, and an API key echoed back that must never be logged.
# Expects BIN, HERE, PY, schema.json in the current directory, fail() and (from common.sh) wait_port and
# its pids array.
error_checks() {
    # 4. A closed port: one attempt, a clear connection error.
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    if "$BIN" llm propose --endpoint "http://127.0.0.1:$port/v1" --model tiny --schema schema.json \
        --context context.json >/dev/null 2>closed.err; then
        fail "propose against a closed port succeeded"
    fi
    cat closed.err
    grep -q "cannot connect to http://127.0.0.1:$port/v1/chat/completions" closed.err || fail "connect message"
    [ "$(grep -c 'attempt' closed.err)" -eq 1 ] || fail "a refused connection must not be retried"

    # 5. Misbehaving servers: retried with backoff, then a clean failure naming the problem.
    fake() { # MODE -> URL in $FAKE
        rm -f "fake.$1.port"
        $PY "$HERE/fake_server.py" "$1" "fake.$1.port" "fake.$1.jsonl" >"fake.$1.out" 2>&1 &
        pids+=($!)
        wait_port "fake.$1.port" $! "fake.$1"
        FAKE=http://127.0.0.1:$(cat "fake.$1.port")/v1
    }
    fake garbage
    if "$BIN" llm propose --endpoint "$FAKE" --model m --schema schema.json --retries 2 --backoff 0.05 \
        >/dev/null 2>garbage.err; then fail "garbage accepted"; fi
    cat garbage.err
    [ "$(grep -c 'attempt [0-9]: envelope, HTTP 200' garbage.err)" -eq 3 ] || fail "garbage: 3 attempts expected"
    grep -q "retrying in" garbage.err || fail "garbage: no backoff reported"
    grep -q "is not a JSON chat completion" garbage.err || fail "garbage: message"

    fake http500
    if "$BIN" llm propose --endpoint "$FAKE" --model m --schema schema.json --retries 2 --backoff 0.05 \
        >/dev/null 2>http500.err; then fail "HTTP 500 accepted"; fi
    cat http500.err
    [ "$(grep -c 'attempt [0-9]: http, HTTP 500' http500.err)" -eq 3 ] || fail "500: 3 attempts expected"
    grep -q 'HTTP 500 from .*model crashed' http500.err || fail "500: status and body excerpt expected"

    fake slow
    if "$BIN" llm propose --endpoint "$FAKE" --model m --schema schema.json --retries 1 --backoff 0.05 \
        --timeout 1 >/dev/null 2>slow.err; then fail "timeout not detected"; fi
    cat slow.err
    [ "$(grep -c 'attempt [0-9]: timeout' slow.err)" -eq 2 ] || fail "timeout: 2 attempts expected"
    grep -q "no complete answer from .* within 1 s" slow.err || fail "timeout message"

    fake flaky
    "$BIN" llm ping --endpoint "$FAKE" --model m --backoff 0.05 >flaky.out 2>flaky.err ||
        { cat flaky.err; fail "a 429 followed by an answer must succeed"; }
    grep -q "attempt 1: http, HTTP 429" flaky.err && grep -q "attempt 2: ok" flaky.err || fail "429 then ok"

    # 6. The API key goes in the Authorization header and nowhere else, even when echoed back.
    fake echo
    KEY=sk-test-7f3a9c1e5b
    AGENTREC_LLM_API_KEY=$KEY "$BIN" llm ping --endpoint "$FAKE" --model m --retries 1 \
        --log echo.jsonl >/dev/null 2>echo.err || true
    grep -q "Bearer \[key\]" echo.err || fail "the echoed key should show as [key]: $(cat echo.err)"
    ! grep -q "$KEY" echo.err echo.jsonl || fail "the API key leaked into the log"
}
