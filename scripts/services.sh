#!/usr/bin/env bash
# Make a PostgreSQL and a NATS (with JetStream) reachable for Loopync's
# `just run`, `just test` and CI, without requiring any manual setup.
#
# Usage:
#   eval "$(scripts/services.sh ensure [--database NAME])"
#   scripts/services.sh stop     # stop the project-local servers (never system ones)
#   scripts/services.sh clean    # stop, then delete the project-local data
#   scripts/services.sh status   # report what is running, changes nothing
#
# `ensure` prints ONLY `export DATABASE_URL=...` / `export NATS_URL=...` lines
# on stdout so that callers can eval them; every diagnostic goes to stderr.
#
# Choice of server, in order (for PostgreSQL and NATS independently):
#   1. $DATABASE_URL / $NATS_URL if set and reachable,
#   2. the usual local default (127.0.0.1:5432 / 127.0.0.1:4222),
#   3. a project-local server under .data/ (started here, reused next time).
# LOOPYNC_SERVICES_LOCAL=1 skips 1 and 2 and always uses the project-local ones.
#
# Knobs (environment):
#   LOOPYNC_SERVICES_LOCAL=1   force the project-local servers
#   LOOPYNC_NO_APT=1           never apt-get install missing server binaries
#   LOOPYNC_PG_PORT            port of the project-local PostgreSQL (54329)
#   LOOPYNC_NATS_PORT          port of the project-local NATS (42229)
#   LOOPYNC_DATA_DIR           where project-local state lives (<repo>/.data)
#   LOOPYNC_SERVICES_TIMEOUT   seconds to wait for readiness (30)
#   LOOPYNC_PG_OS_USER         as root: OS user owning the local cluster (postgres)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${LOOPYNC_DATA_DIR:-$ROOT/.data}"
PG_PORT="${LOOPYNC_PG_PORT:-54329}"
NATS_PORT="${LOOPYNC_NATS_PORT:-42229}"
TIMEOUT="${LOOPYNC_SERVICES_TIMEOUT:-30}"

DEFAULT_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_NATS_URL="nats://127.0.0.1:4222"
LOCAL_PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
LOCAL_NATS_URL="nats://127.0.0.1:${NATS_PORT}"

NATS_DIR="$DATA_DIR/nats"
NATS_PID="$DATA_DIR/nats.pid"
NATS_LOG="$DATA_DIR/nats.log"

# Never hang on an unreachable or password-protected server: psql/pg_isready
# honour these, and `-w` below forbids password prompts (CI has no stdin).
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-3}"

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }
force_local() { [[ "${LOOPYNC_SERVICES_LOCAL:-0}" =~ ^(1|true|yes|on)$ ]]; }

# ---------------------------------------------------------------- URL helpers

