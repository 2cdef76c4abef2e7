//! The identity use cases: sign-up, sign-in, tokens, sessions, verification, recovery and
//! profile changes, each a command (or a few) through the command pipeline.
//!
//! Where the pieces live:
//! - rules: the `Account`, `Session`, `PhoneCode` and `UniqueClaim` aggregates (`domain`);
//! - uniqueness: an email, a phone number or a handle is claimed in the same atomic append
//!   that creates or changes the account, so of two racing sign-ups exactly one wins;
//! - lookups that must not lag (which account owns this email?) read the claim stream, not a
//!   read model: a login right after a sign-up works on any node;
//! - everything slow or impure (bcrypt, randomness, the clock, mail and SMS) happens here,
//!   around the pure decisions.
//!
//! One file per group of use cases: [`sessions`] (sign-up, sign-in, tokens, sessions),
//! [`recovery`] (email verification, password reset and change), [`phone`] (SMS codes),
//! [`profile`] (profiles, settings, roles).

mod phone;
mod profile;
mod recovery;
mod sessions;

use super::errors::{AuthError, account_refusal, command_error, identity_problem};
use super::session_gate::{Ending, SessionGate};
use super::throttle::SharedLimit;
use super::tokens::{MintedToken, TokenKeys, mint_opaque, parse_opaque, six_digit_code};
use super::{AuthConfig, Passwords};
use crate::problem::{FieldProblem, field_codes};
use chrono::{DateTime, Utc};
use loopync_commands::{CommandContext, CommandPipeline};
use loopync_delivery::{Mail, Mailer, Sms, SmsSender};
use loopync_domain::claim::{UniqueClaim, claim_id};
use loopync_domain::identity::account::{
    Account, AccountCommand, AccountEvent, ProfilePatch, Registration, Settings, SettingsPatch,
    TokenChallenge,
};
use loopync_domain::identity::phone_code::{PhoneCode, PhoneCodeCommand, PhoneCodeError, PhoneCodeEvent};
use loopync_domain::identity::session::{
    RevocationReason, Session, SessionCommand, SessionError, SessionEvent,
};
use loopync_domain::identity::{
    ChangeHandle, EMAIL_CLAIM as EMAIL, HANDLE_CLAIM as HANDLE, HandleChangeError, PHONE_CLAIM as PHONE,
    Register, RegistrationError,
};
use loopync_domain::identity::{
    DisplayName, Email, Handle, IdentityError, PhoneNumber, Role, check_password,
};
use loopync_domain::{Aggregate, StreamName};
use loopync_schemas::Position;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Where a request comes from, recorded on the session it starts.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A signed-in session: the tokens for the client and the account they belong to.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub account: Account,
    pub position: Option<Position>,
}

/// An account as a command left it, and where its events landed.
#[derive(Debug, Clone)]
pub struct AccountChange {
    pub account: Account,
    pub position: Option<Position>,
}

/// The sign-up form, as received.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    pub handle: String,
}

/// A profile change: `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub handle: Option<String>,
    pub bio: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub cover_photo: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub website: Option<Option<String>>,
}

/// The result of a phone code check.
#[derive(Debug, Clone)]
pub struct PhoneSignIn {
    pub signed_in: SignedIn,
    pub new_account: bool,
}

/// A code was sent: how long it lives and when another may be asked for.
#[derive(Debug, Clone, Copy)]
pub struct CodeSent {
    pub expires_in_seconds: u64,
    pub resend_after_seconds: u64,
}

/// Identity's limits in PostgreSQL, each a scope of its own in `auth_failures`.
struct SharedLimits {
    /// Failed logins per email address (and failed password checks per account).
    login_failures: SharedLimit,
    /// Wrong SMS codes per phone number, across codes.
    code_failures: SharedLimit,
    /// Verification mails per address.
    verification_mails: SharedLimit,
    /// Password-reset mails per address.
    reset_mails: SharedLimit,
    /// SMS codes per phone number.
    codes_sent: SharedLimit,
}

impl SharedLimits {
    fn new(pool: &PgPool, config: &AuthConfig) -> Self {
        let limit = |scope, limit, window| SharedLimit::new(pool.clone(), scope, limit, window);
        Self {
            login_failures: limit("login", config.failed_login_limit, config.failed_login_window),
            code_failures: limit("phone_code", config.code_failures_per_phone, config.code_failure_window),
            verification_mails: limit("verification_mail", config.mail_per_recipient, config.send_window),
            reset_mails: limit("reset_mail", config.mail_per_recipient, config.send_window),
            codes_sent: limit("sms_code", config.codes_per_phone, config.send_window),
        }
    }
}

pub struct Identity {
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
    pub tokens: TokenKeys,
    passwords: Passwords,
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsSender>,
    /// The limits every node shares (see `throttle`).
    limits: SharedLimits,
    /// Which sessions are live, as this node knows it (see `session_gate`).
    pub sessions: Arc<SessionGate>,
    config: AuthConfig,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("config", &self.config).finish_non_exhaustive()
    }
}

pub(super) fn parse<T>(
    field: &str,
    result: Result<T, IdentityError>,
    errors: &mut Vec<FieldProblem>,
) -> Option<T> {
    result.map_err(|error| errors.push(identity_problem(field, &error))).ok()
}

pub(super) fn account_stream(id: Uuid) -> StreamName {
    StreamName::of::<Account>(id)
}

impl Identity {
    pub fn new(
        pipeline: Arc<CommandPipeline>,
        pool: PgPool,
        config: AuthConfig,
        mailer: Arc<dyn Mailer>,
        sms: Arc<dyn SmsSender>,
    ) -> Result<Self, AuthError> {
        let tokens =
            TokenKeys::new(config.jwt_secret.as_bytes(), config.access_ttl).map_err(AuthError::internal)?;
        let passwords =
            Passwords::new(config.bcrypt_cost, config.bcrypt_max_waiting).map_err(AuthError::internal)?;
        let limits = SharedLimits::new(&pool, &config);
        let sessions = Arc::new(SessionGate::new(
            config.session_check_capacity,
            config.session_check_ttl,
            config.session_check_unheard_ttl,
        ));
        Ok(Self { pipeline, pool, tokens, passwords, mailer, sms, limits, sessions, config })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn bcrypt_cost(&self) -> u32 {
        self.passwords.cost()
    }

    /// The account with this id as the store has it now; `UserNotFound` when there is none.
    pub async fn account(&self, user_id: Uuid) -> Result<Account, AuthError> {
        let loaded = self.pipeline.load_latest::<Account>(account_stream(user_id)).await?;
        if !loaded.state.registered {
            return Err(AuthError::UserNotFound);
        }
        Ok((*loaded.state).clone())
    }

    /// Who holds a unique value now (read from its claim stream, which never lags).
    pub(super) async fn owner_of(&self, kind: &str, value: &str) -> Result<Option<Uuid>, AuthError> {
        let claim = self
            .pipeline
            .load_latest::<UniqueClaim>(StreamName::of::<UniqueClaim>(claim_id(kind, value)))
            .await?;
        Ok(claim.state.owner.as_deref().and_then(|owner| Uuid::parse_str(owner).ok()))
    }

    pub(super) fn context(&self, actor: Option<Uuid>, base: &CommandContext) -> CommandContext {
        CommandContext { actor: actor.map(|a| a.to_string()), idempotency_key: None, ..base.clone() }
    }
}
