# common.sh -- what llm_e2e.sh and llm_errors.sh share: background servers killed on exit, and
# waiting for a server to write its port file. Source it after defining fail().
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() { # FILE PID WHAT
    for _ in $(seq 600); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3.out"; fail "$3 exited before listening"; }
        sleep 0.1
    done
    fail "$3 did not start within 60 s"
}
