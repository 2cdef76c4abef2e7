//! Notifications: what a user is told of (a friend request, a like, a comment, a reply, a
//! mention, a repost), and what they do with it.
//!
//! The notifications themselves are not decided by anyone: the notifications read model
//! derives them from the events that cause them (a `like.added` notifies the post's author),
//! with deterministic ids, so a rebuild or a crash never duplicates one. What *is* decided is
//! the user's side, on one stream per user, [`Inbox`] (`inbox-<user>`): which notifications
//! they have read or deleted, which kinds they want ([`NotificationSettings`]), and the
//! devices push notifications go to.

pub mod inbox;

pub use inbox::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone asked you to be friends.
    FriendRequest,
    /// Someone accepted your friend request.
    FriendAccepted,
    /// Someone liked your post.
    Like,
    /// Someone commented on your post.
    Comment,
    /// Someone replied to your comment.
    Reply,
    /// Someone mentioned you in a post or a comment.
    Mention,
    /// Someone shared your post.
    Repost,
}

impl NotificationKind {
    pub const ALL: [Self; 7] = [
        Self::FriendRequest,
        Self::FriendAccepted,
        Self::Like,
        Self::Comment,
        Self::Reply,
        Self::Mention,
        Self::Repost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FriendRequest => "friend_request",
            Self::FriendAccepted => "friend_accepted",
            Self::Like => "like",
            Self::Comment => "comment",
            Self::Reply => "reply",
            Self::Mention => "mention",
            Self::Repost => "repost",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether notifications of this kind about one post are shown as one ("Ada and 3 others
    /// liked your post").
    pub fn groups(self) -> bool {
        matches!(self, Self::Like | Self::Repost)
    }
}
