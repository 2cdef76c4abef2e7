//! Loopync's test kit: what every test binary needs to run the app the way production does and
//! talk to it, written once.
//!
//! - [`spawn_app`] serves the product's feature APIs (or a test's own, [`spawn_app_serving`])
//!   on a real socket (port 0) against the test's database, with a command pipeline and event
//!   store of its own (a node), recording mail and SMS senders, and a projection runner over
//!   every feature's projections, taken from the feature registry
//!   ([`loopync_api::features::projections`]).
//! - [`TestApp`] is also the typed client: sign up, sign in, requests as someone, LoopPay's
//!   commands and reads; every answer read in full into a [`Reply`] (status, JSON, headers).
//! - [`assert_problem`] checks a problem+json answer; [`logs`] captures the JSON log lines;
//!   [`TestApp::caught_up`] waits for the projections; [`TestDb`] is a database of a test's own
//!   for multi-threaded tests; [`replay_wallets`] reads wallets back from the event store.
//!
//! This crate is test code: it may `unwrap` and `expect`, as tests do (clippy's test allowances
//! do not reach a library, so it says so here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod app;
mod client;
mod db;
mod ledger;
mod logs;
mod looppay;
mod nats_server;
mod problem;
mod raw;
mod social;
mod values;

pub use app::{
    CHECKOUT_URL, JWT_SECRET, Options, TEST_BODY_LIMIT, TestApp, WEBHOOK_SECRET, caught_up, nats, spawn_app,
    spawn_app_serving, spawn_two_nodes,
};
pub use client::{DELIVERY_TIMEOUT, PASSWORD, Reply, User, send};
pub use db::{TestDb, database_url, event_count, events_of_type, node_pipeline, standalone_pipeline};
pub use ledger::{replay_wallet, replay_wallets, wallet_streams};
pub use logs::{CapturedLogs, assert_never_logged, every_line, logs};
pub use nats_server::NatsServer;
pub use problem::{assert_invalid_field, assert_problem, error_fields, expect_status};
pub use raw::{RawResponse, chunk, raw_request};
pub use social::ids;
pub use values::{instant, int, key, latest, mail_token, sms_code, string, unique, uuid};
