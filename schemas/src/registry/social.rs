//! The social core's event types: relationships between two users, posts, likes, bookmarks
//! and comments.

use super::EventTypeInfo;
use loopync_domain::social;
use schemars::schema_for;

/// The social core's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo::first(
        "relationship.friend_requested",
        "`actor` asked `other` to be friends. In the pair's stream (`relationship-<a>:<b>`).",
        || schema_for!(social::PairChange),
    ),
    EventTypeInfo::first(
        "relationship.friends_made",
        "`actor` accepted `other`'s friend request (or asked while `other`'s was pending): they are friends.",
        || schema_for!(social::PairChange),
    ),
    EventTypeInfo::first(
        "relationship.friend_request_rejected",
        "`actor` turned down `other`'s friend request.",
        || schema_for!(social::PairChange),
    ),
    EventTypeInfo::first(
        "relationship.friend_request_cancelled",
        "`actor` withdrew their friend request to `other`.",
        || schema_for!(social::PairChange),
    ),
    EventTypeInfo::first("relationship.unfriended", "`actor` ended the friendship with `other`.", || {
        schema_for!(social::PairChange)
    }),
    EventTypeInfo::first("relationship.followed", "`actor` follows `other`'s public posts.", || {
        schema_for!(social::PairChange)
    }),
    EventTypeInfo::first("relationship.unfollowed", "`actor` no longer follows `other`.", || {
        schema_for!(social::PairChange)
    }),
    EventTypeInfo::first(
        "relationship.blocked",
        "`actor` blocked `other`: their friendship, pending request and follows ended with it (as listed), and neither may ask or follow while it lasts.",
        || schema_for!(social::Blocked),
    ),
    EventTypeInfo::first("relationship.unblocked", "`actor` lifted their block of `other`.", || {
        schema_for!(social::PairChange)
    }),
    EventTypeInfo::first(
        "post.created",
        "A post (a repost or quote when `repostOf` is set), with the hashtags and the mentioned users found in its text.",
        || schema_for!(social::PostCreated),
    ),
    EventTypeInfo::first(
        "post.edited",
        "The author changed the post's text (within 15 minutes of posting); the previous text is the previous event's.",
        || schema_for!(social::PostEdited),
    ),
    EventTypeInfo::first("post.deleted", "The author deleted the post: it leaves every read path.", || {
        schema_for!(social::PostDeleted)
    }),
    EventTypeInfo::first("like.added", "A user liked a post. One stream per (post, user).", || {
        schema_for!(social::MarkChanged)
    }),
    EventTypeInfo::first("like.removed", "A user took back their like.", || schema_for!(social::MarkChanged)),
    EventTypeInfo::first(
        "bookmark.added",
        "A user kept a post to read later (seen by them alone). One stream per (post, user).",
        || schema_for!(social::MarkChanged),
    ),
    EventTypeInfo::first("bookmark.removed", "A user dropped a bookmark.", || {
        schema_for!(social::MarkChanged)
    }),
    EventTypeInfo::first(
        "comment.added",
        "A comment on a post (a reply when `replyTo` is set). One stream per comment.",
        || schema_for!(social::CommentAdded),
    ),
    EventTypeInfo::first(
        "comment.deleted",
        "The comment's author or the post's author deleted the comment.",
        || schema_for!(social::CommentDeleted),
    ),
];
