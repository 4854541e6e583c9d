#!/usr/bin/env bash
# tests/tools/lsan_retry.sh (the sanitizer build's unit-test runner): a run that failed only
# because LeakSanitizer's tracer crashed is run once more; a leak report or any other failure
# keeps its exit status, and nothing runs twice.
# usage: lsan_retry.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
R="$SRC/tests/tools/lsan_retry.sh"
cat >"$S/tracer.sh" <<SH
#!/usr/bin/env bash
echo run >>"$S/runs"
[ "\$(wc -l <"$S/runs")" -ge 2 ] && exit 0
echo "Tracer caught signal 11: addr=0x1210 pc=0x55ccfbf939aa sp=0x7f6fb05ffd40"
echo "==1==LeakSanitizer has encountered a fatal error."
exit 1
SH
chmod +x "$S/tracer.sh"
bash "$R" "$S/tracer.sh" >"$S/out" || fail "a tracer crash was not retried: $(cat "$S/out")"
[ "$(wc -l <"$S/runs")" -eq 2 ] || fail "expected two runs"
rm -f "$S/runs"
set +e
bash "$R" bash -c "echo run >>'$S/runs'; echo '==1==ERROR: LeakSanitizer: detected memory leaks'; exit 23" >/dev/null
rc=$?
set -e
[ "$rc" -eq 23 ] || fail "a leak report must fail as before (got $rc)"
[ "$(wc -l <"$S/runs")" -eq 1 ] || fail "a leak report was run twice"
set +e
bash "$R" bash -c 'exit 3' >/dev/null
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "a plain failure must keep its status (got $rc)"
echo ok
