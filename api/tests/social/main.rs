//! The social core end to end: friendships, follows and blocks, posts, likes, comments,
//! bookmarks, reposts, the feed and trending, over HTTP on a real socket against a fresh
//! PostgreSQL database per test (`DATABASE_URL`). Who may see what is checked on every read
//! path; races (crossed friend requests, a hundred likes of one user, two hundred users liking
//! one post, a block in the middle of likes and comments) race for real; the read model's
//! counts equal what a rebuild from the log produces. One test binary, so the app is compiled
//! and linked once.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod feed;
mod friends;
mod notifications;
mod posts;
mod races;
mod visibility;

use loopync_testkit::{TestApp, User};
use serde_json::Value;

/// `GET path` as `user` once the projections have caught up: the body, asserting a 200.
pub async fn read(app: &TestApp, user: &User, path: &str) -> Value {
    app.caught_up().await;
    app.get_as(&user.token, path).await.expect(200).clone()
}
