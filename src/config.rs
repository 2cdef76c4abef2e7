//! The binary's configuration: one typed struct, read from environment variables (or flags)
//! with documented defaults. `loopync --help` lists them all; `.env.example` repeats them.
//! Secrets (the database password inside `DATABASE_URL`) are never logged.

use clap::{Args, ValueEnum};
use loopync_api::features::SettingsError;
use loopync_api::realtime::RealtimeSettings;
use loopync_api::{
    ApiConfig, Delivery, FeatureSettings, RateLimitConfig, SessionConsistencyConfig, TrustedProxies,
};
use loopync_delivery::{DeliveryError, MailerConfig, SmsConfig, SmtpConfig, SmtpSecurity};
use loopync_projections::Subjects;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection URL (the event store and read models).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/loopync",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Run the workers (projections, housekeeping, scheduled jobs) inside `serve`. Off: the API
    /// only, for API nodes whose database login is a member of `loopync_app` alone, beside
    /// `loopync worker` processes logged in as members of `loopync_workers`.
    #[arg(long, env = "LOOPYNC_SERVE_WORKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub serve_workers: bool,

    /// Largest number of PostgreSQL connections this process opens (`serve` shares them: two
    /// fifths for commands, one fifth for projections and jobs, the rest for reads).
    #[arg(long, env = "LOOPYNC_DB_POOL_SIZE", default_value_t = 20)]
    pub db_pool_size: u32,

    /// Longest a statement of an API read (read models, lookups) may run, in milliseconds; a
    /// longer one is cancelled and the request answers 503.
    #[arg(long, env = "LOOPYNC_STATEMENT_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub statement_timeout_ms: u64,

    /// `/ready` warns (still 200) about a projection more than this many events behind the
    /// log; 0: it does not look at lag.
    #[arg(long, env = "LOOPYNC_READY_MAX_LAG_EVENTS", default_value_t = 10_000,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub ready_max_lag_events: i64,

    /// NATS URL (live updates).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Prefix of every NATS subject (dot-separated tokens of letters, digits, `-` and `_`), so
    /// that deployments sharing a NATS cluster never hear each other. Unset: no prefix.
    #[arg(long, env = "LOOPYNC_NATS_PREFIX", default_value = "", value_parser = Subjects::new)]
    pub nats_prefix: Subjects,

    /// Development mode, for a developer's machine (`just run` turns it on): allows settings
    /// that are unsafe anywhere else — an unset `LOOPYNC_JWT_SECRET`, the `dev` payment
    /// provider — and says in the log which are in use. Off, `serve` refuses to start with them.
    #[arg(long = "dev", env = "LOOPYNC_DEV_MODE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_mode: bool,

    /// Address the HTTP API listens on.
    #[arg(long, env = "LOOPYNC_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,

    /// Log format: `pretty` for people, `json` for log pipelines. Levels come from `RUST_LOG`.
    #[arg(long, env = "LOOPYNC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LOOPYNC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Group concurrent commands into shared transactions (one commit for many commands).
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub group_commit: bool,

    /// Most commands in one group commit.
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT_MAX_BATCH", default_value_t = 512)]
    pub group_commit_max_batch: usize,

    /// Group-commit batches appended at once (each on its own connection).
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT_IN_FLIGHT", default_value_t = 2)]
    pub group_commit_in_flight: usize,

    /// How long idempotency keys are remembered, in hours (at least 24).
    #[arg(long, env = "LOOPYNC_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 48,
          value_parser = clap::value_parser!(u64).range(24..))]
    pub idempotency_retention_hours: u64,

    /// How long a read waits for projections to reach its session's last command (or the
    /// `Loopync-Position` it names), in milliseconds.
    #[arg(long, env = "LOOPYNC_READ_YOUR_WRITES_TIMEOUT_MS", default_value_t = 2000)]
    pub read_your_writes_timeout_ms: u64,

    /// Remember each session's last command position (on every node, through NATS) and make
    /// the session's reads wait for it. Off: only reads that send `Loopync-Position` wait.
    #[arg(long, env = "LOOPYNC_READ_YOUR_WRITES_SESSIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub read_your_writes_sessions: bool,

    /// Most sessions whose last position one node remembers (the least recently written is
    /// forgotten first).
    #[arg(long, env = "LOOPYNC_READ_YOUR_WRITES_CAPACITY", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub read_your_writes_capacity: u64,

    /// Longest a session's last position is remembered, in seconds, even if a projection has
    /// not passed it yet (positions every projection passed are forgotten within a second).
    #[arg(long, env = "LOOPYNC_READ_YOUR_WRITES_MAX_AGE_SECONDS", default_value_t = 300)]
    pub read_your_writes_max_age_seconds: u64,

    /// Snapshot an aggregate every this many events (0: never).
    #[arg(long, env = "LOOPYNC_SNAPSHOT_EVERY", default_value_t = 100)]
    pub snapshot_every: i64,

    /// Aggregate states kept in memory per process (0: no cache).
    #[arg(long, env = "LOOPYNC_AGGREGATE_CACHE_SIZE", default_value_t = 10_000)]
    pub aggregate_cache_size: usize,

    /// Events per projection batch.
    #[arg(long, env = "LOOPYNC_PROJECTION_BATCH_SIZE", default_value_t = 1000)]
    pub projection_batch_size: i64,

    /// This worker's name in `projections status` (default: hostname-pid).
    #[arg(long, env = "LOOPYNC_WORKER_ID")]
    pub worker_id: Option<String>,

    /// Where development mail and SMS are written (one file per message) when no SMTP relay
    /// or SMS webhook is configured.
    #[arg(long, env = "LOOPYNC_OUTBOX_DIR", default_value = "var/outbox")]
    pub outbox_dir: std::path::PathBuf,

    /// SMTP relay for account mail (unset: the outbox).
    #[arg(long, env = "LOOPYNC_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (default: 25, 587 or 465 by `LOOPYNC_SMTP_SECURITY`).
    #[arg(long, env = "LOOPYNC_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    #[arg(long, env = "LOOPYNC_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    #[arg(long, env = "LOOPYNC_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// `starttls`, `tls` or `none` (only for a relay on this machine).
    #[arg(long, env = "LOOPYNC_SMTP_SECURITY", value_enum, default_value_t = SmtpSecurityArg::Starttls)]
    pub smtp_security: SmtpSecurityArg,

    /// The `From:` of account mail.
    #[arg(long, env = "LOOPYNC_MAIL_FROM", default_value = "Loopync <no-reply@loopync.local>")]
    pub mail_from: String,

    /// URL the SMS gateway webhook is POSTed to, `{"to", "text"}` (unset: the outbox).
    #[arg(long, env = "LOOPYNC_SMS_WEBHOOK_URL")]
    pub sms_webhook_url: Option<String>,

    /// Requests a minute per client IP without a valid bearer token (0: no limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_ANONYMOUS", default_value_t = 100)]
    pub rate_limit_anonymous: u32,

    /// Requests a minute per signed-in user (0: no limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_AUTHENTICATED", default_value_t = 1000)]
    pub rate_limit_authenticated: u32,

    /// Requests a minute per client IP on the sign-in endpoints, on top (0: no limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_SIGN_IN", default_value_t = 10)]
    pub rate_limit_sign_in: u32,

    /// How long a request may take, in milliseconds, before it is cut off with 503.
    #[arg(long, env = "LOOPYNC_REQUEST_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Requests a minute on the sign-in endpoints from all addresses together, per node (0: no
    /// limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_SIGN_IN_NODE", default_value_t = 600)]
    pub rate_limit_sign_in_node: u32,

    /// Requests a minute per client address on the payment providers' webhooks, instead of the
    /// anonymous limit (0: no limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_WEBHOOK", default_value_t = 600)]
    pub rate_limit_webhook: u32,

    /// Requests a minute per client address on `/ready` and `/metrics` (0: no limit).
    #[arg(long, env = "LOOPYNC_RATE_LIMIT_OPERATIONS", default_value_t = 120)]
    pub rate_limit_operations: u32,

    /// The deployment's reverse proxies (addresses or networks, comma-separated), whose
    /// `X-Forwarded-For` names the client. Unset: the TCP peer is the client and the header is
    /// ignored.
    #[arg(long, env = "LOOPYNC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = loopync_api::parse_network)]
    pub trusted_proxies: Vec<loopync_api::IpNet>,

    /// Bearer token sent to the SMS webhook.
    #[arg(long, env = "LOOPYNC_SMS_WEBHOOK_TOKEN", hide_env_values = true)]
    pub sms_webhook_token: Option<String>,

    /// How long durable live updates are kept for reconnecting clients, in days; an older
    /// cursor gets `resync_required`.
    #[arg(long, env = "LOOPYNC_LIVE_RETENTION_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub live_retention_days: u64,

    /// The WebSocket gateway's heartbeats, timeouts, queue and presence.
    #[command(flatten)]
    pub realtime: RealtimeSettings,

    /// Every feature's own settings (identity's tokens, LoopPay's provider and limits, ...).
    #[command(flatten)]
    pub features: FeatureSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpSecurityArg {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }

    /// Read-your-writes per session.
    pub fn session_consistency(&self) -> SessionConsistencyConfig {
        SessionConsistencyConfig {
            enabled: self.read_your_writes_sessions,
            capacity: usize::try_from(self.read_your_writes_capacity).unwrap_or(usize::MAX),
            max_age: Duration::from_secs(self.read_your_writes_max_age_seconds),
        }
    }

    /// Request rate limits of the API.
    pub fn rate_limits(&self) -> RateLimitConfig {
        RateLimitConfig {
            anonymous_per_minute: self.rate_limit_anonymous,
            authenticated_per_minute: self.rate_limit_authenticated,
            sign_in_per_minute: self.rate_limit_sign_in,
            sign_in_node_per_minute: self.rate_limit_sign_in_node,
            webhook_per_minute: self.rate_limit_webhook,
            operations_per_minute: self.rate_limit_operations,
        }
    }

    /// The mail and SMS senders: SMTP and the webhook when configured, the outbox otherwise.
    pub fn delivery(&self) -> Result<Delivery, DeliveryError> {
        let mailer = match &self.smtp_host {
            Some(host) => {
                let security = match self.smtp_security {
                    SmtpSecurityArg::None => SmtpSecurity::None,
                    SmtpSecurityArg::Starttls => SmtpSecurity::StartTls,
                    SmtpSecurityArg::Tls => SmtpSecurity::Tls,
                };
                MailerConfig::Smtp(SmtpConfig {
                    host: host.clone(),
                    port: self.smtp_port.unwrap_or(security.default_port()),
                    username: self.smtp_username.clone(),
                    password: self.smtp_password.clone(),
                    security,
                    from: self.mail_from.clone(),
                    timeout: Duration::from_secs(10),
                })
            }
            None => MailerConfig::Outbox { dir: self.outbox_dir.join("mail") },
        };
        let sms = match &self.sms_webhook_url {
            Some(url) => SmsConfig::Webhook {
                url: url.clone(),
                bearer_token: self.sms_webhook_token.clone(),
                timeout: Duration::from_secs(10),
            },
            None => SmsConfig::Outbox { dir: self.outbox_dir.join("sms") },
        };
        Ok(Delivery { mailer: mailer.build()?, sms: sms.build()? })
    }

    /// Where push notifications go: the outbox (`<outbox>/push`), one file per push, until a
    /// provider's sender is configured.
    pub fn push_sender(&self) -> std::sync::Arc<dyn loopync_delivery::PushSender> {
        std::sync::Arc::new(loopync_delivery::OutboxPushSender::new(self.outbox_dir.join("push")))
    }

    /// The API's configuration: the platform's part from these settings, each feature's part
    /// from its own.
    pub fn api_config(&self) -> Result<ApiConfig, SettingsError> {
        self.features.apply(ApiConfig {
            max_body_bytes: self.max_body_bytes,
            read_your_writes_timeout: self.read_your_writes_timeout(),
            session_consistency: self.session_consistency(),
            rate_limits: self.rate_limits(),
            trusted_proxies: TrustedProxies::new(self.trusted_proxies.clone()),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            ready_max_lag_events: self.ready_max_lag_events,
            realtime: self.realtime.config(),
            subjects: self.nats_prefix.clone(),
            ..ApiConfig::default()
        })
    }

    /// Refuses the features' development-only settings outside development mode, naming each
    /// and what to set instead; in development mode, says in the log which are in use.
    pub fn refuse_development_settings(&self) -> anyhow::Result<()> {
        let unsafe_settings = self.features.development_only();
        if self.dev_mode {
            for setting in &unsafe_settings {
                tracing::warn!("development mode: {setting}");
            }
            return Ok(());
        }
        if unsafe_settings.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = unsafe_settings.iter().map(|setting| format!("  - {setting}")).collect();
        anyhow::bail!(
            "refusing to serve with settings that are only safe in development:\n{}\n\
             Configure them, or set LOOPYNC_DEV_MODE=true on a developer's machine (`just run` does).",
            list.join("\n")
        )
    }

    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_hours * 3600)
    }

    pub fn live_retention(&self) -> Duration {
        Duration::from_secs(self.live_retention_days.saturating_mul(24 * 3600))
    }
}
