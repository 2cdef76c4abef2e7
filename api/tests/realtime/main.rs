//! The realtime gateway end to end: WebSocket clients (tokio-tungstenite) against one or two
//! app nodes sharing a fresh PostgreSQL database per test and NATS (`NATS_URL`), with the
//! projections running, so every durable frame comes from a real command.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audience;
mod auth;
mod bad_input;
mod client;
mod cursors;
mod delivery;
mod deployments;
mod ephemeral_floods;
mod gaps;
mod heartbeats;
mod nats_restart;
mod presence;
mod privacy;
mod resume;
mod sessions;
mod slow_consumer;
mod socket_caps;
mod target_limits;
mod token_expiry;
mod two_nodes;
