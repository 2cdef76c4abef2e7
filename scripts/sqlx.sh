#!/usr/bin/env bash
# Checked SQL: the offline cache (.sqlx/) of the sqlx query macros, which builds use instead
# of a live database (SQLX_OFFLINE=true in .cargo/config.toml).
#
# Usage:
#   scripts/sqlx.sh prepare   # regenerate .sqlx/ (then commit it)
#   scripts/sqlx.sh check     # fail if .sqlx/ does not match the queries and the migrations
#
# Both run against a scratch database of their own, made from schemas/migrations and dropped
# afterwards, on the server `scripts/services.sh ensure` finds (or starts): the cache always
# describes the migrations in the tree, never a database someone migrated by hand, and two
# runs at once never share one. Installs sqlx-cli (the version of sqlx in Cargo.lock, PostgreSQL
# only) when it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'sqlx: %s\n' "$*" >&2; }
die() {
    printf 'sqlx: error: %s\n' "$*" >&2
    exit 1
}

mode="${1:-}"
case "$mode" in
prepare | check) ;;
*) die "usage: scripts/sqlx.sh prepare|check" ;;
esac

# The CLI must match the macros' version: both read and write the cache's format.
version="$(awk '/^name = "sqlx"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
[[ -n "$version" ]] || die "no sqlx in Cargo.lock"
export PATH="$HOME/.cargo/bin:$PATH"
if [[ "$(cargo sqlx --version 2>/dev/null || true)" != *" $version" ]]; then
    log "installing sqlx-cli $version (a few minutes, once)"
    cargo install sqlx-cli --version "=$version" --no-default-features --features postgres,rustls --locked
fi

scratch="loopync_sqlx_$$"
eval "$(bash scripts/services.sh ensure --database "$scratch")"
export DATABASE_URL
trap 'sqlx database drop -y >/dev/null 2>&1 || log "could not drop the scratch database $scratch"' EXIT
sqlx migrate run --source schemas/migrations >&2

# --all-targets: queries in tests and benches are cached too.
if [[ "$mode" == check ]]; then
    cargo sqlx prepare --workspace --check -- --all-targets
else
    cargo sqlx prepare --workspace -- --all-targets
    log "updated .sqlx/: commit it with the queries"
fi
