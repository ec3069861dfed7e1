#!/usr/bin/env bash
# Makes sure a PostgreSQL server from Debian runs on 127.0.0.1:5432 with a `yamori` test role.
# Used by the test setup and .ci/run; safe to run again. Needs root (installs with apt-get).
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "ensure-postgres: installing PostgreSQL from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "ensure-postgres: PostgreSQL did not start; see /var/log/postgresql" >&2; exit 1; }
# A superuser for tests only: each test file creates and drops its own database.
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='yamori'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE yamori LOGIN SUPERUSER PASSWORD 'yamori'\""
# Many simulated agents in the benchmarks hold connections: raise the limit once.
cur=$(su postgres -c "psql -qtAc 'SHOW max_connections'")
if [ "$cur" -lt 300 ]; then
  su postgres -c "psql -qc 'ALTER SYSTEM SET max_connections = 300'"
  pg_ctlcluster "$ver" main restart
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
echo "postgres://yamori:yamori@127.0.0.1:5432/postgres"
