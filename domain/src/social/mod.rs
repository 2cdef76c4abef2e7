//! The social core: who is whose friend, follower or blocker, and what they post, like,
//! comment on and keep.
//!
//! Every aggregate here is small, so that nothing popular is a point of contention:
//!
//! - [`Relationship`]: one stream per *unordered pair* of users (`relationship-<a>:<b>`, the
//!   smaller id first) holds everything between the two — a friend request and by whom,
//!   the friendship, each one's follow of the other, each one's block of the other. Both
//!   sides' commands are decided on the same state, so crossed friend requests end as one
//!   friendship and a block ends friendship, requests and follows in the same event.
//! - [`Post`]: a post (or a repost) and its edits, by its author alone.
//! - [`Like`] and [`Bookmark`]: one stream per (post, user). A like is idempotent by
//!   construction (liking twice decides nothing), and a thousand users liking one post
//!   append to a thousand streams: no stream of the post's is written, so there is nothing
//!   to conflict on. The post's counts are the projections' business.
//! - [`Comment`]: one stream per comment, so a busy thread is no hot stream either.
//!
//! Facts that live in read models (whether a post exists and may be seen, who a handle
//! belongs to) are checked by the service before a command is decided; the decisions here
//! enforce what each stream alone can: a like is not doubled, a comment is deleted once and
//! only by its author or the post's, a post is edited only by its author within
//! [`EDIT_WINDOW_MINUTES`].

pub mod comment;
pub mod post;
pub mod reaction;
pub mod relationship;
pub mod values;
pub mod visibility;

pub use comment::*;
pub use post::*;
pub use reaction::*;
pub use relationship::*;
pub use values::*;
pub use visibility::Relation;

/// How long after posting the author may still edit a post's text.
pub const EDIT_WINDOW_MINUTES: i64 = 15;

/// Why a social command was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocialError {
    #[error("one cannot do this to oneself")]
    SelfTarget,
    #[error("you are already friends")]
    AlreadyFriends,
    #[error("there is no such friend request")]
    RequestNotFound,
    #[error("you are not friends")]
    NotFriends,
    #[error("one of you has blocked the other")]
    Blocked,
    #[error("you have not blocked this user")]
    NotBlocked,
    #[error("no such post")]
    PostNotFound,
    #[error("no such comment")]
    CommentNotFound,
    #[error("only the author may do this")]
    NotAuthor,
    #[error("a post can be edited only within {EDIT_WINDOW_MINUTES} minutes of posting")]
    EditWindowClosed,
    #[error("the post already exists")]
    PostExists,
    #[error(transparent)]
    Invalid(#[from] TextError),
}

#[cfg(test)]
mod rules;
