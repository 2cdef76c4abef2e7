//! The social read model: the graph (friendships, requests, follows, blocks), posts with their
//! counts, likes, comments and bookmarks.
//!
//! - [`read_model`]: [`SocialReadModel`], the projection, and its tables (`social/schema.sql`).
//! - [`graph`]: [`relation`](graph::relation) — what one user is to another, the question
//!   every read path asks — and the graph's lists, suggestions and counts.
//! - [`posts`]: posts, feeds, trending, comments and bookmarks, each filtered by the one
//!   visibility rule ([`posts::VISIBLE`]).
//! - [`frames`]: [`FeedItem`], the live frame of a new post.
//!
//! The SQL here is unchecked (`sqlx::query`): the tables exist only in the per-generation
//! schemas and `read_models` views the runtime creates.

pub mod frames;
pub mod graph;
pub mod likes;
pub mod posts;
pub mod read_model;

pub use frames::FeedItem;
pub use graph::{EdgeCursor, EdgeList, SocialCounts, Suggestion, UserEdge, relation, relations};
pub use posts::{CommentRow, PostCursor, PostRow};
pub use read_model::SocialReadModel;

use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, TimeZone, Utc};

/// A keyset cursor before every row of a newest-first list: the first page's.
fn before_everything() -> (DateTime<Utc>, Uuid) {
    let far = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC);
    (far, Uuid::from_u128(u128::MAX))
}

/// A keyset cursor after no row of an oldest-first list: the first page's.
fn after_nothing() -> (DateTime<Utc>, Uuid) {
    (after_nothing_date(), Uuid::nil())
}

/// A date before every row, within what PostgreSQL stores.
fn after_nothing_date() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}
