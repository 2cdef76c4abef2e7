# Loopync backend task runner. `just` lists the recipes; see README.md.
#
# Recipes that need PostgreSQL/NATS call `scripts/services.sh ensure`, which
# reuses $DATABASE_URL/$NATS_URL or the local 5432/4222 servers when they are
# reachable and otherwise starts project-local ones under .data/.
# Multi-step recipes are bash scripts (shebang recipes) because each line of a
# plain recipe runs in its own shell and would lose the exported URLs.

# Load .env if present (never .env.example): a fresh clone needs no .env.
set dotenv-load
set shell := ["bash", "-euo", "pipefail", "-c"]
# Pass recipe arguments as "$@" so arguments containing spaces survive.
set positional-arguments

# Crates the pure domain crate must never depend on (no async, no I/O).
domain_forbidden := "tokio sqlx poem poem-openapi async-nats object_store reqwest mio"

# List the available recipes
default:
    @{{ just_executable() }} --justfile {{ quote(justfile()) }} --list --unsorted

# Ensure PostgreSQL + NATS, migrate the `loopync` database, then serve the API on :8080
run:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure)"
    cargo run --release --bin loopync -- migrate
    # Development mode: a random token secret and the `dev` payment provider (top-ups confirmed
    # at once) are allowed here, and the server logs that they are in use. A server started
    # any other way refuses them.
    export LOOPYNC_DEV_MODE="${LOOPYNC_DEV_MODE:-true}"
    exec cargo run --release --bin loopync -- serve

# Run all tests against PostgreSQL + NATS (extra args go to nextest and skip the doctests)
test *args:
    #!/usr/bin/env bash
    set -euo pipefail
    # sqlx::test creates a fresh database per test from DATABASE_URL, so hand
    # it the server's maintenance database rather than `loopync`.
    eval "$(bash scripts/services.sh ensure --database postgres)"
    export DATABASE_URL NATS_URL
    export RUST_LOG="${RUST_LOG:-warn}"
    status=0
    # Doctests first (nextest cannot run them) so that the runner's summary
    # of the main suite is the last thing printed.
    if [[ $# -eq 0 ]]; then
        echo "==> doctests" >&2
        cargo test --workspace --doc --exclude loopync-bench || status=$?
    fi
    echo "==> tests" >&2
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --exclude loopync-bench --no-fail-fast "$@" || status=$?
    else
        echo "cargo-nextest not found; falling back to cargo test (cargo install cargo-nextest --locked)" >&2
        cargo test --workspace --exclude loopync-bench --no-fail-fast "$@" || status=$?
    fi
    exit "$status"

# Fuzz every API operation from the OpenAPI document with schemathesis against a served scratch database: no 5xx, every answer as documented (extra args go to `st run`)
fuzz *args:
    bash scripts/fuzz.sh "$@"

# Check formatting, clippy (warnings are errors), the domain crate's purity and the checked SQL's cache
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    {{ just_executable() }} --justfile {{ quote(justfile()) }} domain-purity
    {{ just_executable() }} --justfile {{ quote(justfile()) }} sqlx-check

# Fail if .sqlx/ (the checked SQL's offline cache) does not match the queries and migrations
sqlx-check:
    bash scripts/sqlx.sh check

# Regenerate .sqlx/ after changing a query on a migration-owned table (commit it with the query)
sqlx-prepare:
    bash scripts/sqlx.sh prepare

# Fail if loopync-domain (normal deps) pulls in an async/I/O crate
domain-purity:
    #!/usr/bin/env bash
    set -euo pipefail
    deps="$(cargo tree -p loopync-domain -e normal --prefix none | awk '{print $1}' | sort -u)"
    bad=()
    for crate in {{ domain_forbidden }}; do
        if grep -qx -- "$crate" <<<"$deps"; then
            bad+=("$crate")
        fi
    done
    if ((${#bad[@]})); then
        for crate in "${bad[@]}"; do
            echo "error: loopync-domain must stay free of I/O and async, but depends on \`$crate\` via:" >&2
            cargo tree -p loopync-domain -e normal -i "$crate" >&2 || true
        done
        exit 1
    fi
    echo "loopync-domain is pure: none of {{ domain_forbidden }}" >&2

# Format all code
fmt:
    cargo fmt --all

# Regenerate the JSON Schemas of the events under schemas/events/
schemas:
    cargo run -p loopync-schemas --bin export-schemas

# Ensure PostgreSQL + NATS and apply the database migrations
migrate:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure)"
    cargo run --release --bin loopync -- migrate

# Run the core benchmark against PostgreSQL + NATS (extra args go to bench-core)
bench-core *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure)"
    cargo run --release -p loopync-bench --bin bench-core -- "$@"

# Run the identity benchmark: logins/s and refreshes/s at C = 8, the JWT check per request
bench-auth *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure --database postgres)"
    cargo run --release -p loopync-bench --bin bench-auth -- "$@"

# Run the LoopPay ledger benchmark: transfers/s at C = 1, 8, 32 in process and over HTTP, next to the pgbench ceiling
bench-ledger *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure --database postgres)"
    cargo run --release -p loopync-bench --bin bench-ledger -- "$@"

# Run the social benchmark: 100k users, 1M posts, the feed and a hot post's likes (extra args go to bench-social)
bench-social *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure --database postgres)"
    cargo run --release -p loopync-bench --bin bench-social -- "$@"

# Run the realtime gateway benchmark: idle WebSockets per node, command-to-frame latency, fan-out (server in its own process)
bench-realtime *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure --database postgres)"
    # Both ends of every socket are descriptors: take the hard limit (10,000 idle clients need ~10,100 here).
    ulimit -n "$(ulimit -Hn)"
    cargo build --release -p loopync --bin loopync
    cargo run --release -p loopync-bench --bin bench-realtime -- --server-bin "${CARGO_TARGET_DIR:-target}/release/loopync" "$@"

# Run the read-your-writes benchmark: reads with nothing to wait for and write-then-read pairs, memory on against off
bench-ryw *args:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/services.sh ensure --database postgres)"
    cargo run --release -p loopync-bench --bin bench-ryw -- "$@"

# Start (or find) PostgreSQL + NATS and print their URLs as export lines
services:
    bash scripts/services.sh ensure

# Stop the project-local PostgreSQL + NATS (never the system ones)
services-stop:
    bash scripts/services.sh stop

# Stop the project-local PostgreSQL + NATS and delete their data (.data/)
services-clean:
    bash scripts/services.sh clean
