#!/usr/bin/env bash
# Run the whole test suite, setting up what it needs on a fresh Debian machine:
#   - PostgreSQL running on 127.0.0.1:5432 (started if stopped, installed if absent),
#     and TEST_DATABASE_URL pointing at it (override it to use another server);
#   - Chromium and chromedriver (Debian's `chromium`, `chromium-driver`) for the browser
#     tests, installed if absent, with CHROMEDRIVER pointing at the driver;
# then `cargo test` over every target (SQLite needs nothing: it is compiled in), then
# scripts/schemathesis.sh: generated requests against the server binary, checked against
# its /openapi.json (Schemathesis is installed from PyPI into target/ on first use).
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  if [ -n "${TEST_DATABASE_URL:-}" ] && [ "${TEST_DATABASE_URL}" != "postgres://postgres@127.0.0.1:5432/test" ]; then
    log "using TEST_DATABASE_URL as given"
    return
  fi
  if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  if ! pg_ready; then
    log "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  fi
  if ! pg_ready; then
    log "PostgreSQL is not reachable on 127.0.0.1:5432"
    exit 1
  fi
  # The tests connect as `postgres` to the `test` database over TCP without a password.
  if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    as_root su postgres -c "psql -Atc \"select 1 from pg_database where datname='test'\"" | grep -q 1 \
      || as_root su postgres -c "createdb test"
  fi
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    log "installing Chromium and chromedriver"
    apt_install chromium chromium-driver
  fi
  export CHROMEDRIVER=/usr/bin/chromedriver
}

ensure_postgres
ensure_chromium
log "TEST_DATABASE_URL=${TEST_DATABASE_URL}"
cargo test --locked "$@"
# The whole HTTP surface against its own /openapi.json, on the binary cargo test built.
if [ "$#" -eq 0 ]; then
  scripts/schemathesis.sh target/debug/v2client
fi
