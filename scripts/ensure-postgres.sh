#!/usr/bin/env bash
# Start the local PostgreSQL cluster if it is installed and not running (tests and benchmarks need it).
# Elsewhere, point LOCKSTEP_TEST_PG_URL at a server you run yourself.
set -euo pipefail
if [ -n "${LOCKSTEP_TEST_PG_URL:-}" ]; then exit 0; fi
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not reachable on 127.0.0.1:5432; set LOCKSTEP_TEST_PG_URL or start one" >&2
exit 1
