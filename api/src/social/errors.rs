//! The refusals of the social endpoints and their HTTP answers, each with a stable `code`.
//!
//! Bad input (empty or oversize text, a media id before media exist) is 400; a user or post
//! the caller may not see is 404, exactly as one that does not exist (a private post's
//! existence is never revealed); a relationship the request does not fit is 404
//! (`request_not_found`, `not_friends`) or 409 (`already_friends`); acting on oneself is 422
//! `self_target`; acting on someone one has blocked is 403 `blocked`. In every case nothing
//! was appended.

use crate::problem::{DomainProblem, FieldProblem, Problem, codes, field_codes};
use loopync_commands::{CommandError, StoreError};
use loopync_domain::social::{SocialError, TextError};
use poem::http::StatusCode;

/// Stable codes of the social endpoints.
pub mod social_codes {
    pub const SELF_TARGET: &str = "self_target";
    pub const ALREADY_FRIENDS: &str = "already_friends";
    pub const REQUEST_NOT_FOUND: &str = "request_not_found";
    pub const NOT_FRIENDS: &str = "not_friends";
    pub const BLOCKED: &str = "blocked";
    pub const NOT_BLOCKED: &str = "not_blocked";
    pub const USER_NOT_FOUND: &str = "user_not_found";
    pub const POST_NOT_FOUND: &str = "post_not_found";
    pub const COMMENT_NOT_FOUND: &str = "comment_not_found";
    pub const EDIT_WINDOW_CLOSED: &str = "edit_window_closed";
    pub const EMPTY_POST: &str = "empty_post";
    pub const EMPTY_COMMENT: &str = "empty_comment";
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    pub const MEDIA_NOT_SUPPORTED: &str = "media_not_supported";
    pub const NOT_SHAREABLE: &str = "not_shareable";
    pub const NOT_FOLLOWABLE: &str = "not_followable";
    pub const PROFILE_HIDDEN: &str = "profile_hidden";
    pub const INVALID_HASHTAG: &str = "invalid_hashtag";
}

use social_codes as c;

