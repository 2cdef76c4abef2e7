//! The senders against real sockets and real files: an SMTP server and an HTTP server started
//! inside the tests on 127.0.0.1, and an outbox in a fresh temporary directory per test. No
//! transport is mocked. One test binary, so the crate is linked once.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod outbox;
mod recording;
mod smtp;
mod smtp_sink;
mod webhook;
