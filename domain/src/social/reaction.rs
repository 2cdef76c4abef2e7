//! Likes and bookmarks: one stream per (post, user) — `like-<post>:<user>`,
//! `bookmark-<post>:<user>` — holding only whether it is set. Setting what is set, or
//! clearing what is clear, decides nothing, so a like is idempotent by construction; and no
//! two users' likes share a stream, so a post liked by thousands at once has no contention.

use super::SocialError;
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The stream id of `user`'s like or bookmark of `post`.
pub fn reaction_id(post: Uuid, user: Uuid) -> String {
    format!("{post}:{user}")
}

/// What a user asks of their like or bookmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Set,
    Clear,
    /// Set when clear, clear when set (the seed's `POST .../like`): not retry-safe, since a
    /// retry undoes the first.
    Toggle,
}

/// A command on a like or a bookmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkCommand {
    pub post: Uuid,
    pub user: Uuid,
    pub mark: Mark,
    /// The post's author, as the service found it (for notifications and counts).
    #[serde(skip)]
    pub post_author: Uuid,
    #[serde(skip)]
    pub at: DateTime<Utc>,
}

/// Payload of `like.added`, `like.removed`, `bookmark.added` and `bookmark.removed`, schema
/// version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkChanged {
    pub post: Uuid,
    pub user: Uuid,
    pub post_author: Uuid,
    pub at: DateTime<Utc>,
}

/// What [`Like`] and [`Bookmark`] decide alike: `None` when the command changes nothing,
/// else the new setting and its event's payload.
fn decide_mark(set: bool, command: &MarkCommand) -> Option<(bool, MarkChanged)> {
    let wanted = match command.mark {
        Mark::Set => true,
        Mark::Clear => false,
        Mark::Toggle => !set,
    };
    if wanted == set {
        return None;
    }
    let change = MarkChanged {
        post: command.post,
        user: command.user,
        post_author: command.post_author,
        at: command.at,
    };
    Some((wanted, change))
}

macro_rules! mark_aggregate {
    ($(#[$doc:meta])* $name:ident, $event:ident, $category:literal, $added:literal, $removed:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub set: bool,
        }

        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum $event {
            #[serde(rename = $added)]
            Added(MarkChanged),
            #[serde(rename = $removed)]
            Removed(MarkChanged),
        }

        impl $event {
            pub fn change(&self) -> &MarkChanged {
                match self {
                    Self::Added(change) | Self::Removed(change) => change,
                }
            }
        }

        impl DomainEvent for $event {
            fn event_type(&self) -> &'static str {
                match self {
                    Self::Added(_) => $added,
                    Self::Removed(_) => $removed,
                }
            }

            fn schema_version(&self) -> i32 {
                1
            }
        }

        impl Aggregate for $name {
            const CATEGORY: &'static str = $category;
            type Command = MarkCommand;
            type Event = $event;
            type Error = SocialError;

            fn decide(&self, command: &MarkCommand) -> Result<Vec<$event>, SocialError> {
                Ok(match decide_mark(self.set, command) {
                    None => vec![],
                    Some((true, change)) => vec![$event::Added(change)],
                    Some((false, change)) => vec![$event::Removed(change)],
                })
            }

            fn apply(&mut self, event: &$event) {
                self.set = matches!(event, $event::Added(_));
            }
        }
    };
}

mark_aggregate!(
    /// A user's like of a post.
    Like,
    LikeEvent,
    "like",
    "like.added",
    "like.removed"
);
mark_aggregate!(
    /// A post a user keeps to read later; only they see their bookmarks.
    Bookmark,
    BookmarkEvent,
    "bookmark",
    "bookmark.added",
    "bookmark.removed"
);
