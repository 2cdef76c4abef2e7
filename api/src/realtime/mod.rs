//! Realtime: the WebSocket gateway `GET /api/ws`, backed by NATS.
//!
//! ```text
//! projection batch ─commit─▶ live_updates (PostgreSQL) ─publish─▶ live.user.<id>.durable ─┐
//! client ─typing/signal─▶ node ─publish─▶ live.user.<id>.ephemeral ───────────────────────┤
//! presence changes ─▶ presence.user.<id> (nodes ask each other; nothing stored) ──────────┤
//!                                             every node with a device of <id> subscribes ◀┘
//! ```
//!
//! Every subject starts with the deployment's `LOOPYNC_NATS_PREFIX`
//! ([`Subjects`](loopync_projections::Subjects)), so deployments sharing a NATS cluster never
//! hear each other.
//!
//! - [`protocol`]: the frame envelope, reading client frames, error codes, close codes.
//! - [`frames`]: the typed payloads of the gateway's own frames, both ways.
//! - [`gateway`]: whether this node's gateway is up, and its start in the background.
//! - [`hub`]: this node's connections, per-user NATS subscriptions, loss-free delivery.
//! - [`connection`]: one WebSocket: authentication, resume, heartbeats, client frames.
//! - [`presence`]: online, offline and last seen across devices and nodes.
//! - [`http`]: the upgrade endpoint, `GET /api/users/{userId}/presence`, the AsyncAPI document.
//! - [`asyncapi`]: the AsyncAPI 3 document of the protocol, generated from the frame types.

pub mod asyncapi;
mod connection;
pub mod frames;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod presence;
pub mod protocol;
pub mod settings;

pub use gateway::{Gateway, GatewayState};
pub use http::{PresenceApi, asyncapi_document, ws_endpoint};
pub use hub::{Hub, HubError};
pub use settings::RealtimeSettings;

use std::time::Duration;

/// Tuning of the gateway.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// How often the server pings each connection (default 20 s).
    pub heartbeat_interval: Duration,
    /// A connection from which nothing arrives for this long, not even a pong, is closed
    /// with 4004 (default 60 s).
    pub idle_timeout: Duration,
    /// How long a connection without `?token=` has to send its `auth` frame (default 5 s).
    pub auth_timeout: Duration,
    /// Frames queued for one connection before it counts as too slow and is closed with 4005
    /// (default 256).
    pub outbound_queue: usize,
    /// How long a catch-up (a resume, a gap) waits for room in a full outbound queue before the
    /// client counts as too slow and is closed with 4005 (default 10 s).
    pub stall_limit: Duration,
    /// Largest client frame handled; larger ones get an error frame (default 16 KiB).
    pub max_frame_bytes: usize,
    /// Largest client frame read at all; larger ones close the connection with 1009
    /// (default 64 KiB).
    pub hard_frame_bytes: usize,
    /// Client frames per second, sustained (twice as many in a burst); more get `rate_limited`.
    pub frames_per_second: u32,
    /// How long a user's last device may be gone before they count as offline (default 3 s):
    /// reconnects within it are not announced at all.
    pub presence_grace: Duration,
    /// How long a node that stops announcing itself still counts, with its users (default
    /// 30 s; it announces itself every third of this).
    pub presence_node_ttl: Duration,
    /// Repeats of the same typing state to the same user within this window are dropped
    /// (default 2 s).
    pub typing_throttle: Duration,
    /// How long before the access token expires the client is warned with `token_expiring`
    /// (default 30 s).
    pub token_warning: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            auth_timeout: Duration::from_secs(5),
            outbound_queue: 256,
            stall_limit: Duration::from_secs(10),
            max_frame_bytes: 16 * 1024,
            hard_frame_bytes: 64 * 1024,
            frames_per_second: 20,
            presence_grace: Duration::from_secs(3),
            presence_node_ttl: Duration::from_secs(30),
            typing_throttle: Duration::from_secs(2),
            token_warning: Duration::from_secs(30),
        }
    }
}
