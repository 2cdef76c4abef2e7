//! Identity: accounts, sign-in, tokens, sessions and profiles.
//!
//! - [`service`]: the use cases (sign-up, login, refresh, recovery, profile changes) as
//!   commands through the pipeline;
//! - [`tokens`], [`passwords`], [`throttle`]: access JWTs and opaque tokens, bcrypt off the
//!   runtime, lockouts after failed sign-ins;
//! - [`auth`]: the one admin check (the bearer-token security scheme every protected endpoint
//!   takes is the platform's, [`crate::auth`], re-exported here);
//! - [`http`]: the endpoints under `/api/auth`, `/api/users` and `/api/admin`;
//! - [`errors`]: refusals and their stable codes;
//! - [`feature`]: identity's descriptor (events, read models, frames, the sign-in budget);
//!   [`settings`]: its flags and environment variables.

pub mod auth;
pub mod errors;
pub mod feature;
pub mod http;
pub mod passwords;
pub mod service;
pub mod session_gate;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub(crate) mod views;

pub use auth::{BearerAuth, Caller};
pub use errors::AuthError;
pub use feature::IdentityFeature;
pub use http::{AdminApi, AuthApi, UsersApi};
pub use passwords::Passwords;
pub use service::Identity;
pub use tokens::{AccessClaims, TokenError};

use std::time::Duration;

/// The signing secret of access tokens. Its `Debug` never shows it.
#[derive(Clone)]
pub struct JwtSecret(String);

impl JwtSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// A random secret: tokens die with the process and are valid on this node only. For
    /// development and tests; production sets `LOOPYNC_JWT_SECRET`.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// Tuning of identity: token lifetimes, bcrypt cost, code rules, lockouts.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub jwt_secret: JwtSecret,
    /// Access token lifetime (default 15 min).
    pub access_ttl: Duration,
    /// Refresh token lifetime, renewed by each rotation (default 7 days).
    pub refresh_ttl: Duration,
    /// bcrypt work factor (default 12).
    pub bcrypt_cost: u32,
    /// Lifetime of an email verification link (default 24 h).
    pub email_verification_ttl: Duration,
    /// Lifetime of a password reset link (default 1 h).
    pub password_reset_ttl: Duration,
    /// Lifetime of an SMS code (default 5 min).
    pub code_ttl: Duration,
    /// Wrong guesses allowed per SMS code (default 5).
    pub code_attempts: u32,
    /// Least time between two codes to one number (default 60 s).
    pub code_resend_after: Duration,
    /// Failed logins per email address in `failed_login_window` before 429 (default 5 in 15 min).
    pub failed_login_limit: u32,
    pub failed_login_window: Duration,
    /// Base URL of the app, for links in mails.
    pub app_url: String,
    /// How long a node trusts that a session is live before asking the event store again,
    /// while it hears every ending over NATS (default 60 s): the longest an ended session can
    /// still be used elsewhere when its ending could not be announced.
    pub session_check_ttl: Duration,
    /// The same, for verdicts the node checked before a gap in hearing (NATS down or
    /// reconnected; default 5 s): the longest an ended session can still be used on a node
    /// that missed its ending.
    pub session_check_unheard_ttl: Duration,
    /// Most sessions whose verdict one node remembers (default 100,000).
    pub session_check_capacity: usize,
    /// Most password hashes waiting for a core on one node before sign-ins are refused with
    /// 503 (default 32).
    pub bcrypt_max_waiting: usize,
    /// Account mails (verification, password reset) per recipient address in `send_window`,
    /// each kind counted apart, across all nodes (default 5 an hour).
    pub mail_per_recipient: u32,
    /// SMS codes sent per phone number in `send_window`, across all nodes (default 5 an hour).
    pub codes_per_phone: u32,
    pub send_window: Duration,
    /// Wrong SMS codes per phone number in `code_failure_window`, whatever code they were
    /// tried against, across all nodes (default 10 an hour).
    pub code_failures_per_phone: u32,
    pub code_failure_window: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: JwtSecret::random(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            bcrypt_cost: 12,
            email_verification_ttl: Duration::from_secs(24 * 3600),
            password_reset_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(300),
            code_attempts: 5,
            code_resend_after: Duration::from_secs(60),
            failed_login_limit: 5,
            failed_login_window: Duration::from_secs(15 * 60),
            app_url: "http://localhost:3000".to_owned(),
            session_check_ttl: Duration::from_secs(60),
            session_check_unheard_ttl: Duration::from_secs(5),
            session_check_capacity: 100_000,
            bcrypt_max_waiting: 32,
            mail_per_recipient: 5,
            codes_per_phone: 5,
            send_window: Duration::from_secs(3600),
            code_failures_per_phone: 10,
            code_failure_window: Duration::from_secs(3600),
        }
    }
}
