//! The refusals of the identity endpoints, and their HTTP answers.
//!
//! Every refusal has a stable `code`. Sign-in failures are deliberately vague: an unknown
//! email and a wrong password are both `invalid_credentials`, and a password reset is
//! accepted whether or not the address has an account.

use super::passwords::PasswordError;
use crate::problem::{DomainProblem, FieldProblem, Problem, codes, field_codes};
use loopync_commands::{CommandError, StoreError};
use loopync_domain::identity::IdentityError;
use loopync_domain::identity::account::AccountError;
use poem::http::StatusCode;

/// Stable codes of the identity endpoints.
pub mod auth_codes {
    pub const EMAIL_TAKEN: &str = "email_taken";
    pub const HANDLE_TAKEN: &str = "handle_taken";
    pub const PHONE_TAKEN: &str = "phone_taken";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const INVALID_TOKEN: &str = "invalid_token";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const TOKEN_REUSED: &str = "token_reused";
    pub const SESSION_ENDED: &str = "session_ended";
    pub const INVALID_CODE: &str = "invalid_code";
    pub const CODE_EXPIRED: &str = "code_expired";
    pub const NO_CODE_PENDING: &str = "no_code_pending";
    pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";
    pub const CODE_COOLDOWN: &str = "code_cooldown";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const USER_NOT_FOUND: &str = "user_not_found";
    pub const SESSION_NOT_FOUND: &str = "session_not_found";
    pub const NO_PASSWORD: &str = "no_password";
    pub const ROLE_CHANGE_NOT_ALLOWED: &str = "role_change_not_allowed";
    pub const CREDENTIALS_CHANGED: &str = "credentials_changed";
    pub const DELIVERY_UNAVAILABLE: &str = "delivery_unavailable";
}

use auth_codes as c;

/// Why an identity request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Fields that are malformed: one entry per field.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldProblem>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this handle is taken")]
    HandleTaken,
    #[error("this phone number belongs to another account")]
    PhoneTaken,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("this refresh token was already used; the session has been ended, sign in again")]
    TokenReused,
    #[error("the session has ended; sign in again")]
    SessionEnded,
    #[error("the code is wrong; {remaining} attempts left")]
    InvalidCode { remaining: u32 },
    #[error("the code has expired; request a new one")]
    CodeExpired,
    #[error("no code is pending for this number; request one")]
    NoCodePending,
    #[error("too many wrong codes; request a new one")]
    TooManyAttempts,
    #[error("a code was sent recently; retry in {retry_after} s")]
    CodeCooldown { retry_after: u32 },
    #[error("too many attempts; retry in {retry_after} s")]
    RateLimited { retry_after: u32 },
    #[error("you may not do this")]
    Forbidden,
    #[error("no such user")]
    UserNotFound,
    #[error("no such session")]
    SessionNotFound,
    #[error("this account signs in by phone and has no password")]
    NoPassword,
    #[error("this role may not make that role change")]
    RoleChangeNotAllowed,
    #[error("the password changed while this request was being handled; sign in again")]
    CredentialsChanged,
    #[error("the message could not be sent; retry later")]
    DeliveryUnavailable,
    #[error("the profile changed while this request was handled; reload and retry")]
    ProfileChanged,
    /// Too many passwords are waiting to be checked on this node.
    #[error("the server is busy checking passwords; retry in a moment")]
    Busy,
    /// What the command pipeline answers for every feature alike: the streams kept changing,
    /// an idempotency key was reused or malformed, the store is unreachable.
    #[error("{0}")]
    Command(CommandError<Never>),
    /// The read models could not be read.
    #[error("the read models could not be read: {0}")]
    Database(#[from] sqlx::Error),
    /// Something inside the server broke; the cause was logged where it happened.
    #[error("the request failed inside the server")]
    Internal,
}

impl AuthError {
    /// A single malformed field, with its field code.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, code, message)])
    }

    /// A malformed identity value in `field`, its stable code in the message.
    pub fn identity(field: &str, error: &IdentityError) -> Self {
        Self::Invalid(vec![identity_problem(field, error)])
    }

    /// Lost infrastructure: logged by the conversion, answered as 500.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "identity request failed inside the server");
        Self::Internal
    }
}

/// One field's problem for a malformed identity value: its stable code in `code`, the
/// domain's plain-words reason as the message.
pub fn identity_problem(field: &str, error: &IdentityError) -> FieldProblem {
    FieldProblem::new(field, identity_code(error), error.to_string())
}

