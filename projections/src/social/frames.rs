//! The live frame the social read model sends: [`FeedItem`] (durable: stored with a cursor
//! and replayed on resume).

use crate::live::LiveFrame;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// Something new is in your feed: a friend (or someone you follow) posted.
///
/// Sent to the author's friends, and for a public post to their followers, at most 1,000 of
/// them (the rest see it when they next read the feed). Carries the post's id only: read it
/// with `GET /api/posts/{postId}`, which applies the visibility rules as they are then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedItem {
    pub post_id: Uuid,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl LiveFrame for FeedItem {
    const KIND: &'static str = "feed_item";
}
