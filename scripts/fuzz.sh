#!/usr/bin/env bash
# Fuzz the HTTP API from its own OpenAPI document with schemathesis: every operation of
# `/api/openapi.json` gets generated requests, valid and invalid, and every answer must be no
# 5xx and must match the response the document declares for its status (body schema, error
# codes as enums). Exits non-zero on any failure.
#
# Usage:
#   scripts/fuzz.sh [extra `st run` options for the main pass]   # `just fuzz` calls this
#
# What it does: finds PostgreSQL + NATS (scripts/services.sh), makes a scratch database
# (dropped at exit), builds and starts `loopync serve` on a free port in development mode with
# the rate limits off (the fuzzer is one client sending thousands of requests), waits for
# /ready, signs up two users through the API, then runs schemathesis (pinned, in a venv under
# the cache directory) with scripts/fuzz.toml, signed in as the first: path ids name them (so the
# owner's answers are fuzzed, not only 404s) and transfers and payments go to the other, who
# has made them a payment to read and refund.
# Sign-out and device revocation would end the session the run uses, so they are fuzzed last,
# in a pass of their own.
#
# Knobs (environment):
#   LOOPYNC_FUZZ_EXAMPLES   test cases per operation and phase (150: about 2.5 minutes here)
#   LOOPYNC_FUZZ_SEED       the generator's seed (20261203), so a CI failure replays exactly
#   LOOPYNC_FUZZ_WORKERS    concurrent schemathesis workers (1: the seed then fixes the order of
#                           requests too, and hypothesis's caches are not shared by threads)
#   LOOPYNC_FUZZ_PROFILE    `debug` (default: an answer with an undeclared error code panics,
#                           which the fuzzer sees as a 500) or `release`
#   LOOPYNC_FUZZ_BINARY     a `loopync` binary to serve instead of building one
#   LOOPYNC_FUZZ_DIR        where the server log and JUnit reports go (kept); unset, a temporary
#                           directory, deleted after a run that passed
#   XDG_CACHE_HOME          the venv is $XDG_CACHE_HOME/loopync/fuzz-venv (~/.cache/...)
# To fuzz longer: LOOPYNC_FUZZ_EXAMPLES=500, or `scripts/fuzz.sh --max-time 1800` (fuzzing
# repeats until the time is spent), with another LOOPYNC_FUZZ_SEED for new inputs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION="4.32.5"
EXAMPLES="${LOOPYNC_FUZZ_EXAMPLES:-150}"
SEED="${LOOPYNC_FUZZ_SEED:-20261203}"
WORKERS="${LOOPYNC_FUZZ_WORKERS:-1}"
PROFILE="${LOOPYNC_FUZZ_PROFILE:-debug}"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/loopync/fuzz-venv"

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() {
    printf 'fuzz: error: %s\n' "$*" >&2
    exit 1
}

[[ "$EXAMPLES" =~ ^[1-9][0-9]*$ ]] || die "LOOPYNC_FUZZ_EXAMPLES must be a positive integer"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "LOOPYNC_FUZZ_SEED must be a non-negative integer"
case "$PROFILE" in
debug) profile_flag=() ;;
release) profile_flag=(--release) ;;
*) die "LOOPYNC_FUZZ_PROFILE must be debug or release" ;;
esac

