# shellcheck shell=bash
# A throwaway PostgreSQL server for the test suite.
#
# Sourced by .ci/run; also usable on its own to run any command against a fresh server:
#
#     bash .ci/postgres.sh .venv/bin/python -m pytest tests/integration
#
# start_postgres finds pg_ctl/initdb (PATH, then Debian's /usr/lib/postgresql/*/bin), installs the
# distribution's `postgresql` package with apt when they are missing and we are root, creates a
# cluster in a temporary folder (trust authentication, owned by the `postgres` user when running
# as root), starts it on 127.0.0.1 at a free port with its unix socket in that folder, creates the
# database ssp_test and exports
#
#     SSP_LEDGER_TEST_POSTGRES=postgresql://postgres@127.0.0.1:PORT/ssp_test
#     SSP_LEDGER_REQUIRE_POSTGRES=1      (the PostgreSQL tests then fail instead of skipping)
#
# stop_postgres stops it and removes the folder (start_postgres installs it as an EXIT trap).
# When no server can be had (no apt, not root, ...), start_postgres prints a loud warning and
# returns 0 without exporting anything: the PostgreSQL tests then skip, saying how to enable them.
# Set SSP_LEDGER_TEST_POSTGRES yourself to use an existing server instead; set
# SSP_LEDGER_CI_POSTGRES=skip to run without PostgreSQL.

PG_BIN_GLOB=${PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}
_PG_DIR=""
_PG_BIN=""
_PG_AS=()

_pg_warn() {
    {
        echo
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo "!!! WARNING: $*"
        echo "!!! The PostgreSQL tests will be SKIPPED. To run them, install PostgreSQL"
        echo "!!! (Debian: apt-get install postgresql) or point SSP_LEDGER_TEST_POSTGRES at a"
        echo "!!! server: postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME"
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo
    } >&2
}

_pg_find_bin() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    # Debian/Ubuntu keep the server binaries off PATH; take the newest version.
    # shellcheck disable=SC2086  # the glob must expand
    dir=$(ls -d $PG_BIN_GLOB 2>/dev/null | sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
        echo "$dir"
        return 0
    fi
    return 1
}

_pg_install() {
    if [[ $(id -u) -ne 0 ]]; then
        _pg_warn "pg_ctl/initdb not found and not running as root: cannot install PostgreSQL"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        _pg_warn "pg_ctl/initdb not found and apt-get is unavailable: cannot install PostgreSQL"
        return 1
    fi
    echo "== installing PostgreSQL from the distribution's packages (apt-get)"
    # Do not let the package create and start its own 'main' cluster: we make a throwaway one.
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends postgresql >/dev/null; }; then
        _pg_warn "apt-get install postgresql failed"
        return 1
    fi
}

# Run a PostgreSQL program (as the postgres user when we are root) from the cluster's folder, so
# it never tries to enter a working directory that user may not read.
_pg_run() {
    (cd "$_PG_DIR" && "${_PG_AS[@]}" "$@")
}

_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_postgres() {
    if [[ -n "$_PG_DIR" && -d "$_PG_DIR" ]]; then
        if [[ -f "$_PG_DIR/data/postmaster.pid" ]]; then
            _pg_run "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -m immediate -w stop \
                >/dev/null 2>&1 || true
        fi
        rm -rf "$_PG_DIR"
    fi
    _PG_DIR=""
}

start_postgres() {
    if [[ "${SSP_LEDGER_CI_POSTGRES:-}" == "skip" ]]; then
        _pg_warn "SSP_LEDGER_CI_POSTGRES=skip"
        return 0
    fi
    if [[ -n "${SSP_LEDGER_TEST_POSTGRES:-}" ]]; then
        echo "== PostgreSQL: using SSP_LEDGER_TEST_POSTGRES from the environment"
        return 0
    fi
    local started=$SECONDS port
    if ! _PG_BIN=$(_pg_find_bin); then
        _pg_install || return 0
        if ! _PG_BIN=$(_pg_find_bin); then
            _pg_warn "PostgreSQL was installed but pg_ctl/initdb are still not found"
            return 0
        fi
    fi
    if [[ $(id -u) -eq 0 ]]; then
        _PG_DIR=$(mktemp -d /tmp/ssp-ledger-pg.XXXXXX)  # the postgres user must reach it
    else
        _PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ssp-ledger-pg.XXXXXX")
    fi
    trap stop_postgres EXIT
    if [[ $(id -u) -eq 0 ]]; then
        # initdb and postgres refuse to run as root: run them as the postgres user.
        if ! id postgres >/dev/null 2>&1; then
            _pg_warn "running as root and there is no 'postgres' user to run the server as"
            stop_postgres
            return 0
        fi
        chown postgres: "$_PG_DIR"
        if command -v runuser >/dev/null 2>&1; then
            _PG_AS=(runuser -u postgres --)
        else
            _PG_AS=(sudo -u postgres)
        fi
    fi
    port=$(_pg_free_port)
    if ! _pg_run "$_PG_BIN/initdb" -D "$_PG_DIR/data" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync >"$_PG_DIR/initdb.log" 2>&1; then
        cat "$_PG_DIR/initdb.log" >&2
        _pg_warn "initdb failed (output above)"
        stop_postgres
        return 0
    fi
    # A throwaway cluster: durability settings off for speed.
    if ! _pg_run "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -l "$_PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $_PG_DIR -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
        cat "$_PG_DIR/server.log" >&2 || true
        _pg_warn "the PostgreSQL server did not start (log above)"
        stop_postgres
        return 0
    fi
    if ! _pg_run "$_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres ssp_test; then
        _pg_warn "createdb ssp_test failed"
        stop_postgres
        return 0
    fi
    export SSP_LEDGER_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/ssp_test"
    export SSP_LEDGER_REQUIRE_POSTGRES=1
    echo "== PostgreSQL $("$_PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port" \
         "(data in $_PG_DIR, up in $((SECONDS - started)) s)"
}

# Run on its own: start a server, run the given command against it, stop the server.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    start_postgres
    if [[ $# -gt 0 ]]; then
        "$@"
    else
        echo "SSP_LEDGER_TEST_POSTGRES=${SSP_LEDGER_TEST_POSTGRES:-}"
    fi
fi
