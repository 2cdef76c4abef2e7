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

use super::errors::{AuthError, account_refusal, command_error, identity_problem};
use super::throttle::FailureThrottle;
use super::tokens::{MintedToken, TokenKeys, mint_opaque, parse_opaque, six_digit_code};
use super::{AuthConfig, Passwords};
use crate::problem::FieldProblem;
use chrono::{DateTime, Utc};
use loopync_commands::{CommandContext, CommandPipeline};
use loopync_delivery::{Mail, Mailer, Sms, SmsSender};
use loopync_domain::claim::{UniqueClaim, claim_id};
use loopync_domain::identity::account::{
    Account, AccountCommand, ProfilePatch, Registration, Settings, TokenChallenge,
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

pub struct Identity {
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
    pub tokens: TokenKeys,
    passwords: Passwords,
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsSender>,
    login_failures: FailureThrottle,
    config: AuthConfig,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("config", &self.config).finish_non_exhaustive()
    }
}

fn parse<T>(field: &str, result: Result<T, IdentityError>, errors: &mut Vec<FieldProblem>) -> Option<T> {
    result.map_err(|error| errors.push(identity_problem(field, &error))).ok()
}

fn account_stream(id: Uuid) -> StreamName {
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
        let passwords = Passwords::new(config.bcrypt_cost).map_err(AuthError::internal)?;
        let login_failures = FailureThrottle::new(
            pool.clone(),
            "login",
            config.failed_login_limit,
            config.failed_login_window,
        );
        Ok(Self { pipeline, pool, tokens, passwords, mailer, sms, login_failures, config })
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
    async fn owner_of(&self, kind: &str, value: &str) -> Result<Option<Uuid>, AuthError> {
        let claim = self
            .pipeline
            .load_latest::<UniqueClaim>(StreamName::of::<UniqueClaim>(claim_id(kind, value)))
            .await?;
        Ok(claim.state.owner.as_deref().and_then(|owner| Uuid::parse_str(owner).ok()))
    }

    fn context(&self, actor: Option<Uuid>, base: &CommandContext) -> CommandContext {
        CommandContext { actor: actor.map(|a| a.to_string()), idempotency_key: None, ..base.clone() }
    }

    /// `POST /auth/signup`.
    pub async fn sign_up(
        &self,
        form: SignUp,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let mut errors = Vec::new();
        let email = parse("email", Email::parse(&form.email), &mut errors);
        let handle = parse("handle", Handle::parse(&form.handle), &mut errors);
        let name = parse("name", DisplayName::parse(&form.name), &mut errors);
        if let Some(email) = &email {
            parse("password", check_password(&form.password, email), &mut errors);
        }
        let (Some(email), Some(handle), Some(name), true) = (email, handle, name, errors.is_empty()) else {
            return Err(AuthError::Invalid(errors));
        };
        let password_hash = self.passwords.hash(form.password).await.map_err(AuthError::internal)?;
        let user_id = Uuid::now_v7();
        let now = Utc::now();
        let verification = mint_opaque(user_id);
        let registration = Registration {
            email: Some(email.clone()),
            phone: None,
            handle: handle.clone(),
            name,
            password_hash: Some(password_hash),
            email_verification: Some(TokenChallenge {
                token_hash: verification.hash.clone(),
                expires_at: now + self.config.email_verification_ttl,
            }),
            at: now,
        };
        let outcome = self.register(user_id, registration, base).await?;
        self.send_verification_mail(&email, &verification);
        let mut signed_in = self.start_session(user_id, &outcome.account, device, base).await?;
        signed_in.position = signed_in.position.max(outcome.position);
        Ok(signed_in)
    }

    /// Creates an account with its two claims (email or phone, and handle) in one append.
    async fn register(
        &self,
        user_id: Uuid,
        registration: Registration,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let outcome = self
            .pipeline
            .decide(&Register { user_id, registration }, &self.context(Some(user_id), base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    RegistrationError::EmailTaken => AuthError::EmailTaken,
                    RegistrationError::PhoneTaken => AuthError::PhoneTaken,
                    RegistrationError::HandleTaken => AuthError::HandleTaken,
                    RegistrationError::NoSignInValue => AuthError::internal(refusal),
                    RegistrationError::Account(error) => account_refusal(error),
                })
            })?;
        let account = Account::default().fold(&outcome.events.0);
        Ok(AccountChange { account, position: outcome.position })
    }

    /// Starts a session for an account and mints its tokens.
    async fn start_session(
        &self,
        user_id: Uuid,
        account: &Account,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let session_id = Uuid::now_v7();
        let refresh = mint_opaque(session_id);
        let now = Utc::now();
        let command = SessionCommand::Start {
            account_id: user_id.to_string(),
            credentials_epoch: account.credentials_epoch,
            refresh: TokenChallenge {
                token_hash: refresh.hash.clone(),
                expires_at: now + self.config.refresh_ttl,
            },
            device: device.user_agent.as_ref().map(|agent| agent.chars().take(200).collect()),
            ip: device.ip.clone(),
            at: now,
        };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| command_error(error, |_| AuthError::internal("a session id was reused")))?;
        let (access_token, access_expires_at) =
            self.tokens.issue_access(user_id, session_id, account.role, now).map_err(AuthError::internal)?;
        Ok(SignedIn {
            user_id,
            session_id,
            access_token,
            access_expires_at,
            refresh_token: refresh.token,
            account: account.clone(),
            position: outcome.position,
        })
    }

    /// `POST /auth/login`. Unknown emails and wrong passwords take the same time and get the
    /// same answer; after too many failures for one address, every attempt is 429 for a while.
    pub async fn log_in(
        &self,
        email: &str,
        password: String,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let Ok(email) = Email::parse(email) else {
            // Not an address, so certainly no account: still spend a bcrypt's time.
            self.passwords.verify(password, None).await.map_err(AuthError::internal)?;
            return Err(AuthError::InvalidCredentials);
        };
        self.login_failures.begin(email.as_str()).await?;
        let account = match self.owner_of(EMAIL, email.as_str()).await? {
            Some(user_id) => Some((user_id, self.account(user_id).await?)),
            None => None,
        };
        let hash = account.as_ref().and_then(|(_, account)| account.password_hash.clone());
        let matches = self.passwords.verify(password, hash).await.map_err(AuthError::internal)?;
        let Some((user_id, account)) = account.filter(|_| matches) else {
            return Err(AuthError::InvalidCredentials);
        };
        self.login_failures.clear(email.as_str()).await?;
        self.start_session(user_id, &account, device, base).await
    }

    /// `POST /auth/refresh`: rotates the refresh token. A rotated token presented again ends
    /// the session for every holder.
    pub async fn refresh(&self, refresh_token: &str, base: &CommandContext) -> Result<SignedIn, AuthError> {
        let (session_id, presented_hash) = parse_opaque(refresh_token).ok_or(AuthError::InvalidToken)?;
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        let user_id = session
            .state
            .account_id
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(AuthError::InvalidToken)?;
        let account = self.account(user_id).await.map_err(|_| AuthError::InvalidToken)?;
        let now = Utc::now();
        let next = mint_opaque(session_id);
        let command = SessionCommand::Refresh {
            presented_hash,
            next: TokenChallenge { token_hash: next.hash.clone(), expires_at: now + self.config.refresh_ttl },
            account_epoch: account.credentials_epoch,
            at: now,
        };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    SessionError::UnknownToken | SessionError::AlreadyStarted => AuthError::InvalidToken,
                    SessionError::Expired => AuthError::TokenExpired,
                    SessionError::Ended => AuthError::SessionEnded,
                })
            })?;
        if outcome.events.iter().any(|event| matches!(event, SessionEvent::Revoked(_))) {
            tracing::warn!(%session_id, %user_id, "a rotated refresh token was reused; the session is revoked");
            return Err(AuthError::TokenReused);
        }
        let (access_token, access_expires_at) =
            self.tokens.issue_access(user_id, session_id, account.role, now).map_err(AuthError::internal)?;
        Ok(SignedIn {
            user_id,
            session_id,
            access_token,
            access_expires_at,
            refresh_token: next.token,
            account,
            position: outcome.position,
        })
    }

    /// Ends a session of `user_id` (`logout`, or `DELETE /auth/sessions/{id}`). Another
    /// user's session is `SessionNotFound`, exactly like a session that does not exist.
    pub async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevocationReason,
        base: &CommandContext,
    ) -> Result<Option<Position>, AuthError> {
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        if session.state.account_id.as_deref() != Some(user_id.to_string().as_str()) {
            return Err(AuthError::SessionNotFound);
        }
        let command = SessionCommand::Revoke { reason, at: Utc::now() };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| command_error(error, |_| AuthError::SessionNotFound))?;
        Ok(outcome.position)
    }

    /// Whether a session is live: not revoked, and not ended by a password change.
    pub async fn session_is_live(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, AuthError> {
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        let account = self.account(user_id).await?;
        Ok(session.state.account_id.as_deref() == Some(user_id.to_string().as_str())
            && session.state.is_live(account.credentials_epoch))
    }

    fn send_verification_mail(&self, email: &Email, token: &MintedToken) {
        let link = format!("{}/verify-email?token={}", self.config.app_url, token.token);
        self.send_mail(Mail {
            to: email.to_string(),
            subject: "Confirm your email address for Loopync".to_owned(),
            text: format!(
                "Welcome to Loopync!\n\nConfirm your email address by opening this link:\n{link}\n\n\
                 Or enter this code in the app: {}\n\nThe link expires in {} hours.",
                token.token,
                self.config.email_verification_ttl.as_secs() / 3600
            ),
        });
    }

    /// Mail goes out in the background: a slow mail server must not hold a request (and, for
    /// password resets, must not reveal by timing whether a mail was sent at all).
    fn send_mail(&self, mail: Mail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            let to = mail.to.clone();
            if let Err(error) = mailer.send(mail).await {
                tracing::warn!(%error, %to, "account mail could not be sent");
            }
        });
    }

    /// `POST /auth/verify-email`.
    pub async fn verify_email(&self, token: &str, base: &CommandContext) -> Result<AccountChange, AuthError> {
        let (user_id, token_hash) = parse_opaque(token).ok_or(AuthError::InvalidToken)?;
        // A token naming no account is just a wrong token: never say whether an id exists.
        self.change_account(user_id, None, AccountCommand::VerifyEmail { token_hash, at: Utc::now() }, base)
            .await
            .map_err(|error| match error {
                AuthError::UserNotFound => AuthError::InvalidToken,
                other => other,
            })
    }

    /// `POST /auth/resend-verification`.
    pub async fn resend_verification(&self, user_id: Uuid, base: &CommandContext) -> Result<(), AuthError> {
        let account = self.account(user_id).await?;
        let Some(email) = account.email.clone().filter(|_| !account.email_verified) else { return Ok(()) };
        let token = mint_opaque(user_id);
        let challenge = TokenChallenge {
            token_hash: token.hash.clone(),
            expires_at: Utc::now() + self.config.email_verification_ttl,
        };
        self.change_account(
            user_id,
            Some(user_id),
            AccountCommand::RequestEmailVerification(challenge),
            base,
        )
        .await?;
        self.send_verification_mail(&email, &token);
        Ok(())
    }

    /// `POST /auth/forgot-password`: always accepted. The work happens in the background, so
    /// neither the answer nor its timing says whether the address has an account.
    pub fn forgot_password(self: &Arc<Self>, email: &str, base: &CommandContext) {
        let Ok(email) = Email::parse(email) else { return };
        let identity = self.clone();
        let base = base.clone();
        tokio::spawn(async move {
            if let Err(error) = identity.send_password_reset(&email, &base).await {
                tracing::warn!(%error, "password reset could not be started");
            }
        });
    }

    async fn send_password_reset(&self, email: &Email, base: &CommandContext) -> Result<(), AuthError> {
        let Some(user_id) = self.owner_of(EMAIL, email.as_str()).await? else { return Ok(()) };
        let token = mint_opaque(user_id);
        let challenge = TokenChallenge {
            token_hash: token.hash.clone(),
            expires_at: Utc::now() + self.config.password_reset_ttl,
        };
        self.change_account(user_id, None, AccountCommand::RequestPasswordReset(challenge), base).await?;
        let link = format!("{}/reset-password?token={}", self.config.app_url, token.token);
        self.send_mail(Mail {
            to: email.to_string(),
            subject: "Reset your Loopync password".to_owned(),
            text: format!(
                "Someone asked to reset the password of your Loopync account.\n\n\
                 To choose a new password, open this link:\n{link}\n\nOr enter this code in the app: {}\n\n\
                 The link works once and expires in {} minutes. If you did not ask for this, ignore this mail.",
                token.token,
                self.config.password_reset_ttl.as_secs() / 60
            ),
        });
        Ok(())
    }

    /// `POST /auth/reset-password`: single use; ends every session of the account.
    pub async fn reset_password(
        &self,
        token: &str,
        password: String,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let (user_id, token_hash) = parse_opaque(token).ok_or(AuthError::InvalidToken)?;
        let account = self.account(user_id).await.map_err(|_| AuthError::InvalidToken)?;
        let email = account.email.as_ref().ok_or(AuthError::InvalidToken)?;
        check_password(&password, email).map_err(|e| AuthError::identity("password", &e))?;
        let password_hash = self.passwords.hash(password).await.map_err(AuthError::internal)?;
        self.change_account(
            user_id,
            None,
            AccountCommand::ResetPassword { token_hash, password_hash, at: Utc::now() },
            base,
        )
        .await
    }

    /// `POST /auth/change-password`: checks the current password, ends every session, and
    /// signs the caller in again on a new one.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current: String,
        new: String,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let account = self.account(user_id).await?;
        let verified_against = account.password_hash.clone().ok_or(AuthError::NoPassword)?;
        if let Some(email) = &account.email {
            check_password(&new, email).map_err(|e| AuthError::identity("newPassword", &e))?;
        } else if !(8..=128).contains(&new.chars().count()) {
            return Err(AuthError::field("newPassword", IdentityError::PasswordLength.to_string()));
        }
        self.login_failures.begin(&user_id.to_string()).await?;
        if !self
            .passwords
            .verify(current, Some(verified_against.clone()))
            .await
            .map_err(AuthError::internal)?
        {
            return Err(AuthError::InvalidCredentials);
        }
        self.login_failures.clear(&user_id.to_string()).await?;
        let password_hash = self.passwords.hash(new).await.map_err(AuthError::internal)?;
        let command = AccountCommand::ChangePassword { verified_against, password_hash, at: Utc::now() };
        let changed = self.change_account(user_id, Some(user_id), command, base).await?;
        let mut signed_in = self.start_session(user_id, &changed.account, device, base).await?;
        signed_in.position = signed_in.position.max(changed.position);
        Ok(signed_in)
    }

    /// Runs one account command; the account after it.
    async fn change_account(
        &self,
        user_id: Uuid,
        actor: Option<Uuid>,
        command: AccountCommand,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let outcome = self
            .pipeline
            .execute::<Account>(user_id, command, &self.context(actor, base))
            .await
            .map_err(|error| command_error(error, account_refusal))?;
        let account = self.account(user_id).await?;
        Ok(AccountChange { account, position: outcome.position })
    }

    /// `POST /auth/send-code`.
    pub async fn send_code(&self, phone: &str, base: &CommandContext) -> Result<CodeSent, AuthError> {
        let phone = PhoneNumber::parse(phone).map_err(|e| AuthError::identity("phoneNumber", &e))?;
        let code = six_digit_code();
        let now = Utc::now();
        let command = PhoneCodeCommand::Send {
            code_hash: self.tokens.code_hash(phone.as_str(), &code),
            at: now,
            valid_for_seconds: self.config.code_ttl.as_secs() as i64,
            resend_after_seconds: self.config.code_resend_after.as_secs() as i64,
        };
        self.pipeline
            .execute::<PhoneCode>(phone.as_str(), command, &self.context(None, base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    PhoneCodeError::Cooldown(at) => AuthError::CodeCooldown {
                        retry_after: (at - now).num_seconds().clamp(1, i64::from(u32::MAX)) as u32,
                    },
                    other => AuthError::internal(other),
                })
            })?;
        let minutes = self.config.code_ttl.as_secs() / 60;
        let sms = Sms {
            to: phone.to_string(),
            text: format!("{code} is your Loopync code. It expires in {minutes} minutes."),
        };
        // Sent inline: the client needs to know whether a code is on its way.
        self.sms.send(sms).await.map_err(|error| {
            tracing::warn!(%error, "sign-in code could not be sent");
            AuthError::DeliveryUnavailable
        })?;
        Ok(CodeSent {
            expires_in_seconds: self.config.code_ttl.as_secs(),
            resend_after_seconds: self.config.code_resend_after.as_secs(),
        })
    }

    /// `POST /auth/verify-phone`: signs in the account of that number, or creates one.
    pub async fn verify_phone(
        &self,
        phone: &str,
        code: &str,
        name: Option<String>,
        handle: Option<String>,
        device: &Device,
        base: &CommandContext,
    ) -> Result<PhoneSignIn, AuthError> {
        let phone = PhoneNumber::parse(phone).map_err(|e| AuthError::identity("phoneNumber", &e))?;
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::field("code", "a code is six digits"));
        }
        // Check the optional profile first: a wrong handle must not use up the code.
        let mut errors = Vec::new();
        let handle = handle.map(|h| parse("handle", Handle::parse(&h), &mut errors));
        let name = name.map(|n| parse("name", DisplayName::parse(&n), &mut errors));
        if !errors.is_empty() {
            return Err(AuthError::Invalid(errors));
        }
        // A handle someone else holds would fail the sign-up after the code is used up: refuse
        // first, while the code is still good. (A race for the handle in between is rare; the
        // claim still decides it.)
        if let Some(Some(wanted)) = &handle
            && self.owner_of(HANDLE, wanted.as_str()).await?.is_some()
            && self.owner_of(PHONE, phone.as_str()).await?.is_none()
        {
            return Err(AuthError::HandleTaken);
        }
        let command = PhoneCodeCommand::Verify {
            code_hash: self.tokens.code_hash(phone.as_str(), code),
            at: Utc::now(),
            max_attempts: self.config.code_attempts,
        };
        let outcome = self
            .pipeline
            .execute::<PhoneCode>(phone.as_str(), command, &self.context(None, base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    PhoneCodeError::NoCode => AuthError::NoCodePending,
                    PhoneCodeError::Expired => AuthError::CodeExpired,
                    PhoneCodeError::TooManyAttempts => AuthError::TooManyAttempts,
                    PhoneCodeError::Cooldown(_) => AuthError::internal("cooldown on verify"),
                })
            })?;
        if let Some(PhoneCodeEvent::AttemptFailed(failed)) = outcome.events.first() {
            let remaining = self.config.code_attempts.saturating_sub(failed.failed_attempts);
            return Err(AuthError::InvalidCode { remaining });
        }
        if let Some(user_id) = self.owner_of(PHONE, phone.as_str()).await? {
            let account = self.account(user_id).await?;
            let signed_in = self.start_session(user_id, &account, device, base).await?;
            return Ok(PhoneSignIn { signed_in, new_account: false });
        }
        let user_id = Uuid::now_v7();
        let handle = match handle.flatten() {
            Some(handle) => handle,
            // `user_` and 12 hex digits of the id's random part: practically never taken.
            None => Handle::parse(&format!("user_{}", &user_id.simple().to_string()[20..]))
                .map_err(AuthError::internal)?,
        };
        let name = match name.flatten() {
            Some(name) => name,
            None => DisplayName::parse(handle.as_str()).map_err(AuthError::internal)?,
        };
        let registration = Registration {
            email: None,
            phone: Some(phone.clone()),
            handle: handle.clone(),
            name,
            password_hash: None,
            email_verification: None,
            at: Utc::now(),
        };
        let created = self.register(user_id, registration, base).await?;
        let mut signed_in = self.start_session(user_id, &created.account, device, base).await?;
        signed_in.position = signed_in.position.max(created.position);
        Ok(PhoneSignIn { signed_in, new_account: true })
    }

    /// `PATCH /users/{id}/profile`. A handle change releases the old handle and claims the new
    /// one in the same append as the account's events.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        change: ProfileChange,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let current = self.account(user_id).await?;
        let mut errors = Vec::new();
        let name = change.name.as_ref().and_then(|name| parse("name", DisplayName::parse(name), &mut errors));
        let handle = match &change.handle {
            Some(handle) => parse("handle", Handle::parse(handle), &mut errors),
            None => current.handle.clone(),
        };
        let patch = ProfilePatch {
            name,
            bio: change.bio,
            avatar: change.avatar,
            cover_photo: change.cover_photo,
            location: change.location,
            website: change.website,
        };
        // Checked here for a 400 naming every bad field at once; `decide` checks the merge again.
        if let Err(error) = patch.applied_to(&current.profile) {
            errors.push(FieldProblem::new(error.field, error.reason));
        }
        let (Some(handle), true) = (handle, errors.is_empty()) else {
            return Err(AuthError::Invalid(errors));
        };
        let old_handle = current.handle.clone().ok_or(AuthError::UserNotFound)?;
        if handle == old_handle {
            return self
                .change_account(user_id, Some(user_id), AccountCommand::UpdateProfile(patch), base)
                .await;
        }

        let rename = ChangeHandle { user_id, from: old_handle, to: handle, profile: patch };
        let outcome =
            self.pipeline.decide(&rename, &self.context(Some(user_id), base)).await.map_err(|error| {
                command_error(error, |refusal| match refusal {
                    HandleChangeError::HandleTaken => AuthError::HandleTaken,
                    // Another request changed the handle meanwhile: the client should reload.
                    HandleChangeError::HandleChanged => AuthError::ProfileChanged,
                    HandleChangeError::Account(error) => account_refusal(error),
                })
            })?;
        let account = self.account(user_id).await?;
        Ok(AccountChange { account, position: outcome.position })
    }

    /// `PUT /users/{id}/settings`.
    pub async fn update_settings(
        &self,
        user_id: Uuid,
        settings: Settings,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        self.change_account(user_id, Some(user_id), AccountCommand::UpdateSettings(settings), base).await
    }

    /// The caller's current role, read from the account (not the token, which may be up to
    /// one access lifetime old): the one check behind every admin endpoint.
    pub async fn current_role(&self, user_id: Uuid) -> Result<Role, AuthError> {
        Ok(self.account(user_id).await.map_err(|_| AuthError::Forbidden)?.role)
    }

    /// `PUT /admin/users/{id}/role`.
    pub async fn change_role(
        &self,
        admin: Uuid,
        admin_role: Role,
        user_id: Uuid,
        role: Role,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        self.change_account(user_id, Some(admin), AccountCommand::ChangeRole { role, by: admin_role }, base)
            .await
    }
}
