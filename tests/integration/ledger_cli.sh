#!/usr/bin/env bash
# Drives the ledger commands of the real agentrec binary on a SQLite ledger: ledger init/
# example/check, runs list|show|compare|lineage|best, decisions, models, report; --json is an
# array of objects; tables fit 80 columns; bad ledgers and bad usage fail with one-line errors.
# usage: ledger_cli.sh AGENTREC SOURCE_DIR SCRATCH_DIR [LEDGER_URL]
# With LEDGER_URL (e.g. a PostgreSQL URL from ledger_postgres.sh) the same checks run there.
set -euo pipefail
AR=$1 S=$3
rm -rf "$S" && mkdir -p "$S"
L=${4:-sqlite://$S/ledger.db}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd... : keeps stdout in $S/out and stderr in $S/err
  local want=$1; shift
  set +e; "$@" >"$S/out" 2>"$S/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$S/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
json_check() { python3 -c "import json,sys; d=json.load(open('$S/out')); assert isinstance(d, list), 'not an array'; $1" \
  || fail "json check: $1"; }
width_ok() { awk -v f="$1" 'length($0) > 80 { print f ": " length($0) ": " $0; bad=1 } END { exit bad }' "$S/out" \
  || fail "$1: a line is wider than 80 columns"; }

for c in runs decisions models report ledger; do
  expect_rc 0 "$AR" "$c" --help
  grep -q "usage: agentrec $c" "$S/out" || fail "$c --help"
done

# Readers never create a ledger: a missing file is an error.
expect_rc 1 "$AR" runs list --ledger "sqlite://$S/absent.db"
[ "$(wc -l <"$S/err")" -eq 1 ] || fail "error is not one line"
[ ! -e "$S/absent.db" ] || fail "a reader created a ledger"

expect_rc 0 "$AR" ledger init --ledger "$L"
expect_rc 0 "$AR" ledger example --ledger "$L" --json
json_check "assert d[0]['schema_version'] >= 2"
FIRST=$(python3 -c "import json; print(json.load(open('$S/out'))[0]['first_run'])")
expect_rc 0 "$AR" ledger check --ledger "$L"
grep -q intact "$S/out" || fail "check"

expect_rc 0 "$AR" runs list --ledger "$L"
width_ok "runs list"
[ "$(wc -l <"$S/out")" -eq 11 ] || fail "runs list: expected a header and 10 runs"
expect_rc 0 "$AR" runs list --ledger "$L" --json
json_check "assert len(d) == 10 and d[0]['id'] > d[-1]['id'] and d[0]['status'] == 'finished'"
expect_rc 0 "$AR" runs list --ledger "$L" --status running --json
json_check "assert d == []"

expect_rc 0 "$AR" runs best --metric recall@20 --split valid --ledger "$L"
width_ok "runs best"
expect_rc 0 "$AR" runs best --metric recall@20 --split valid --limit 3 --ledger "$L" --json
json_check "assert len(d) == 3 and abs(d[0]['score'] - 0.179) < 1e-9 and d[0]['config']['model'] == 'ease'"
expect_rc 0 "$AR" runs best --metric loss --split train --min --limit 1 --ledger "$L" --json
json_check "assert d[0]['id'] == $FIRST"
expect_rc 2 "$AR" runs best --ledger "$L"

BEST=$(python3 -c "import json,subprocess; print(json.loads(subprocess.check_output(['$AR','runs','best','--metric','recall@20','--split','valid','--limit','1','--json','--ledger','$L']))[0]['id'])")
expect_rc 0 "$AR" runs show "$BEST" --ledger "$L"
width_ok "runs show"
grep -q "recall@20 valid" "$S/out" || fail "show lacks metrics"
expect_rc 0 "$AR" runs show "$BEST" --ledger "$L" --json
json_check "r=d[0]; assert r['id'] == $BEST and r['params']['split'] == 'loo' and len(r['metrics']) == 8 and r['decisions']"
expect_rc 1 "$AR" runs show 99999 --ledger "$L"
grep -q "does not exist" "$S/err" || fail "show of a missing run"
expect_rc 2 "$AR" runs show abc --ledger "$L"

expect_rc 0 "$AR" runs compare "$FIRST" "$BEST" --ledger "$L"
width_ok "runs compare"
expect_rc 0 "$AR" runs compare "$FIRST" "$BEST" --ledger "$L" --json
json_check "assert len(d) == 2 and d[1]['metrics']['recall@20 valid'] > d[0]['metrics']['recall@20 valid']"

expect_rc 0 "$AR" runs lineage "$BEST" --ledger "$L"
width_ok "runs lineage"
grep -q "this run" "$S/out" || fail "lineage marks the run"
expect_rc 0 "$AR" runs lineage "$BEST" --ledger "$L" --json
json_check "assert d[0]['id'] == $FIRST and d[0]['depth'] < 0 and any(r['depth'] == 0 and r['id'] == $BEST for r in d)"

expect_rc 0 "$AR" decisions --ledger "$L"
width_ok "decisions"
expect_rc 0 "$AR" decisions --ledger "$L" --json
json_check "acts=[x['action'] for x in d]; assert {'adopt','reject','promote','rollback','hold'} <= set(acts) and d[0]['evidence']"
expect_rc 0 "$AR" decisions --run "$BEST" --ledger "$L" --json
json_check "assert all(x['run'] == $BEST for x in d) and d"

expect_rc 0 "$AR" models --ledger "$L"
width_ok "models"
expect_rc 0 "$AR" models ranker --ledger "$L" --json
json_check "p=[m for m in d if m['stage']=='production']; assert len(d) == 3 and len(p) == 1 and p[0]['alias'] == 'champion'"
expect_rc 0 "$AR" models --history --ledger "$L"
width_ok "models --history"
expect_rc 0 "$AR" models --history --ledger "$L" --json
json_check "assert d[0]['stage'] == 'candidate' and any(x['stage'] == 'archived' for x in d)"

expect_rc 0 "$AR" report --out "$S/report.html" --ledger "$L" --json
json_check "assert d[0]['out'].endswith('report.html')"
grep -q "<svg" "$S/report.html" || fail "report has no charts"
! grep -qi "<script" "$S/report.html" || fail "report has a script"
! grep -qiE "(src|href)=\"https?:" "$S/report.html" || fail "report references the network"
ls "$S" | grep -q "report.html.tmp" && fail "a temporary file was left behind"
expect_rc 1 "$AR" report --out "$S/no/such/dir/report.html" --ledger "$L"
expect_rc 2 "$AR" report --ledger "$L"

# A corrupt file is refused with a clear error, and nothing is overwritten.
if [ -z "${4:-}" ]; then
  head -c 8192 /dev/urandom >"$S/garbage.db"
  cp "$S/garbage.db" "$S/garbage.orig"
  expect_rc 1 "$AR" runs list --ledger "sqlite://$S/garbage.db"
  grep -qiE "not a database|corrupt" "$S/err" || fail "corrupt file message: $(cat "$S/err")"
  cmp -s "$S/garbage.db" "$S/garbage.orig" || fail "the corrupt file was modified"
fi
echo "ledger CLI ok on $L"
