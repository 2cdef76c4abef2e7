//! The WebSocket gateway's settings, read by the binary from flags or the environment.

use super::RealtimeConfig;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct RealtimeSettings {
    /// How often the server pings each WebSocket, in seconds.
    #[arg(long, env = "LOOPYNC_WS_HEARTBEAT_SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_heartbeat_seconds: u64,

    /// A WebSocket silent for this long (not even a pong) is closed with 4004, in seconds.
    #[arg(long, env = "LOOPYNC_WS_IDLE_TIMEOUT_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub ws_idle_timeout_seconds: u64,

    /// Frames queued for one WebSocket before the client counts as too slow (closed with 4005).
    #[arg(long, env = "LOOPYNC_WS_OUTBOUND_QUEUE", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(8..=65536))]
    pub ws_outbound_queue: u64,

    /// Ephemeral frames from others queued per WebSocket; past it the oldest are dropped.
    #[arg(long, env = "LOOPYNC_WS_EPHEMERAL_QUEUE", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub ws_ephemeral_queue: u64,

    /// WebSockets per user on one node; one more is closed with 4006 (0: no cap).
    #[arg(long, env = "LOOPYNC_WS_SOCKETS_PER_USER", default_value_t = 20)]
    pub ws_sockets_per_user: u32,

    /// WebSockets per client address (an IPv6 client's /64) on one node; one more is answered
    /// 429 `too_many_sockets` (0: no cap).
    #[arg(long, env = "LOOPYNC_WS_SOCKETS_PER_IP", default_value_t = 500)]
    pub ws_sockets_per_ip: u32,

    /// `typing` frames a second from one user to one other user (bursts of twice as many; 0: off).
    #[arg(long, env = "LOOPYNC_WS_TYPING_PER_TARGET", default_value_t = 3)]
    pub ws_typing_per_target: u32,

    /// `signal` frames a second from one user to one other user (bursts of twice as many; 0: off).
    #[arg(long, env = "LOOPYNC_WS_SIGNALS_PER_TARGET", default_value_t = 10)]
    pub ws_signals_per_target: u32,

    /// How long a user's last device may be gone before they are announced offline, in ms.
    #[arg(long, env = "LOOPYNC_PRESENCE_GRACE_MS", default_value_t = 3000)]
    pub presence_grace_ms: u64,
}

impl RealtimeSettings {
    pub fn config(&self) -> RealtimeConfig {
        RealtimeConfig {
            heartbeat_interval: Duration::from_secs(self.ws_heartbeat_seconds),
            idle_timeout: Duration::from_secs(self.ws_idle_timeout_seconds),
            outbound_queue: usize::try_from(self.ws_outbound_queue).unwrap_or(256),
            ephemeral_queue: usize::try_from(self.ws_ephemeral_queue).unwrap_or(64),
            sockets_per_user: usize::try_from(self.ws_sockets_per_user).unwrap_or(usize::MAX),
            sockets_per_ip: usize::try_from(self.ws_sockets_per_ip).unwrap_or(usize::MAX),
            typing_per_target: self.ws_typing_per_target,
            signals_per_target: self.ws_signals_per_target,
            presence_grace: Duration::from_millis(self.presence_grace_ms),
            ..RealtimeConfig::default()
        }
    }
}
