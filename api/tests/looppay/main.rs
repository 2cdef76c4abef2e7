//! LoopPay end to end: top-ups, transfers, payments, refunds, statements, idempotency, bad
//! input, authorization, provider webhooks, ledger history and its hash chain, live balance
//! updates, pending top-ups (the cap under racing starts, expiry, late confirmations), and
//! the invariants under concurrency (money conserved, hot wallets, hold expiry with two
//! workers and with no projection running, refunds, confirmations and transfers racing on two nodes), over HTTP on a real socket against a fresh PostgreSQL database per test
//! (`DATABASE_URL`; the live-update and read-your-writes tests also need NATS at `NATS_URL`).
//! With the whole product's APIs mounted, this binary also holds read-your-writes per session
//! for every command and read of identity and LoopPay, on one node and across two. One test
//! binary, so the app is compiled and linked once.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authorization;
mod bad_input;
mod flows;
mod history;
mod hold_expiry;
mod hot_wallet;
mod idempotency;
mod invariants;
mod live;
mod pending_top_ups;
mod read_your_writes;
mod two_nodes;
mod webhooks;