/// The stable code of a malformed identity value.
pub fn identity_code(error: &IdentityError) -> &'static str {
    match error {
        IdentityError::InvalidEmail => "invalid_email",
        IdentityError::InvalidHandle => "invalid_handle",
        IdentityError::PasswordLength | IdentityError::PasswordIsEmail => "weak_password",
        IdentityError::InvalidPhoneNumber => "invalid_phone_number",
        IdentityError::InvalidName => "invalid_name",
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        // The platform's answers, as every feature gives them.
        let error = match error {
            AuthError::Command(error) => return Problem::from(error),
            AuthError::Database(error) => return Problem::from(error),
            AuthError::Internal => return Problem::internal(),
            refusal => refusal,
        };
        let detail = error.to_string();
        let (status, code) = match &error {
            AuthError::Invalid(fields) => {
                return Problem::invalid_request("the request has invalid fields")
                    .with_errors(fields.clone());
            }
            // Answered above; a refusal never reaches here as one of these.
            AuthError::Command(_) | AuthError::Database(_) | AuthError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL_ERROR)
            }
            AuthError::CodeCooldown { retry_after } => {
                return Problem::new(StatusCode::TOO_MANY_REQUESTS, c::CODE_COOLDOWN, detail)
                    .with_retry_after(*retry_after);
            }
            AuthError::RateLimited { retry_after } => {
                return Problem::new(StatusCode::TOO_MANY_REQUESTS, c::RATE_LIMITED, detail)
                    .with_retry_after(*retry_after);
            }
            AuthError::Busy => {
                return Problem::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_UNAVAILABLE, detail)
                    .with_retry_after(1);
            }
            AuthError::DeliveryUnavailable => {
                return Problem::new(StatusCode::SERVICE_UNAVAILABLE, c::DELIVERY_UNAVAILABLE, detail)
                    .with_retry_after(crate::problem::RETRY_AFTER_SECONDS);
            }
            AuthError::EmailTaken => (StatusCode::CONFLICT, c::EMAIL_TAKEN),
            AuthError::HandleTaken => (StatusCode::CONFLICT, c::HANDLE_TAKEN),
            AuthError::PhoneTaken => (StatusCode::CONFLICT, c::PHONE_TAKEN),
            AuthError::InvalidCredentials => (StatusCode::UNAUTHORIZED, c::INVALID_CREDENTIALS),
            AuthError::InvalidToken => (StatusCode::UNAUTHORIZED, c::INVALID_TOKEN),
            AuthError::TokenExpired => (StatusCode::UNAUTHORIZED, c::TOKEN_EXPIRED),
            AuthError::TokenReused => (StatusCode::UNAUTHORIZED, c::TOKEN_REUSED),
            AuthError::SessionEnded => (StatusCode::UNAUTHORIZED, c::SESSION_ENDED),
            AuthError::InvalidCode { .. } => (StatusCode::BAD_REQUEST, c::INVALID_CODE),
            AuthError::CodeExpired => (StatusCode::BAD_REQUEST, c::CODE_EXPIRED),
            AuthError::NoCodePending => (StatusCode::BAD_REQUEST, c::NO_CODE_PENDING),
            AuthError::TooManyAttempts => (StatusCode::BAD_REQUEST, c::TOO_MANY_ATTEMPTS),
            AuthError::Forbidden => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            AuthError::UserNotFound => (StatusCode::NOT_FOUND, c::USER_NOT_FOUND),
            AuthError::SessionNotFound => (StatusCode::NOT_FOUND, c::SESSION_NOT_FOUND),
            AuthError::NoPassword => (StatusCode::CONFLICT, c::NO_PASSWORD),
            AuthError::RoleChangeNotAllowed => (StatusCode::FORBIDDEN, c::ROLE_CHANGE_NOT_ALLOWED),
            AuthError::CredentialsChanged => (StatusCode::CONFLICT, c::CREDENTIALS_CHANGED),
            AuthError::ProfileChanged => (StatusCode::CONFLICT, codes::CONFLICT),
        };
        Problem::new(status, code, detail)
    }
}

impl From<PasswordError> for AuthError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => Self::Busy,
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        Self::Command(CommandError::Store(error))
    }
}

/// A command's failure: its domain refusal through `refusal`, the rest as problems.
pub fn command_error<E>(error: CommandError<E>, refusal: impl FnOnce(E) -> AuthError) -> AuthError {
    match error {
        CommandError::Domain(e) => refusal(e),
        CommandError::Conflict { attempts } => AuthError::Command(CommandError::Conflict { attempts }),
        CommandError::IdempotencyKeyReused { key } => {
            AuthError::Command(CommandError::IdempotencyKeyReused { key })
        }
        CommandError::InvalidIdempotencyKey(reason) => {
            AuthError::Command(CommandError::InvalidIdempotencyKey(reason))
        }
        CommandError::Store(error) => AuthError::Command(CommandError::Store(error)),
    }
}

/// The refusals of the account aggregate, as the identity endpoints answer them.
pub fn account_refusal(error: AccountError) -> AuthError {
    match error {
        AccountError::NotFound => AuthError::UserNotFound,
        AccountError::AlreadyRegistered => AuthError::internal("an account id was reused"),
        AccountError::NoEmail => {
            AuthError::field("email", field_codes::INVALID, "the account has no email address")
        }
        AccountError::NoPassword => AuthError::NoPassword,
        AccountError::InvalidToken => AuthError::InvalidToken,
        AccountError::TokenExpired => AuthError::TokenExpired,
        AccountError::CredentialsChanged => AuthError::CredentialsChanged,
        AccountError::RoleChangeNotAllowed => AuthError::RoleChangeNotAllowed,
        AccountError::InvalidProfile(error) => {
            AuthError::field(error.field, field_codes::INVALID, error.reason)
        }
    }
}

/// A domain error type with no values, to reuse `CommandError`'s conversions.
#[derive(Debug, thiserror::Error)]
#[error("never")]
pub enum Never {}

impl DomainProblem for Never {
    fn status(&self) -> StatusCode {
        match *self {}
    }
    fn code(&self) -> &'static str {
        match *self {}
    }
}
