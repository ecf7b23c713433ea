#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster under .bulwark/pg and prints its DATABASE_URL base
# (postgresql://postgres@127.0.0.1:PORT). Usage: scripts/local-postgres.sh [database ...] — creates each
# database that is missing; scripts/local-postgres.sh --remove stops and deletes the cluster. PostgreSQL refuses to run as root, so as root it runs as the postgres user.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.bulwark/pg"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

if [ "$(id -u)" -eq 0 ]; then
    # The postgres user must be able to reach the cluster's folder; a checkout under /root is not reachable,
    # so the cluster then lives in a folder of its own under /var/tmp, named after the checkout.
    mkdir -p "$root/.bulwark"
    if ! runuser -u postgres -- test -x "$root/.bulwark"; then
        dir="/var/tmp/bulwark-pg-$(printf '%s' "$root" | sha1sum | cut -c1-10)"
    fi
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
else
    mkdir -p "$dir"
fi

# `--remove`: stop the cluster (if it runs) and delete it; used by `make clean-db`.
if [ "${1:-}" = "--remove" ]; then
    if [ -f "$dir/data/PG_VERSION" ]; then
        "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 \
            && "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    fi
    rm -rf "$dir"
    echo "removed the private PostgreSQL cluster in $dir" >&2
    exit 0
fi

if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "initializing a PostgreSQL cluster in $dir/data" >&2
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
fi

if [ ! -f "$dir/port" ]; then
    # A port nothing listens on (bash's /dev/tcp connects only when something does).
    for _ in $(seq 1 50); do
        candidate=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then break; fi
    done
    echo "$candidate" >"$dir/port.tmp"
    mv "$dir/port.tmp" "$dir/port"
fi
port=$(cat "$dir/port")

if ! "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    mkdir -p "$dir/run"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir/run"
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" >&2 \
        || { tail -n 30 "$dir/server.log" >&2; exit 1; }
fi

for db in "$@"; do
    exists=$("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")
    [ "$exists" = 1 ] || "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE \"$db\"" >&2
done
echo "postgresql://postgres@127.0.0.1:$port"
