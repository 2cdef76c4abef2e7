//! Identity's settings, read by the binary from flags or the environment.

use super::{AuthConfig, JwtSecret};
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct IdentitySettings {
    /// Secret signing access tokens (HS256), at least 32 bytes; the same on every API node.
    /// Unset: a random one per process (development only: tokens die with the process).
    #[arg(long, env = "LOOPYNC_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access token lifetime, in seconds.
    #[arg(long, env = "LOOPYNC_ACCESS_TOKEN_TTL_SECONDS", default_value_t = 900)]
    pub access_token_ttl_seconds: u64,

    /// Refresh token lifetime, in days (each rotation starts it again).
    #[arg(long, env = "LOOPYNC_REFRESH_TOKEN_TTL_DAYS", default_value_t = 7)]
    pub refresh_token_ttl_days: u64,

    /// bcrypt work factor for passwords (4 to 31).
    #[arg(long, env = "LOOPYNC_BCRYPT_COST", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Failed logins allowed per email address in 15 minutes before 429.
    #[arg(long, env = "LOOPYNC_FAILED_LOGIN_LIMIT", default_value_t = 5)]
    pub failed_login_limit: u32,

    /// Password hashes that may wait for a core on one node; past them, sign-ins answer 503
    /// with `Retry-After` at once.
    #[arg(long, env = "LOOPYNC_BCRYPT_MAX_WAITING", default_value_t = 32)]
    pub bcrypt_max_waiting: usize,

    /// Verification mails, and password-reset mails, per recipient address an hour (0: no cap).
    #[arg(long, env = "LOOPYNC_MAIL_PER_RECIPIENT_HOURLY", default_value_t = 5)]
    pub mail_per_recipient_hourly: u32,

    /// SMS codes per phone number an hour (0: no cap).
    #[arg(long, env = "LOOPYNC_CODES_PER_PHONE_HOURLY", default_value_t = 5)]
    pub codes_per_phone_hourly: u32,

    /// Wrong SMS codes per phone number an hour, across codes, before 429 (0: no limit).
    #[arg(long, env = "LOOPYNC_CODE_FAILURES_PER_PHONE_HOURLY", default_value_t = 10)]
    pub code_failures_per_phone_hourly: u32,

    /// Base URL of the app, for the links in account mail.
    #[arg(long, env = "LOOPYNC_APP_URL", default_value = "http://localhost:3000")]
    pub app_url: String,

    /// How long a node that hears every ending on NATS trusts that a session is live before
    /// asking the event store again, in milliseconds (endings reach every listening node at
    /// once; this bounds what an ending whose announcement failed can cost).
    #[arg(long, env = "LOOPYNC_SESSION_CHECK_TTL_MS", default_value_t = 60_000)]
    pub session_check_ttl_ms: u64,

    /// The same, in milliseconds, for a verdict checked before the node's last gap in hearing
    /// NATS: the longest an ended session can still be used on a node that missed its ending.
    #[arg(long, env = "LOOPYNC_SESSION_CHECK_UNHEARD_TTL_MS", default_value_t = 5000)]
    pub session_check_unheard_ttl_ms: u64,
}

impl IdentitySettings {
    /// Token keys and lifetimes, bcrypt cost, lockouts, links. Without a secret, a random one
    /// (see [`development_only`](Self::development_only)).
    pub fn config(&self) -> AuthConfig {
        let jwt_secret = self.jwt_secret.clone().map_or_else(JwtSecret::random, JwtSecret::new);
        AuthConfig {
            jwt_secret,
            access_ttl: Duration::from_secs(self.access_token_ttl_seconds),
            refresh_ttl: Duration::from_secs(self.refresh_token_ttl_days * 24 * 3600),
            bcrypt_cost: self.bcrypt_cost,
            failed_login_limit: self.failed_login_limit,
            bcrypt_max_waiting: self.bcrypt_max_waiting,
            mail_per_recipient: self.mail_per_recipient_hourly,
            codes_per_phone: self.codes_per_phone_hourly,
            send_window: Duration::from_secs(3600),
            code_failures_per_phone: self.code_failures_per_phone_hourly,
            code_failure_window: Duration::from_secs(3600),
            app_url: self.app_url.trim_end_matches('/').to_owned(),
            session_check_ttl: Duration::from_millis(self.session_check_ttl_ms),
            session_check_unheard_ttl: Duration::from_millis(self.session_check_unheard_ttl_ms),
            ..AuthConfig::default()
        }
    }

    /// What only development may run with: without a secret, tokens are signed with a random
    /// one, which dies with the process and which no other node accepts.
    pub fn development_only(&self) -> Option<&'static str> {
        self.jwt_secret.is_none().then_some(
            "LOOPYNC_JWT_SECRET is not set: tokens are signed with a random secret that dies with \
             this process and that no other node accepts",
        )
    }
}
