#!/usr/bin/env bash
# The ledger on PostgreSQL: starts a throwaway local server (Debian's postgresql package: initdb
# and pg_ctl under /usr/lib/postgresql/*/bin) on a unix socket in a temporary directory and a
# free port, runs the ledger's API test suite (the same test_ledger binary as on SQLite, told
# where the server is) and the ledger CLI checks against it, and stops the server at the end
# even on failure. PostgreSQL refuses to run as root, so as root (CI) the server runs as the
# `postgres` system user. Skips (77) when PostgreSQL is not installed.
# usage: ledger_postgres.sh AGENTREC SOURCE_DIR SCRATCH_DIR
set -euo pipefail
AR=$1 SRC=$2 S=$3
rm -rf "$S" && mkdir -p "$S"
fail() { echo "FAIL: $*" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL not installed: skipping" >&2; exit 77; }
TEST_BIN=$(dirname "$AR")/tests/test_ledger
[ -x "$TEST_BIN" ] || fail "$TEST_BIN not built"

D=$(mktemp -d /tmp/ar_pg.XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "no postgres user to run the server as: skipping" >&2; exit 77; }
  chown postgres: "$D"
  as_pg=(runuser -u postgres --)
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT

"${as_pg[@]}" "$PGBIN/initdb" -D "$D/data" -U postgres --auth=trust -E UTF8 --no-sync \
  >"$S/initdb.log" 2>&1 || { cat "$S/initdb.log" >&2; fail "initdb"; }
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 60 \
  -o "-k $D -p $PORT -c listen_addresses= -c fsync=off -c max_connections=50" start \
  >/dev/null || { cat "$D/server.log" >&2; fail "pg_ctl start"; }

echo "PostgreSQL at $D:$PORT"
AR_LEDGER_TEST_PGHOST=$D AR_LEDGER_TEST_PGPORT=$PORT "$TEST_BIN" || fail "API suite on PostgreSQL"

"$PGBIN/createdb" -h "$D" -p "$PORT" -U postgres ledger_cli || fail "createdb"
bash "$SRC/tests/integration/ledger_cli.sh" "$AR" "$SRC" "$S/cli" \
  "postgresql:///ledger_cli?host=$D&port=$PORT&user=postgres" || fail "CLI on PostgreSQL"
echo "ledger on PostgreSQL ok"
