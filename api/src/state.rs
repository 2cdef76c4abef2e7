//! What every handler shares: connections, the command pipeline, the checkpoint board, the
//! sessions' last positions and the API's configuration.

use crate::client_address::TrustedProxies;
use crate::consistency::{SessionConsistencyConfig, SessionPositions};
use crate::identity::{AuthConfig, AuthError, Identity};
use crate::looppay::{LoopPay, LoopPayConfig};
use crate::rate_limit::RateLimitConfig;
use crate::realtime::{Gateway, Hub, HubError, RealtimeConfig};
use crate::social::Social;
use loopync_commands::CommandPipeline;
use loopync_delivery::{Mailer, OutboxMailer, OutboxSmsSender, SmsSender};
use loopync_projections::{CheckpointBoard, Subjects};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Tuning of the HTTP edge. The binary fills it from its own typed configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes; larger ones get 413 (default 1 MiB). Media
    /// uploads, which stream up to 150 MB, will be mounted with a limit of their own.
    pub max_body_bytes: usize,
    /// How long a read waits for the projections it reads to reach its position (the
    /// session's last command, or a `Loopync-Position` it names) before answering anyway,
    /// marked stale (default 2 s).
    pub read_your_writes_timeout: Duration,
    /// Read-your-writes per session: whether, and how much and how long, sessions' last
    /// command positions are remembered.
    pub session_consistency: SessionConsistencyConfig,
    /// How long `/ready` waits for PostgreSQL before calling it unreachable (default 2 s):
    /// probes have short timeouts of their own, and a hung probe tells them nothing.
    pub readiness_timeout: Duration,
    /// A projection more than this many events behind is named in `/ready`'s `warnings`
    /// (default 10,000; 0: lag is not checked). A warning, not a failure: see `system`.
    pub ready_max_lag_events: i64,
    /// How long a request may take before it is cut off with 503 (default 30 s).
    pub request_timeout: Duration,
    /// How long a graceful shutdown lets requests in flight finish (default 10 s).
    pub shutdown_grace: Duration,
    /// Identity: token lifetimes, bcrypt cost, code rules, lockouts.
    pub auth: AuthConfig,
    /// Requests a minute per caller (429 `rate_limited` past them).
    pub rate_limits: RateLimitConfig,
    /// The deployment's reverse proxies, whose `X-Forwarded-For` names the client (none by
    /// default: the TCP peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// LoopPay: the payment provider and top-up limits.
    pub looppay: LoopPayConfig,
    /// The WebSocket gateway: heartbeats, timeouts, queue and frame limits, presence.
    pub realtime: RealtimeConfig,
    /// The NATS subjects of this deployment (`LOOPYNC_NATS_PREFIX`).
    pub subjects: Subjects,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            read_your_writes_timeout: Duration::from_millis(2000),
            session_consistency: SessionConsistencyConfig::default(),
            readiness_timeout: Duration::from_secs(2),
            ready_max_lag_events: 10_000,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            auth: AuthConfig::default(),
            rate_limits: RateLimitConfig::default(),
            trusted_proxies: TrustedProxies::default(),
            looppay: LoopPayConfig::default(),
            realtime: RealtimeConfig::default(),
            subjects: Subjects::default(),
        }
    }
}

/// How account mail and SMS codes leave the server.
#[derive(Clone)]
pub struct Delivery {
    pub mailer: Arc<dyn Mailer>,
    pub sms: Arc<dyn SmsSender>,
}

impl Delivery {
    /// The development senders: every message becomes a file in `dir` (never a log line:
    /// messages carry codes and tokens).
    pub fn outbox(dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            mailer: Arc::new(OutboxMailer::new(dir.join("mail"))),
            sms: Arc::new(OutboxSmsSender::new(dir.join("sms"))),
        }
    }
}

/// Shared by all handlers; cheap to clone (everything inside is a handle).
#[derive(Clone)]
pub struct AppState {
    /// Read models and readiness checks.
    pub pool: PgPool,
    /// The one path of every command.
    pub pipeline: Arc<CommandPipeline>,
    /// Where projections have read up to: read-your-writes waits on it.
    pub checkpoints: Arc<CheckpointBoard>,
    /// The last position each session's commands reached, from every node: a session's reads
    /// wait for it.
    pub session_positions: Arc<SessionPositions>,
    /// `None` when the process runs without NATS (then it is never ready).
    pub nats: Option<async_nats::Client>,
    /// Accounts, sessions, tokens.
    pub identity: Arc<Identity>,
    /// The wallet: top-ups, transfers, payments, holds, refunds.
    pub looppay: Arc<LoopPay>,
    /// Friends, follows and blocks; posts, likes, comments and bookmarks.
    pub social: Arc<Social>,
    /// The WebSocket gateway of this node: off without NATS, starting until its NATS setup
    /// succeeds (`/api/ws` answers 503 until then), up.
    pub realtime: Gateway,
    pub config: ApiConfig,
}

impl AppState {
    /// The state over these connections. Starts remembering sessions' positions and, with
    /// `nats`, sharing them between nodes in the background: a node should await
    /// `session_positions.shared(..)` before it serves, or reads landing on it right after it
    /// starts may miss positions of commands answered by other nodes.
    pub fn new(
        pool: PgPool,
        pipeline: Arc<CommandPipeline>,
        checkpoints: Arc<CheckpointBoard>,
        nats: Option<async_nats::Client>,
        config: ApiConfig,
        delivery: Delivery,
    ) -> Result<Self, AuthError> {
        let identity = Arc::new(Identity::new(
            pipeline.clone(),
            pool.clone(),
            config.auth.clone(),
            delivery.mailer,
            delivery.sms,
        )?);
        if let Some(nats) = &nats {
            identity.sessions.listen(nats.clone(), &config.subjects);
        }
        let looppay = Arc::new(LoopPay::new(pipeline.clone(), pool.clone(), &config.looppay));
        let social = Arc::new(Social::new(pipeline.clone(), pool.clone()));
        let session_positions = SessionPositions::start(
            &config.session_consistency,
            nats.clone(),
            &config.subjects,
            pool.clone(),
            checkpoints.clone(),
        );
        Ok(Self {
            pool,
            pipeline,
            checkpoints,
            session_positions,
            nats,
            identity,
            looppay,
            social,
            realtime: Gateway::default(),
            config,
        })
    }

    /// Starts this node's WebSocket gateway on the state's NATS connection (without one,
    /// `/api/ws` answers 503), failing if NATS does not confirm its setup.
    pub async fn with_realtime(mut self) -> Result<Self, HubError> {
        if let Some(nats) = &self.nats {
            let hub = Hub::start(
                nats.clone(),
                &self.config.subjects,
                self.pool.clone(),
                self.config.realtime.clone(),
            )
            .await?;
            self.realtime = Gateway::up(hub);
        }
        Ok(self)
    }

    /// Starts this node's WebSocket gateway in the background, retrying its NATS setup until
    /// it succeeds (see [`Gateway`]); without NATS, none.
    pub fn start_realtime(&self, shutdown: CancellationToken) {
        if let Some(nats) = &self.nats {
            self.realtime.start_in_background(
                nats.clone(),
                self.config.subjects.clone(),
                self.pool.clone(),
                self.config.realtime.clone(),
                shutdown,
            );
        }
    }
}
