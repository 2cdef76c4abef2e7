//! Identity end to end: sign-up, sign-in, tokens, sessions, recovery, phone codes, profiles,
//! authorization and what must never leak, over HTTP on a real socket against a fresh
//! PostgreSQL database per test (`DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
//! One test binary, so the app is compiled and linked once.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod authorization;
mod logs;
mod phone;
mod profiles;
mod recovery;
mod sessions;
mod signup_login;
mod tokens;