/// Why a social use case did not happen. Nothing was appended.
#[derive(Debug, thiserror::Error)]
pub enum SocialApiError {
    /// The rules refused the command, or the event store failed.
    #[error(transparent)]
    Command(#[from] CommandError<SocialError>),
    /// No such user, or one the caller may not see (blocked by them).
    #[error("no user with this id")]
    UserNotFound,
    /// No such post, or one the caller may not see.
    #[error("no post with this id")]
    PostNotFound,
    #[error("no comment with this id")]
    CommentNotFound,
    /// A text field is empty, too long or holds control characters.
    #[error("`{field}`: {error}")]
    Text { field: &'static str, empty_code: &'static str, error: TextError },
    #[error("media cannot be attached yet: `mediaIds` is accepted once the media service exists")]
    MediaNotSupported,
    #[error("only public posts can be shared")]
    NotShareable,
    #[error("only public profiles can be followed; send a friend request instead")]
    NotFollowable,
    #[error("this user's {0} are not shown to you")]
    ProfileHidden(&'static str),
    #[error("`{0}` is not a hashtag")]
    InvalidHashtag(String),
    #[error("{0}")]
    Invalid(String, Vec<FieldProblem>),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<SocialError> for SocialApiError {
    fn from(refusal: SocialError) -> Self {
        Self::Command(CommandError::Domain(refusal))
    }
}

impl From<StoreError> for SocialApiError {
    fn from(error: StoreError) -> Self {
        Self::Command(CommandError::Store(error))
    }
}

impl From<SocialApiError> for Problem {
    fn from(error: SocialApiError) -> Self {
        let detail = error.to_string();
        match error {
            SocialApiError::Command(error) => error.into(),
            SocialApiError::Database(error) => error.into(),
            SocialApiError::UserNotFound => Problem::new(StatusCode::NOT_FOUND, c::USER_NOT_FOUND, detail),
            SocialApiError::PostNotFound => Problem::new(StatusCode::NOT_FOUND, c::POST_NOT_FOUND, detail),
            SocialApiError::CommentNotFound => {
                Problem::new(StatusCode::NOT_FOUND, c::COMMENT_NOT_FOUND, detail)
            }
            SocialApiError::Text { field, empty_code, error } => {
                let (code, field_code) = match error {
                    TextError::Empty => (empty_code, field_codes::INVALID_LENGTH),
                    TextError::TooLong { .. } => (c::TEXT_TOO_LONG, field_codes::INVALID_LENGTH),
                    TextError::InvalidCharacters => (codes::INVALID_REQUEST, field_codes::INVALID_CHARACTERS),
                };
                Problem::new(StatusCode::BAD_REQUEST, code, detail).with_errors([FieldProblem::new(
                    field,
                    field_code,
                    error.to_string(),
                )])
            }
            SocialApiError::MediaNotSupported => {
                Problem::new(StatusCode::BAD_REQUEST, c::MEDIA_NOT_SUPPORTED, detail).with_errors([
                    FieldProblem::new("mediaIds", field_codes::NOT_ALLOWED, "not accepted yet"),
                ])
            }
            SocialApiError::NotShareable => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, c::NOT_SHAREABLE, detail)
            }
            SocialApiError::NotFollowable => Problem::new(StatusCode::FORBIDDEN, c::NOT_FOLLOWABLE, detail),
            SocialApiError::ProfileHidden(_) => {
                Problem::new(StatusCode::FORBIDDEN, c::PROFILE_HIDDEN, detail)
            }
            SocialApiError::InvalidHashtag(_) => {
                Problem::new(StatusCode::BAD_REQUEST, c::INVALID_HASHTAG, detail).with_errors([
                    FieldProblem::new("tag", field_codes::INVALID, "letters, digits and `_`, at most 50"),
                ])
            }
            SocialApiError::Invalid(detail, errors) => Problem::invalid_request(detail).with_errors(errors),
        }
    }
}

impl DomainProblem for SocialError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SelfTarget => StatusCode::UNPROCESSABLE_ENTITY,
            Self::AlreadyFriends | Self::EditWindowClosed | Self::PostExists => StatusCode::CONFLICT,
            Self::RequestNotFound
            | Self::NotFriends
            | Self::NotBlocked
            | Self::PostNotFound
            | Self::CommentNotFound => StatusCode::NOT_FOUND,
            Self::Blocked | Self::NotAuthor => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::SelfTarget => c::SELF_TARGET,
            Self::AlreadyFriends => c::ALREADY_FRIENDS,
            Self::RequestNotFound => c::REQUEST_NOT_FOUND,
            Self::NotFriends => c::NOT_FRIENDS,
            Self::Blocked => c::BLOCKED,
            Self::NotBlocked => c::NOT_BLOCKED,
            Self::PostNotFound => c::POST_NOT_FOUND,
            Self::CommentNotFound => c::COMMENT_NOT_FOUND,
            Self::NotAuthor => codes::FORBIDDEN,
            Self::EditWindowClosed => c::EDIT_WINDOW_CLOSED,
            Self::PostExists => codes::CONFLICT,
            Self::Invalid(TextError::Empty) => c::EMPTY_POST,
            Self::Invalid(TextError::TooLong { .. }) => c::TEXT_TOO_LONG,
            Self::Invalid(TextError::InvalidCharacters) => codes::INVALID_REQUEST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_their_documented_statuses_and_codes() {
        let answer = |error: SocialError| (error.status().as_u16(), error.code());
        assert_eq!(answer(SocialError::SelfTarget), (422, "self_target"));
        assert_eq!(answer(SocialError::AlreadyFriends), (409, "already_friends"));
        assert_eq!(answer(SocialError::RequestNotFound), (404, "request_not_found"));
        assert_eq!(answer(SocialError::Blocked), (403, "blocked"));
        assert_eq!(answer(SocialError::PostNotFound), (404, "post_not_found"));
        assert_eq!(answer(SocialError::Invalid(TextError::TooLong { max: 5000 })), (400, "text_too_long"));
        let empty = Problem::from(SocialApiError::Text {
            field: "text",
            empty_code: c::EMPTY_COMMENT,
            error: TextError::Empty,
        });
        assert_eq!((empty.status().as_u16(), empty.code()), (400, "empty_comment"));
        assert_eq!(empty.errors()[0].field, "text");
    }
}
