#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries (initdb, pg_ctl) for the tests that run a real PostgreSQL server
# (tests/pg_server.py starts one in a temporary folder; no system service is used).
# Idempotent: does nothing when initdb is already there.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  echo "PostgreSQL present: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
ls -d /usr/lib/postgresql/*/bin
