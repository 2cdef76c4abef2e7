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

    /// What the actor did, as a summary says it: "liked your post".
    pub fn phrase(self) -> &'static str {
        match self {
            Self::FriendRequest => "asked to be your friend",
            Self::FriendAccepted => "accepted your friend request",
            Self::Like => "liked your post",
            Self::Comment => "commented on your post",
            Self::Reply => "replied to your comment",
            Self::Mention => "mentioned you",
            Self::Repost => "shared your post",
        }
    }

    /// Whether notifications of this kind about one post are shown as one ("Ada and 3 others
    /// liked your post").
    pub fn groups(self) -> bool {
        matches!(self, Self::Like | Self::Repost)
    }
}

/// How an entry reads: "Ada liked your post", "Ada and 1 other …", "Ada and 3 others …", for
/// `actors` different users of whom `first` is the latest.
pub fn summary(first: &str, actors: i64, kind: NotificationKind) -> String {
    let what = kind.phrase();
    match actors {
        ..=1 => format!("{first} {what}"),
        2 => format!("{first} and 1 other {what}"),
        n => format!("{first} and {} others {what}", n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_the_latest_actor_and_count_the_others() {
        assert_eq!(summary("Ada", 1, NotificationKind::Like), "Ada liked your post");
        assert_eq!(summary("Ada", 2, NotificationKind::Repost), "Ada and 1 other shared your post");
        assert_eq!(summary("Ada", 4, NotificationKind::Like), "Ada and 3 others liked your post");
        assert_eq!(summary("Ada", 1, NotificationKind::FriendRequest), "Ada asked to be your friend");
    }
}
