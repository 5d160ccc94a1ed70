#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for the tests; prints its SQLAlchemy URL.
# Usage: eval "$(bash scripts/start-postgres.sh)"   -> exports SERAC_TEST_PG_URL
# Idempotent: a cluster already answering on the port is reused. Needs Debian's postgresql package.
set -euo pipefail
PORT="${SERAC_PG_PORT:-54329}"
DIR="${SERAC_PG_DIR:-/tmp/serac-pg-$PORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
URL="postgresql+psycopg://serac@127.0.0.1:$PORT/serac_test"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if ! as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"; [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_pg "$BIN/initdb" -D "$DIR" -U postgres --auth=trust >/dev/null
  fi
  as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c max_connections=200 -c fsync=off" start >/dev/null
fi
as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_roles WHERE rolname='serac'" | grep -q 1 \
  || as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE ROLE serac LOGIN SUPERUSER" >/dev/null
as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='serac_test'" | grep -q 1 \
  || as_pg "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE serac_test OWNER serac" >/dev/null
echo "export SERAC_TEST_PG_URL=$URL"
