//! This node's WebSocket gateway as the rest of the app sees it: not run on this node,
//! starting, or up.
//!
//! `serve` starts the gateway in the background ([`Gateway::start_in_background`]) and serves
//! everything else at once: a node whose NATS is not there yet at start-up answers `/health`,
//! commands and reads, and `/ready` names `realtime` as not ready (and `/api/ws` answers 503)
//! until the gateway's NATS setup has succeeded, which is retried with back-off until it does.
//! A node never gives live updates up for the rest of its life because NATS was late.

use super::{Hub, RealtimeConfig};
use loopync_projections::Subjects;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one attempt at the gateway's NATS setup may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Cheap to clone: every clone sees the same gateway.
#[derive(Clone, Default)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// This node runs a gateway (it has NATS and was asked to).
    wanted: AtomicBool,
    hub: OnceLock<Arc<Hub>>,
}

/// Where the gateway is, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState {
    /// This node runs no gateway (`/api/ws` answers 503); not a readiness failure.
    Off,
    /// Its NATS setup has not succeeded yet; it is being retried.
    Starting,
    Up,
}

impl Gateway {
    /// A gateway that is up.
    pub fn up(hub: Arc<Hub>) -> Self {
        let gateway = Self::default();
        gateway.inner.wanted.store(true, Ordering::Release);
        let _ = gateway.inner.hub.set(hub);
        gateway
    }

    /// The hub, once the gateway is up.
    pub fn hub(&self) -> Option<Arc<Hub>> {
        self.inner.hub.get().cloned()
    }

    pub fn state(&self) -> GatewayState {
        if self.inner.hub.get().is_some() {
            GatewayState::Up
        } else if self.inner.wanted.load(Ordering::Acquire) {
            GatewayState::Starting
        } else {
            GatewayState::Off
        }
    }

    /// Starts the gateway on `nats`, retrying its setup with back-off (1 s, doubling, up to
    /// 10 s) until it succeeds or `shutdown` is cancelled. Returns at once.
    pub fn start_in_background(
        &self,
        nats: async_nats::Client,
        subjects: Subjects,
        pool: PgPool,
        config: RealtimeConfig,
        shutdown: CancellationToken,
    ) {
        self.inner.wanted.store(true, Ordering::Release);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let attempt = Hub::start(nats.clone(), &subjects, pool.clone(), config.clone());
                let failure = tokio::select! {
                    () = shutdown.cancelled() => return,
                    result = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt) => match result {
                        Ok(Ok(hub)) => {
                            tracing::info!(node = %hub.node_id(), "realtime gateway started");
                            let _ = inner.hub.set(hub);
                            return;
                        }
                        Ok(Err(error)) => error.to_string(),
                        Err(_) => format!("NATS did not answer in {} s", ATTEMPT_TIMEOUT.as_secs()),
                    },
                };
                tracing::warn!(error = %failure, retry_in_s = backoff.as_secs(), "realtime gateway not started yet");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }
}
