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
//! - [`hub`]: this node's connections, per-user NATS subscriptions, loss-free delivery, and
//!   the node's caps (sockets per user and per address, typing and signals per target).
//! - [`lossy`]: the bounded queue of a connection's ephemeral frames, which drops rather than
//!   closes.
//! - [`audience`]: who may see whom: presence, typing and signaling.
//! - [`connection`]: one WebSocket: authentication, resume, heartbeats, client frames.
//! - [`presence`]: online, offline and last seen across devices and nodes.
//! - [`http`]: the upgrade endpoint, `GET /api/users/{userId}/presence`, the AsyncAPI document.
//! - [`asyncapi`]: the AsyncAPI 3 document of the protocol, generated from the frame types.

pub mod asyncapi;
mod audience;
mod connection;
pub mod frames;
pub mod gateway;
pub mod http;
pub mod hub;
mod lossy;
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
    /// Durable frames and replies queued for one connection before it counts as too slow and
    /// is closed with 4005 (default 256).
    pub outbound_queue: usize,
    /// Ephemeral frames from others (typing, signals, presence changes) queued for one
    /// connection; when full, the oldest is dropped and the connection stays (default 64).
    pub ephemeral_queue: usize,
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
    /// `typing` frames a second one user may send to one other user, from all their
    /// connections to this node (twice as many in a burst; 0: no limit; default 3). Repeats
    /// dropped by the throttle do not count.
    pub typing_per_target: u32,
    /// `signal` frames a second one user may send to one other user, likewise (default 10:
    /// a call's offer and its trickled ICE candidates fit the burst of 20).
    pub signals_per_target: u32,
    /// Connections one user may have to this node; one more is closed with 4006 (0: no cap;
    /// default 20).
    pub sockets_per_user: usize,
    /// Connections one client address (an IPv6 client's /64) may have to this node, counted
    /// from the upgrade on; one more is answered 429 `too_many_sockets` (0: no cap; default
    /// 500, since many users can share an address behind a NAT).
    pub sockets_per_ip: usize,
    /// How long a connection trusts a verdict of the audience rule about a typing or signal target
    /// before reading it again: a privacy change reaches conversations under way within it
    /// (default 5 s).
    pub audience_ttl: Duration,
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
            ephemeral_queue: 64,
            stall_limit: Duration::from_secs(10),
            max_frame_bytes: 16 * 1024,
            hard_frame_bytes: 64 * 1024,
            frames_per_second: 20,
            presence_grace: Duration::from_secs(3),
            presence_node_ttl: Duration::from_secs(30),
            typing_throttle: Duration::from_secs(2),
            typing_per_target: 3,
            signals_per_target: 10,
            sockets_per_user: 20,
            sockets_per_ip: 500,
            audience_ttl: Duration::from_secs(5),
            token_warning: Duration::from_secs(30),
        }
    }
}
