//! The HTTP app end to end, on a real socket against a fresh PostgreSQL database per test
//! (`DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and NATS (`NATS_URL`,
//! default `nats://127.0.0.1:4222`). One test binary, so the app is compiled and linked once.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;
mod authorization;
mod bad_text;
mod contract;
mod errors;
mod idempotency_keys;
mod json_types;
mod operations;
mod read_your_writes;
mod revocation;
mod sample;
