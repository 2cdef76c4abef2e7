//! The refusals of the notifications endpoints, each with a stable `code`.

use crate::problem::{DomainProblem, FieldProblem, Problem, field_codes};
use loopync_commands::CommandError;
use loopync_domain::notifications::InboxError;
use poem::http::StatusCode;

/// Stable codes of the notifications endpoints.
pub mod notification_codes {
    pub const NOTIFICATION_NOT_FOUND: &str = "notification_not_found";
    pub const INVALID_PUSH_TOKEN: &str = "invalid_push_token";
    pub const TOO_MANY_IDS: &str = "too_many_ids";
}

use notification_codes as c;

/// Why a notifications use case did not happen. Nothing was appended.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error(transparent)]
    Command(#[from] CommandError<InboxError>),
    /// No such notification among the caller's.
    #[error("no notification of yours with this id")]
    NotFound,
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<loopync_commands::StoreError> for NotificationsError {
    fn from(error: loopync_commands::StoreError) -> Self {
        Self::Command(CommandError::Store(error))
    }
}

impl From<NotificationsError> for Problem {
    fn from(error: NotificationsError) -> Self {
        let detail = error.to_string();
        match error {
            NotificationsError::Command(CommandError::Domain(InboxError::InvalidPushToken)) => {
                Problem::new(StatusCode::BAD_REQUEST, c::INVALID_PUSH_TOKEN, detail.clone())
                    .with_errors([FieldProblem::new("token", field_codes::INVALID, detail)])
            }
            NotificationsError::Command(error) => error.into(),
            NotificationsError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, c::NOTIFICATION_NOT_FOUND, detail)
            }
            NotificationsError::Database(error) => error.into(),
        }
    }
}

impl DomainProblem for InboxError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooManyIds => c::TOO_MANY_IDS,
            Self::InvalidPushToken => c::INVALID_PUSH_TOKEN,
        }
    }
}