# ------------------------------------------------------------------ schemathesis
# Pinned: a new release generates other inputs and may add checks, which is a change to make
# on purpose, not one CI picks up by itself.
if [[ "$("$VENV/bin/st" --version 2>/dev/null || true)" != *" $SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (once)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PYTHON="$VENV/bin/python"

# ------------------------------------------------------------------ the server
if [[ -n "${LOOPYNC_FUZZ_DIR:-}" ]]; then
    work="$LOOPYNC_FUZZ_DIR"
    keep_work=1
    mkdir -p "$work"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/loopync-fuzz.XXXXXX")"
    keep_work=0
fi
database="loopync_fuzz_$$"
eval "$(bash scripts/services.sh ensure --database "$database")"
export DATABASE_URL NATS_URL
server_pid=""
cleanup() {
    local status=$?
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    # The server is gone, so nothing holds a connection to the scratch database.
    local admin="${DATABASE_URL%/*}/postgres"
    psql -w -X -q -d "$admin" -c "drop database if exists \"$database\" with (force)" >/dev/null 2>&1 ||
        log "could not drop the scratch database $database"
    if ((status == 0 && !keep_work)); then
        rm -rf "$work"
    else
        log "server log and reports in $work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${LOOPYNC_FUZZ_BINARY:-}" ]]; then
    binary="$LOOPYNC_FUZZ_BINARY"
    [[ -x "$binary" ]] || die "LOOPYNC_FUZZ_BINARY=$binary is not an executable"
else
    log "building loopync ($PROFILE)"
    cargo build "${profile_flag[@]}" --bin loopync
    binary="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/loopync"
fi

port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Development mode: a random token secret and the `dev` payment provider, so top-ups succeed
# and the fuzzer reaches transfers and payments with money to move. Every rate limit off: one
# client sends everything. bcrypt at its lowest cost: the fuzzer signs in thousands of times.
# Tokens outlive a long run.
log "starting loopync serve on $base (log: $work/server.log)"
LOOPYNC_DEV_MODE=true \
    LOOPYNC_HTTP_ADDR="127.0.0.1:$port" \
    LOOPYNC_LOG_FORMAT=json \
    RUST_LOG="${RUST_LOG:-warn}" \
    LOOPYNC_OUTBOX_DIR="$work/outbox" \
    LOOPYNC_BCRYPT_COST=4 \
    LOOPYNC_ACCESS_TOKEN_TTL_SECONDS=86400 \
    LOOPYNC_RATE_LIMIT_ANONYMOUS=0 \
    LOOPYNC_RATE_LIMIT_AUTHENTICATED=0 \
    LOOPYNC_RATE_LIMIT_SIGN_IN=0 \
    LOOPYNC_RATE_LIMIT_SIGN_IN_NODE=0 \
    LOOPYNC_RATE_LIMIT_WEBHOOK=0 \
    LOOPYNC_RATE_LIMIT_OPERATIONS=0 \
    "$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!

# Plain HTTP through the venv's Python, so the script needs no other client.
http() { # http METHOD URL [JSON [TOKEN]]: prints the body; fails unless 2xx
    "$PYTHON" - "$@" <<'PY'
import sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
headers = {"Content-Type": "application/json"}
if len(sys.argv) > 4:
    headers["Authorization"] = f"Bearer {sys.argv[4]}"
request = urllib.request.Request(url, data=body, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        sys.stdout.write(response.read().decode())
except Exception as error:
    sys.exit(f"{method} {url}: {error}")
PY
}

deadline=$((SECONDS + 90))
until http GET "$base/ready" >/dev/null 2>&1; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        tail -n 30 "$work/server.log" >&2
        die "loopync serve exited before it was ready"
    fi
    ((SECONDS < deadline)) || {
        http GET "$base/ready" >&2 || true
        die "loopync serve was not ready within 90 s"
    }
    sleep 0.5
done

# ------------------------------------------------------------------ two users
signup() { # signup NAME: prints the answer's JSON
    local handle="fuzz_$1_$$"
    http POST "$base/api/auth/signup" \
        "{\"email\":\"$handle@example.com\",\"password\":\"fuzzing-password-1\",\"name\":\"$1\",\"handle\":\"$handle\"}" ||
        die "signing up $1 failed"
}
field() { # field KEY [KEY...] < JSON: prints the value at that path
    "$PYTHON" -c 'import functools, json, sys; print(functools.reduce(lambda v, k: v[k], sys.argv[1:], json.load(sys.stdin)))' "$@"
}
ada="$(signup ada)"
bob="$(signup bob)"
# Read by scripts/fuzz.toml.
export LOOPYNC_FUZZ_TOKEN LOOPYNC_FUZZ_USER_ID LOOPYNC_FUZZ_PAYEE_ID LOOPYNC_FUZZ_TOP_UP_ID LOOPYNC_FUZZ_PAYMENT_ID
LOOPYNC_FUZZ_TOKEN="$(field token <<<"$ada")"
LOOPYNC_FUZZ_USER_ID="$(field user id <<<"$ada")"
LOOPYNC_FUZZ_PAYEE_ID="$(field user id <<<"$bob")"
# Money to move, a top-up of the first user's, and a payment made to them (the payee may
# refund it) for the operations that read or refund one: random ids would only find 404.
top_up="$(http POST "$base/api/looppay/topup" '{"amount": 100000}' "$LOOPYNC_FUZZ_TOKEN")" || die "the top-up failed"
LOOPYNC_FUZZ_TOP_UP_ID="$(field topUpId <<<"$top_up")"
bob_token="$(field token <<<"$bob")"
http POST "$base/api/looppay/topup" '{"amount": 100000}' "$bob_token" >/dev/null || die "the top-up failed"
payment="$(http POST "$base/api/looppay/pay" \
    "{\"to\":\"$LOOPYNC_FUZZ_USER_ID\",\"amount\":50000,\"reference\":\"order:fuzz\"}" "$bob_token")" ||
    die "the payment failed"
LOOPYNC_FUZZ_PAYMENT_ID="$(field paymentId <<<"$payment")"
# A post of the first user's, the second's comment on it and like of it (a notification for
# the first), for the operations that name a post, a comment or a notification.
export LOOPYNC_FUZZ_POST_ID LOOPYNC_FUZZ_COMMENT_ID LOOPYNC_FUZZ_NOTIFICATION_ID LOOPYNC_FUZZ_HANDLE
LOOPYNC_FUZZ_HANDLE="$(field user handle <<<"$ada")"
post="$(http POST "$base/api/posts" '{"text": "fuzzing #fuzz", "visibility": "public"}' "$LOOPYNC_FUZZ_TOKEN")" ||
    die "the post failed"
LOOPYNC_FUZZ_POST_ID="$(field id <<<"$post")"
comment="$(http POST "$base/api/posts/$LOOPYNC_FUZZ_POST_ID/comment" '{"text": "a comment"}' "$bob_token")" ||
    die "the comment failed"
LOOPYNC_FUZZ_COMMENT_ID="$(field id <<<"$comment")"
for _ in $(seq 1 50); do
    notifications="$(http GET "$base/api/notifications" "" "$LOOPYNC_FUZZ_TOKEN")" || die "the notifications failed"
    LOOPYNC_FUZZ_NOTIFICATION_ID="$("$PYTHON" -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d[0]["id"] if d else "")' <<<"$notifications")"
    [[ -n "$LOOPYNC_FUZZ_NOTIFICATION_ID" ]] && break
    sleep 0.1
done
[[ -n "$LOOPYNC_FUZZ_NOTIFICATION_ID" ]] || die "no notification came"

# ------------------------------------------------------------------ fuzz
st_run() { # st_run REPORT-NAME [options]: one schemathesis run against the server
    local name="$1"
    shift
    "$VENV/bin/st" --config-file scripts/fuzz.toml run "$base/api/openapi.json" \
        --url "$base/api" \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --workers "$WORKERS" \
        --report junit --report-junit-path "$work/$name.xml" \
        "$@"
}

# Signing out and revoking a device (the stateful phase finds the session's id in
# `GET /auth/sessions`) end the session every other operation is fuzzed with: they go last.
ending='^/auth/(logout|sessions/[{]sessionId[}])$'
status=0
log "fuzzing every operation but those that end the session ($EXAMPLES examples each, seed $SEED)"
started=$SECONDS
st_run operations --exclude-path-regex "$ending" "$@" || status=$?
log "fuzzing sign-out and device revocation last"
st_run ending --include-path-regex "$ending" || status=$?
log "done in $((SECONDS - started)) s"

if grep -q '"level":"ERROR"' "$work/server.log"; then
    log "the server logged errors:"
    grep '"level":"ERROR"' "$work/server.log" | tail -n 20 >&2
fi
exit "$status"
