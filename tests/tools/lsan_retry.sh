#!/usr/bin/env bash
# Runs a test under the sanitizer build; runs it once more when it failed only because
# LeakSanitizer's own stop-the-world tracer crashed at exit ("Tracer caught signal" followed by
# "LeakSanitizer has encountered a fatal error"): an intermittent fault of the sanitizer runtime
# with threaded programs (google/sanitizers#1353), not a leak report, which fails as before.
# usage: lsan_retry.sh COMMAND [ARG...]
set -u
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] && grep -q "^Tracer caught signal" "$out" &&
  grep -q "LeakSanitizer has encountered a fatal error" "$out"; then
  echo "lsan_retry: LeakSanitizer's tracer crashed (not a leak report); running the test again"
  "$@"
  rc=$?
fi
exit "$rc"
