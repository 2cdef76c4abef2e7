//! Queries on the social graph: [`relation`] (the one question every read path asks before it
//! shows one user's things to another), the friend, request, follower and block lists, mutual
//! friends, suggestions and a profile's counts.
//!
//! Lists are newest first by the edge's date, paged by keyset (`(since, user_id)` strictly
//! after the last row of the previous page). Each row carries the other user's public card.

use crate::identity::profiles::SearchAudience;
use loopync_domain::social::{Relation, Visibility};
use sqlx::PgPool;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What `owner` is to `viewer` (see [`Relation`]): one round trip.
pub async fn relation(pool: &PgPool, viewer: Uuid, owner: Uuid) -> Result<Relation, sqlx::Error> {
    Ok(relations(pool, viewer, &[owner]).await?.remove(&owner).unwrap_or_default())
}

/// Whether `viewer` may see what `owner` shares with `visibility` ([`Relation::may_see`]),
/// asking only what that visibility needs: one or two primary-key probes (a like or a
/// comment asks this on every request).
pub async fn may_see(
    pool: &PgPool,
    viewer: Uuid,
    owner: Uuid,
    visibility: Visibility,
) -> Result<bool, sqlx::Error> {
    if viewer == owner {
        return Ok(true);
    }
    let sql = match visibility {
        Visibility::Public => {
            "SELECT NOT EXISTS (SELECT 1 FROM read_models.blocks WHERE blocker_id = $1 AND blocked_id = $2) \
                AND NOT EXISTS (SELECT 1 FROM read_models.blocks WHERE blocker_id = $2 AND blocked_id = $1)"
        }
        // Friends are never blocked: a block ends the friendship.
        Visibility::Friends => {
            "SELECT EXISTS (SELECT 1 FROM read_models.friendships WHERE user_id = $1 AND friend_id = $2)"
        }
        Visibility::Private => return Ok(false),
    };
    sqlx::query_scalar(sql).bind(viewer).bind(owner).fetch_one(pool).await
}

/// What each of `owners` is to `viewer`: one round trip whatever their number.
pub async fn relations(
    pool: &PgPool,
    viewer: Uuid,
    owners: &[Uuid],
) -> Result<HashMap<Uuid, Relation>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        owner: Uuid,
        friends: bool,
        request_sent: bool,
        request_received: bool,
        following: bool,
        followed_by: bool,
        blocking: bool,
        blocked_by: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT o AS owner, \
             EXISTS (SELECT 1 FROM read_models.friendships WHERE user_id = $1 AND friend_id = o) AS friends, \
             EXISTS (SELECT 1 FROM read_models.friend_requests WHERE from_id = $1 AND to_id = o) AS request_sent, \
             EXISTS (SELECT 1 FROM read_models.friend_requests WHERE from_id = o AND to_id = $1) AS request_received, \
             EXISTS (SELECT 1 FROM read_models.follows WHERE follower_id = $1 AND followee_id = o) AS following, \
             EXISTS (SELECT 1 FROM read_models.follows WHERE follower_id = o AND followee_id = $1) AS followed_by, \
             EXISTS (SELECT 1 FROM read_models.blocks WHERE blocker_id = $1 AND blocked_id = o) AS blocking, \
             EXISTS (SELECT 1 FROM read_models.blocks WHERE blocker_id = o AND blocked_id = $1) AS blocked_by \
         FROM unnest($2::uuid[]) AS o",
    )
    .bind(viewer)
    .bind(owners)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let relation = Relation {
                is_self: row.owner == viewer,
                friends: row.friends,
                request_sent: row.request_sent,
                request_received: row.request_received,
                following: row.following,
                followed_by: row.followed_by,
                blocking: row.blocking,
                blocked_by: row.blocked_by,
            };
            (row.owner, relation)
        })
        .collect())
}

/// Who `viewer` is to others in a user search: their friends (who find their `friends`
/// profiles), and everyone blocked either way (who are not found).
pub async fn search_audience(pool: &PgPool, viewer: Uuid) -> Result<SearchAudience, sqlx::Error> {
    let friends = sqlx::query_scalar("SELECT friend_id FROM read_models.friendships WHERE user_id = $1")
        .bind(viewer)
        .fetch_all(pool)
        .await?;
    let hidden = sqlx::query_scalar(
        "SELECT blocked_id FROM read_models.blocks WHERE blocker_id = $1 \
         UNION SELECT blocker_id FROM read_models.blocks WHERE blocked_id = $1",
    )
    .bind(viewer)
    .fetch_all(pool)
    .await?;
    Ok(SearchAudience { friends, hidden })
}

/// Another user as a list shows them: their public card, and when the edge began.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserEdge {
    pub user_id: Uuid,
    pub handle: String,
    pub name: String,
    pub avatar: Option<String>,
    pub since: DateTime<Utc>,
}

/// Where a page of edges starts: strictly after this `(since, user_id)`.
pub type EdgeCursor = (DateTime<Utc>, Uuid);

