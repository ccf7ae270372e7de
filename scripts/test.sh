#!/usr/bin/env bash
# Installs what the tests need (Debian packages, a virtualenv with the test extras)
# and runs the whole suite on SQLite and on PostgreSQL. Used by README and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS="dovecot-imapd dovecot-lmtpd chromium nsd isync gettext"
missing=""
for pkg in $DEBS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "== installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q '.[test]'

echo "== ruff"
.venv/bin/ruff check postkamer tests bench scripts
.venv/bin/ruff format --check postkamer tests bench scripts

echo "== migrations and translations match the code"
# The suite's settings: a throwaway data dir with its own keys.
DJANGO_SETTINGS_MODULE=tests.settings .venv/bin/python -m django makemigrations --check --dry-run \
  || { echo "a model changed without a migration: run makemigrations"; exit 1; }
.venv/bin/python scripts/check_catalogue.py

# PostgreSQL runs on this machine kind; start it if it stopped.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi

PYTEST_ARGS=${PYTEST_ARGS:-"-n 2 -q"}
echo "== tests on SQLite"
env -u DATABASE_URL .venv/bin/python -m pytest $PYTEST_ARGS "$@"
echo "== tests on PostgreSQL"
DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postkamer} \
  .venv/bin/python -m pytest $PYTEST_ARGS "$@"
