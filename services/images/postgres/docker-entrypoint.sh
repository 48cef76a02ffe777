#!/usr/bin/env bash
# Entrypoint of the postgres stand-in (see the Dockerfile beside it). As root it gives PGDATA to
# the postgres user and runs itself again as that user; as postgres, on an empty data directory,
# it initialises the cluster from POSTGRES_* and runs /docker-entrypoint-initdb.d against a
# server on the Unix socket only; then it replaces itself with the server.
set -Eeuo pipefail

log() { echo "$(date '+%F %T') entrypoint: $*"; }

init_cluster() {
    if [[ -z ${POSTGRES_PASSWORD:-} && ${POSTGRES_HOST_AUTH_METHOD:-} != trust ]]; then
        log "error: the database is uninitialised and POSTGRES_PASSWORD is not set;" \
            "set it (or POSTGRES_HOST_AUTH_METHOD=trust, which lets anyone in)" >&2
        exit 1
    fi
    log "initialising a cluster in $PGDATA for user $POSTGRES_USER"
    # shellcheck disable=SC2086 - POSTGRES_INITDB_ARGS holds several options
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
        ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
    # Local connections stay as initdb left them (trust); other hosts need the password.
    printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

run_init_scripts() {
    # The init-time server: Unix socket only, so nothing outside the container (and no TCP
    # healthcheck) can reach it before the scripts have run.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    if [[ $POSTGRES_DB != postgres ]]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
    fi
    local file
    for file in /docker-entrypoint-initdb.d/*; do
        [[ -e $file ]] || continue
        case "$file" in
            *.sh)
                if [[ -x $file ]]; then
                    log "running $file"; "$file"
                else
                    log "sourcing $file"
                    # shellcheck disable=SC1090
                    . "$file"
                fi ;;
            *.sql)    log "running $file"; psql_init --dbname "$POSTGRES_DB" -f "$file" ;;
            *.sql.gz) log "running $file"; gunzip -c "$file" | psql_init --dbname "$POSTGRES_DB" ;;
            *.sql.xz) log "running $file"; xzcat "$file" | psql_init --dbname "$POSTGRES_DB" ;;
            *)        log "ignoring $file" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    log "initialisation complete; starting the server"
}

if [[ ${1:0:1} == - ]]; then
    set -- postgres "$@"
fi

if [[ $1 == postgres && $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chown postgres:postgres /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ $1 == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    export POSTGRES_USER=${POSTGRES_USER:-postgres}
    export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    export PGPASSWORD=${PGPASSWORD:-${POSTGRES_PASSWORD:-}}
    init_cluster
    run_init_scripts
    unset PGPASSWORD
fi

exec "$@"
