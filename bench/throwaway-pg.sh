# Sourced by bench/run.sh and bench/chaos.sh: a throwaway PostgreSQL cluster of their own, and a free port.
# The caller defines `log` and `die` and sets PG_BIN; this file sets as_pg, PG_OWNER, and, once
# pg_throwaway_start has run, PG_TMP, PG_DATA, PG_PORT and PG_STARTED.

# PostgreSQL refuses to run as root: when we are root, run it as 'postgres'.
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user"
    as_pg() { runuser -u postgres -- "$@"; }
    PG_OWNER=postgres
else
    as_pg() { "$@"; }
    PG_OWNER=$(id -un)
fi
PG_TMP="" PG_DATA="" PG_PORT="" PG_STARTED=0

free_port() {
    if command -v python3 >/dev/null \
        && python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# pg_ctl on the throwaway cluster: pgctl start | stop -m fast | restart -m fast …
pgctl() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/postgres.log" -w -t 60 "$@" >/dev/null; }

# pg_throwaway_start PARENT TAG [postgresql.conf line …]: initdb a cluster in a new folder under PARENT
# (under /var/tmp when the postgres user cannot reach PARENT, as scripts/local-postgres.sh does), listening
# on 127.0.0.1 at a free port with trust authentication and default durability, and start it.
pg_throwaway_start() {
    local parent=$1 tag=$2 line
    shift 2
    mkdir -p "$parent"
    if ! as_pg test -x "$parent"; then
        parent="/var/tmp/bulwark-$tag-pg-$(printf '%s' "$parent" | sha1sum | cut -c1-10)"
        mkdir -p "$parent"
    fi
    PG_TMP=$(mktemp -d "$parent/run.XXXXXX")
    PG_DATA="$PG_TMP/data"
    mkdir -p "$PG_TMP/socket"
    chown -R "$PG_OWNER" "$PG_TMP"
    as_pg test -w "$PG_TMP" || die "$PG_OWNER cannot write $PG_TMP (check the permissions of its parents)"
    PG_PORT=$(free_port) || die "no free TCP port for PostgreSQL"
    log "initdb in $PG_TMP (owner $PG_OWNER), port $PG_PORT"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C >"$PG_TMP/initdb.log" 2>&1 \
        || { cat "$PG_TMP/initdb.log" >&2; die "initdb failed"; }
    {
        printf '\n# %s\n' "$tag"
        printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $PG_PORT" "unix_socket_directories = '$PG_TMP/socket'"
        for line in "$@"; do printf '%s\n' "$line"; done
    } >>"$PG_DATA/postgresql.conf"
    PG_STARTED=1
    pgctl start || { tail -n 30 "$PG_TMP/postgres.log" >&2; die "PostgreSQL did not start"; }
}

# pg_throwaway_remove STOP_MODE LOG_COPY KEEP: stop the cluster (if it runs), copy its log to LOG_COPY, and
# delete it unless KEEP is 1. For an EXIT trap: it never fails.
pg_throwaway_remove() {
    local mode=$1 copy=$2 keep=$3
    if [[ $PG_STARTED -eq 1 && -f $PG_DATA/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 60 stop >/dev/null 2>&1 \
            || log "warning: pg_ctl stop failed; see $PG_TMP/postgres.log"
    fi
    [[ -n $PG_TMP ]] || return 0
    [[ -f $PG_TMP/postgres.log ]] && cp "$PG_TMP/postgres.log" "$copy"
    if [[ $keep == 1 ]]; then
        log "throwaway cluster kept in $PG_TMP (remove it by hand)"
    else
        rm -rf "$PG_TMP"
    fi
    return 0
}
