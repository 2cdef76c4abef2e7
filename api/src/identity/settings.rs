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

    /// Base URL of the app, for the links in account mail.
    #[arg(long, env = "LOOPYNC_APP_URL", default_value = "http://localhost:3000")]
    pub app_url: String,

    /// How long a node trusts that a session is live before asking the event store again, in
    /// milliseconds: the longest an ended session can still be used on a node that missed its
    /// ending on NATS (endings reach every listening node at once).
    #[arg(long, env = "LOOPYNC_SESSION_CHECK_TTL_MS", default_value_t = 5000)]
    pub session_check_ttl_ms: u64,
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
            app_url: self.app_url.trim_end_matches('/').to_owned(),
            session_check_ttl: Duration::from_millis(self.session_check_ttl_ms),
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
