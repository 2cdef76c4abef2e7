//! The realtime gateway end to end: WebSocket clients (tokio-tungstenite) against one or two
//! app nodes sharing a fresh PostgreSQL database per test and NATS (`NATS_URL`), with the
//! projections running, so every durable frame comes from a real command.

mod auth;
mod bad_input;
mod client;
mod cursors;
mod delivery;
mod gaps;
mod heartbeats;
mod nats_restart;
mod presence;
mod privacy;
mod resume;
mod sessions;
mod slow_consumer;
#[path = "../looppay/support.rs"]
#[allow(dead_code)]
mod support;
mod token_expiry;
mod two_nodes;