# Replace the database (path) part of a postgres:// URL, keeping user,
# password, host, port and ?query intact. Non-URL conninfo strings
# ("host=... dbname=...") are returned unchanged.
pg_url_with_db() {
    local url="$1" db="$2" query="" scheme rest authority
    if [[ "$url" != *://* ]]; then
        printf '%s' "$url"
        return
    fi
    if [[ "$url" == *\?* ]]; then
        query="?${url#*\?}"
        url="${url%%\?*}"
    fi
    scheme="${url%%://*}"
    rest="${url#*://}"
    authority="${rest%%/*}"
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

# Database name of a postgres:// URL (empty if none given).
pg_url_db() {
    local url="${1%%\?*}" rest
    rest="${url#*://}"
    [[ "$rest" == */* ]] || return 0
    printf '%s' "${rest#*/}"
}

# host and port (space separated) of the first server of a nats:// URL.
nats_host_port() {
    local url="$1" hostport
    url="${url#*://}"          # drop scheme (nats://, tls://, ...)
    url="${url%%,*}"           # a URL list: check the first server
    url="${url%%/*}"
    hostport="${url##*@}"      # drop user:pass@ / token@
    if [[ "$hostport" == \[*\]:* ]]; then # [ipv6]:port
        printf '%s %s' "${hostport%%]:*}]" "${hostport##*]:}"
    elif [[ "$hostport" == *:* ]]; then
        printf '%s %s' "${hostport%%:*}" "${hostport##*:}"
    else
        printf '%s %s' "$hostport" 4222
    fi
}

# ------------------------------------------------------------------ discovery

# Directory holding initdb + pg_ctl + postgres. On Debian they live in
# /usr/lib/postgresql/<ver>/bin and are not on PATH, so look there too
# (newest version first).
find_pg_bindir() {
    local candidates=() dir p
    for p in pg_ctl initdb postgres; do
        if command -v "$p" >/dev/null 2>&1; then
            candidates+=("$(dirname "$(readlink -f "$(command -v "$p")")")")
        fi
    done
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r || true)
    candidates+=(/usr/local/pgsql/bin)
    for dir in "${candidates[@]}"; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            printf '%s' "$dir"
            return 0
        fi
    done
    return 1
}

find_nats_server() {
    local p
    for p in "$(command -v nats-server 2>/dev/null || true)" /usr/sbin/nats-server /usr/local/bin/nats-server; do
        if [[ -n "$p" && -x "$p" ]]; then
            printf '%s' "$p"
            return 0
        fi
    done
    return 1
}

# Install Debian packages when we may (root + apt-get + not opted out);
# otherwise tell the user exactly what to install and fail.
install_packages() {
    local why="$1"
    shift
    if [[ -z "${LOOPYNC_NO_APT:-}" ]] && is_root && command -v apt-get >/dev/null 2>&1; then
        log "$why: installing $* with apt-get"
        # Everything to stderr: stdout is reserved for the export lines.
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
        return 0
    fi
    # Name every missing server package at once, not one per failed run.
    local pkgs=("$@")
    if [[ " ${pkgs[*]} " != *" postgresql "* ]] && ! find_pg_bindir >/dev/null; then
        pkgs+=(postgresql)
    fi
    if [[ " ${pkgs[*]} " != *" nats-server "* ]] && ! find_nats_server >/dev/null; then
        pkgs+=(nats-server)
    fi
    printf 'services: error: %s.\n' "$why" >&2
    printf 'services: install the missing packages and retry:\n' >&2
    printf 'services:   Debian/Ubuntu: sudo apt-get install -y %s\n' "${pkgs[*]}" >&2
    printf 'services:   macOS (Homebrew): brew install postgresql@15 nats-server\n' >&2
    printf 'services: (or point DATABASE_URL / NATS_URL at running servers)\n' >&2
    exit 1
}

need_pg_client() {
    if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
        install_packages "psql/pg_isready (PostgreSQL client) not found" postgresql-client
    fi
}

# --------------------------------------------------------------- reachability

# A server counts as reachable when we can actually run a query, not merely
# when the port is open: a wrong password would otherwise surface much later.
# The target database may not exist yet, so fall back to its `postgres`
# maintenance database.
pg_reachable() {
    local url="$1"
    pg_isready -q -d "$url" >/dev/null 2>&1 || return 1
    psql -w -X -q -At -d "$url" -c 'select 1' >/dev/null 2>&1 && return 0
    psql -w -X -q -At -d "$(pg_url_with_db "$url" postgres)" -c 'select 1' >/dev/null 2>&1
}

# NATS greets every client with an `INFO {json}` line; reading it proves the
# port is a NATS server (not just any listener) and tells whether JetStream
# is enabled, which Loopync requires.
nats_info() {
    local host="$1" port="$2"
    # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash.
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r line <&3 && printf "%s" "$line"' _ "$host" "$port" 2>/dev/null
}

nats_reachable() {
    local host port info
    read -r host port <<<"$(nats_host_port "$1")"
    info="$(nats_info "$host" "$port")" || return 1
    [[ "$info" == INFO* ]] || return 1
    if [[ "$info" != *'"jetstream":true'* ]]; then
        log "NATS at $host:$port is up but JetStream is disabled (start it with -js); not using it"
        return 1
    fi
}

# ----------------------------------------------------------- local PostgreSQL

# PostgreSQL refuses to run as root, so as root the project-local cluster is
# owned by and run as an unprivileged OS user (the `postgres` one the Debian
# package creates, else `nobody`).
pg_os_user() {
    if [[ -n "${LOOPYNC_PG_OS_USER:-}" ]]; then
        printf '%s' "$LOOPYNC_PG_OS_USER"
    elif id postgres >/dev/null 2>&1; then
        printf postgres
    else
        printf nobody
    fi
}

# Run a command as the cluster's OS user (from /, which that user can always
# enter: our cwd may be an unreadable home directory).
as_pg() {
    if is_root; then
        local user
        user="$(pg_os_user)"
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$user" -- "$@")
        else
            (cd / && su -s /bin/sh "$user" -c "$(printf '%q ' "$@")")
        fi
    else
        "$@"
    fi
}

# Where the local cluster lives: normally .data/ (data in .data/postgres, log
# .data/postgres.log, sockets in .data/pgsock). As root, the unprivileged
# cluster user must be able to reach that directory; when the checkout sits
# somewhere it cannot enter (e.g. under /root, mode 700), use a per-checkout
# directory under /tmp instead.
pg_base_fallback() {
    printf '%s/loopync-pg-%s' "${TMPDIR:-/tmp}" "$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
}

pg_base() {
    if is_root; then
        mkdir -p "$DATA_DIR"
        if ! as_pg test -x "$DATA_DIR" 2>/dev/null; then
            pg_base_fallback
            return
        fi
    fi
    printf '%s' "$DATA_DIR"
}

# Every place a previous run may have put the local cluster (for stop/clean).
pg_bases_all() {
    printf '%s\n' "$DATA_DIR"
    local fb
    fb="$(pg_base_fallback)"
    [[ -d "$fb" ]] && printf '%s\n' "$fb"
    return 0
}

pg_local_running() {
    local bindir="$1" pgdata="$2"
    [[ -f "$pgdata/PG_VERSION" ]] || return 1
    as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1
}

start_local_pg() {
    local bindir base pgdata sockdir pglog user
    bindir="$(find_pg_bindir)" || {
        install_packages "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found" postgresql
        bindir="$(find_pg_bindir)" || die "PostgreSQL server binaries still not found after installing"
    }
    base="$(pg_base)"
    pgdata="$base/postgres"
    sockdir="$base/pgsock"
    pglog="$base/postgres.log"
    mkdir -p "$base" "$sockdir"
    touch "$pglog"
    if is_root; then
        user="$(pg_os_user)"
        mkdir -p "$pgdata"
        chown "$user" "$pgdata" "$sockdir" "$pglog"
        chmod 700 "$pgdata"
    fi

    if [[ ! -f "$pgdata/PG_VERSION" ]]; then
        log "initialising project-local PostgreSQL cluster in $pgdata ($bindir)"
        # trust auth + superuser `postgres`: a throwaway dev/test cluster that
        # only listens on 127.0.0.1. --no-sync only skips initdb's final fsync.
        as_pg "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C --no-sync >>"$pglog" 2>&1 ||
            die "initdb failed, see $pglog"
        printf "\n# Written by scripts/services.sh on every start.\ninclude_if_exists = 'loopync.conf'\n" \
            >>"$pgdata/postgresql.conf"
    fi

    if pg_local_running "$bindir" "$pgdata"; then
        log "project-local PostgreSQL already running ($pgdata)"
    else
        if pg_isready -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; then
            die "port $PG_PORT is in use by a server this checkout did not start; set LOOPYNC_PG_PORT to another port"
        fi
        # Unix socket paths are limited to 107 bytes; if the checkout path is
        # too long, listen on TCP only (all our URLs use TCP anyway).
        local sockets="$sockdir"
        if ((${#sockdir} + 20 > 107)); then
            sockets=""
        fi
        # Regenerated each start so a moved checkout or new port just works.
        {
            printf "port = %s\n" "$PG_PORT"
            printf "listen_addresses = '127.0.0.1'\n"
            printf "unix_socket_directories = '%s'\n" "$sockets"
        } >"$pgdata/loopync.conf"
        is_root && chown "$(pg_os_user)" "$pgdata/loopync.conf"
        log "starting project-local PostgreSQL on 127.0.0.1:$PG_PORT (log: $pglog)"
        # -l sends the server's output to the log, so it does not hold our
        # stdout open (that would hang `eval "$(... ensure)"`).
        as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$pglog" -w -t "$TIMEOUT" start >&2 || {
            tail -n 20 "$pglog" >&2 || true
            die "project-local PostgreSQL did not start within ${TIMEOUT}s (port $PG_PORT in use? see $pglog)"
        }
    fi

    local deadline=$((SECONDS + TIMEOUT))
    until pg_reachable "$LOCAL_PG_URL"; do
        ((SECONDS < deadline)) || die "project-local PostgreSQL on port $PG_PORT is not accepting queries (see $pglog)"
        sleep 0.2
    done
}

# Prints the chosen server URL (database part as the user/default gave it).
choose_pg() {
    need_pg_client
    if ! force_local; then
        if [[ -n "${DATABASE_URL:-}" ]]; then
            if pg_reachable "$DATABASE_URL"; then
                log "PostgreSQL: using DATABASE_URL from the environment"
                printf '%s' "$DATABASE_URL"
                return
            fi
            log "PostgreSQL: DATABASE_URL is set but not reachable; trying others"
        fi
        if pg_reachable "$DEFAULT_PG_URL"; then
            log "PostgreSQL: using the server on 127.0.0.1:5432"
            printf '%s' "$DEFAULT_PG_URL"
            return
        fi
    else
        log "PostgreSQL: LOOPYNC_SERVICES_LOCAL is set, using the project-local server"
    fi
    start_local_pg
    log "PostgreSQL: using the project-local server on 127.0.0.1:$PG_PORT"
    printf '%s' "$LOCAL_PG_URL"
}

# Create database $2 on the server of URL $1 unless it exists.
ensure_database() {
    local url="$1" db="$2" admin exists
    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name '$db' must match [A-Za-z_][A-Za-z0-9_]*"
    admin="$(pg_url_with_db "$url" postgres)"
    exists="$(psql -w -X -q -At -d "$admin" -c "select 1 from pg_database where datname = '$db'" 2>/dev/null || true)"
    [[ "$exists" == 1 ]] && return 0
    log "creating database $db"
    # Tolerate a concurrent `ensure` winning the race: re-check on failure.
    if ! psql -w -X -q -d "$admin" -c "create database \"$db\"" >/dev/null 2>&1; then
        exists="$(psql -w -X -q -At -d "$admin" -c "select 1 from pg_database where datname = '$db'" 2>/dev/null || true)"
        [[ "$exists" == 1 ]] || die "could not create database $db (does the user have CREATEDB?)"
    fi
}

# ----------------------------------------------------------------- local NATS

nats_local_pid() {
    local pid
    [[ -f "$NATS_PID" ]] || return 1
    pid="$(tr -dc '0-9' <"$NATS_PID")"
    [[ -n "$pid" ]] || return 1
    # Make sure a recycled pid is not some unrelated process.
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || echo nats-server)" == nats-server* ]] || return 1
    printf '%s' "$pid"
}

start_local_nats() {
    local bin
    if nats_local_pid >/dev/null && nats_reachable "$LOCAL_NATS_URL"; then
        log "project-local NATS already running (pid $(nats_local_pid))"
        return
    fi
    bin="$(find_nats_server)" || {
        install_packages "nats-server not found" nats-server
        bin="$(find_nats_server)" || die "nats-server still not found after installing"
    }
    # Something else already on our port (another checkout's NATS, say)
    # would otherwise be mistaken for the server we are about to start.
    if nats_info 127.0.0.1 "$NATS_PORT" >/dev/null; then
        die "port $NATS_PORT is in use by a process this checkout did not start; set LOOPYNC_NATS_PORT to another port"
    fi
    mkdir -p "$NATS_DIR"
    rm -f "$NATS_PID"
    log "starting project-local NATS (JetStream) on 127.0.0.1:$NATS_PORT (log: $NATS_LOG)"
    # setsid: its own session, so a Ctrl-C in the terminal that ran
    # `just test` does not kill it. All fds redirected: a child holding our
    # stdout would make `$(services.sh ensure)` wait forever.
    local detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid)
    # shellcheck disable=SC2094 # nats-server appends to its -l log; early
    # errors (before it opens the log) land there too via our redirect.
    ${detach[@]+"${detach[@]}"} "$bin" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$NATS_DIR" \
        -P "$NATS_PID" -l "$NATS_LOG" </dev/null >>"$NATS_LOG" 2>&1 &
    local launcher=$!
    local deadline=$((SECONDS + TIMEOUT))
    until nats_reachable "$LOCAL_NATS_URL"; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$NATS_LOG" >&2 || true
            die "project-local NATS did not accept connections within ${TIMEOUT}s (port $NATS_PORT in use? see $NATS_LOG)"
        fi
        if ! kill -0 "$launcher" 2>/dev/null && ! nats_local_pid >/dev/null; then
            tail -n 20 "$NATS_LOG" >&2 || true
            die "project-local NATS exited during startup (see $NATS_LOG)"
        fi
        sleep 0.2
    done
}

choose_nats() {
    if ! force_local; then
        if [[ -n "${NATS_URL:-}" ]]; then
            if nats_reachable "$NATS_URL"; then
                log "NATS: using NATS_URL from the environment"
                printf '%s' "$NATS_URL"
                return
            fi
            log "NATS: NATS_URL is set but not reachable; trying others"
        fi
        if nats_reachable "$DEFAULT_NATS_URL"; then
            log "NATS: using the server on 127.0.0.1:4222"
            printf '%s' "$DEFAULT_NATS_URL"
            return
        fi
    else
        log "NATS: LOOPYNC_SERVICES_LOCAL is set, using the project-local server"
    fi
    start_local_nats
    log "NATS: using the project-local server on 127.0.0.1:$NATS_PORT"
    printf '%s' "$LOCAL_NATS_URL"
}

# ------------------------------------------------------------------ commands

cmd_ensure() {
    local database=""
    while (($#)); do
        case "$1" in
        --database)
            [[ $# -ge 2 ]] || die "--database needs a name"
            database="$2"
            shift 2
            ;;
        --database=*)
            database="${1#*=}"
            shift
            ;;
        *) die "ensure: unknown argument '$1' (usage: ensure [--database NAME])" ;;
        esac
    done

    local pg_url nats_url db
    pg_url="$(choose_pg)"
    nats_url="$(choose_nats)"

    # An explicit --database always wins. Otherwise keep a user-supplied URL
    # exactly as given (only its database is created if missing), and point
    # our own defaults at the `loopync` database.
    if [[ -n "$database" ]]; then
        pg_url="$(pg_url_with_db "$pg_url" "$database")"
    elif [[ "$pg_url" != "${DATABASE_URL:-}" ]]; then
        pg_url="$(pg_url_with_db "$pg_url" loopync)"
    fi
    db="$(pg_url_db "$pg_url")"
    if [[ -n "$db" && "$db" != postgres && "$pg_url" == *://* ]]; then
        ensure_database "$pg_url" "$db"
    fi

    log "DATABASE_URL=$pg_url NATS_URL=$nats_url"
    printf 'export DATABASE_URL=%q\n' "$pg_url"
    printf 'export NATS_URL=%q\n' "$nats_url"
}

stop_local_pg() {
    local bindir base pgdata stopped=0
    bindir="$(find_pg_bindir)" || return 0 # no binaries: nothing of ours can run
    while IFS= read -r base; do
        pgdata="$base/postgres"
        if pg_local_running "$bindir" "$pgdata"; then
            log "stopping project-local PostgreSQL ($pgdata)"
            as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t "$TIMEOUT" stop >&2
            stopped=1
        fi
    done < <(pg_bases_all)
    ((stopped)) || log "project-local PostgreSQL is not running"
}

stop_local_nats() {
    local pid
    if ! pid="$(nats_local_pid)"; then
        log "project-local NATS is not running"
        rm -f "$NATS_PID"
        return 0
    fi
    log "stopping project-local NATS (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "NATS did not exit within ${TIMEOUT}s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$NATS_PID"
}

cmd_stop() {
    stop_local_pg
    stop_local_nats
}

cmd_clean() {
    cmd_stop
    local base
    while IFS= read -r base; do
        if [[ "$base" != "$DATA_DIR" ]]; then
            log "removing $base"
            rm -rf -- "$base"
        fi
    done < <(pg_bases_all)
    log "removing $DATA_DIR"
    rm -rf -- "$DATA_DIR"
}

cmd_status() {
    local url
    for url in ${DATABASE_URL:+"$DATABASE_URL"} "$DEFAULT_PG_URL" "$LOCAL_PG_URL"; do
        if command -v pg_isready >/dev/null 2>&1 && pg_reachable "$url"; then
            log "PostgreSQL up:   $url"
        else
            log "PostgreSQL down: $url"
        fi
    done
    for url in ${NATS_URL:+"$NATS_URL"} "$DEFAULT_NATS_URL" "$LOCAL_NATS_URL"; do
        if nats_reachable "$url"; then
            log "NATS up:         $url"
        else
            log "NATS down:       $url"
        fi
    done
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    ensure) cmd_ensure "$@" ;;
    stop) cmd_stop ;;
    clean) cmd_clean ;;
    status) cmd_status ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage
        exit 2
        ;;
    esac
}

main "$@"