/// The lists of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeList {
    Friends,
    /// Requests the user received.
    Incoming,
    /// Requests the user sent.
    Outgoing,
    Followers,
    Following,
    Blocked,
}

impl EdgeList {
    /// `(other user, since)` of the user `$1`'s edges of this list.
    fn source(self) -> &'static str {
        match self {
            Self::Friends => {
                "SELECT friend_id AS other, since FROM read_models.friendships WHERE user_id = $1"
            }
            Self::Incoming => {
                "SELECT from_id AS other, requested_at AS since FROM read_models.friend_requests WHERE to_id = $1"
            }
            Self::Outgoing => {
                "SELECT to_id AS other, requested_at AS since FROM read_models.friend_requests WHERE from_id = $1"
            }
            Self::Followers => {
                "SELECT follower_id AS other, since FROM read_models.follows WHERE followee_id = $1"
            }
            Self::Following => {
                "SELECT followee_id AS other, since FROM read_models.follows WHERE follower_id = $1"
            }
            Self::Blocked => {
                "SELECT blocked_id AS other, since FROM read_models.blocks WHERE blocker_id = $1"
            }
        }
    }
}

/// A page of `user`'s edges of `list`, newest first. Users the profiles read model does not
/// have (yet) are left out.
pub async fn edges(
    pool: &PgPool,
    list: EdgeList,
    user: Uuid,
    after: Option<EdgeCursor>,
    limit: i64,
) -> Result<Vec<UserEdge>, sqlx::Error> {
    let (since, after_id) = after.unwrap_or_else(super::before_everything);
    sqlx::query_as(&format!(
        "SELECT e.other AS user_id, u.handle, u.name, u.avatar, e.since \
           FROM ({}) e JOIN read_models.user_profiles u ON u.user_id = e.other \
          WHERE (e.since, e.other) < ($2, $3) \
          ORDER BY e.since DESC, e.other DESC LIMIT $4",
        list.source()
    ))
    .bind(user)
    .bind(since)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A page of the friends `a` and `b` have in common, by id (`since`: when `a` befriended them).
pub async fn mutual_friends(
    pool: &PgPool,
    a: Uuid,
    b: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UserEdge>, sqlx::Error> {
    sqlx::query_as(
        "SELECT fa.friend_id AS user_id, u.handle, u.name, u.avatar, fa.since \
           FROM read_models.friendships fa \
           JOIN read_models.friendships fb ON fb.user_id = $2 AND fb.friend_id = fa.friend_id \
           JOIN read_models.user_profiles u ON u.user_id = fa.friend_id \
          WHERE fa.user_id = $1 AND fa.friend_id > $3 \
          ORDER BY fa.friend_id LIMIT $4",
    )
    .bind(a)
    .bind(b)
    .bind(after.unwrap_or(Uuid::nil()))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A suggested friend: a friend of friends, with how many friends are in common.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Suggestion {
    pub user_id: Uuid,
    pub handle: String,
    pub name: String,
    pub avatar: Option<String>,
    pub mutual: i64,
}

/// Friends of `user`'s friends, most mutual friends first, excluding `user`, their friends,
/// anyone with a pending request either way, and anyone blocked either way.
pub async fn suggestions(pool: &PgPool, user: Uuid, limit: i64) -> Result<Vec<Suggestion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.user_id, u.handle, u.name, u.avatar, s.mutual FROM ( \
             SELECT f2.friend_id AS user_id, count(*) AS mutual \
               FROM read_models.friendships f1 \
               JOIN read_models.friendships f2 ON f2.user_id = f1.friend_id \
              WHERE f1.user_id = $1 AND f2.friend_id <> $1 \
                AND NOT EXISTS (SELECT 1 FROM read_models.friendships x WHERE x.user_id = $1 AND x.friend_id = f2.friend_id) \
                AND NOT EXISTS (SELECT 1 FROM read_models.friend_requests r \
                                 WHERE (r.from_id = $1 AND r.to_id = f2.friend_id) OR (r.from_id = f2.friend_id AND r.to_id = $1)) \
                AND NOT EXISTS (SELECT 1 FROM read_models.blocks b \
                                 WHERE (b.blocker_id = $1 AND b.blocked_id = f2.friend_id) OR (b.blocker_id = f2.friend_id AND b.blocked_id = $1)) \
              GROUP BY f2.friend_id \
         ) s JOIN read_models.user_profiles u ON u.user_id = s.user_id \
         ORDER BY s.mutual DESC, s.user_id LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What a profile counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SocialCounts {
    pub friends: i32,
    pub followers: i32,
    pub following: i32,
    pub posts: i32,
}

/// `user`'s counts (all zero for a user with none yet).
pub async fn counts(pool: &PgPool, user: Uuid) -> Result<SocialCounts, sqlx::Error> {
    let row: Option<SocialCounts> = sqlx::query_as(
        "SELECT friends, followers, following, posts FROM read_models.social_counts WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}
