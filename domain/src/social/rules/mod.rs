//! The social rules, given/when/then: [`friends`] (requests, friendships, follows, blocks),
//! [`posts`] (posting, editing, deleting), [`reactions`] (likes, bookmarks, comments).

mod friends;
mod posts;
mod reactions;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

/// Ada, Bob and Cy: fixed ids, so the rules read the same every run.
fn ada() -> Uuid {
    Uuid::from_u128(0xa)
}
fn bob() -> Uuid {
    Uuid::from_u128(0xb)
}
fn cy() -> Uuid {
    Uuid::from_u128(0xc)
}

/// A fixed instant, `minutes` after noon on 1 December 2026.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().unwrap_or_default()
        + chrono::Duration::minutes(minutes)
}
