//! [`SocialReadModel`]: folds relationship, post, like, bookmark and comment events into the
//! tables of `schema.sql`, and tells connected friends (and followers, for public posts) that
//! a new post is there ([`FeedItem`]).
//!
//! Each event is a few statements on the rows it touches. Counts move only with a row that
//! actually appeared or went (`INSERT .. ON CONFLICT DO NOTHING` / `DELETE` report whether
//! they did), so they always equal the rows they count, in a rebuild as live. The runtime
//! applies a batch in one transaction with its checkpoint, so a batch is never half-applied.

use super::frames::FeedItem;
use super::likes::NetLike;
use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::social::{
    Bookmark, BookmarkEvent, Comment, CommentEvent, Like, LikeEvent, Post, PostEvent, Relationship,
    RelationshipEvent, Visibility,
};
use loopync_schemas::RecordedEvent;
use sqlx::PgConnection;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// The social read model: the graph, the posts and what was done to them.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocialReadModel;

impl SocialReadModel {
    pub const NAME: &'static str = "social";
}

/// Most devices told of one new post: a post of someone with a million followers does not
/// write a million live updates; their followers see it when they next read the feed.
pub const FEED_ITEM_RECIPIENTS: i64 = 1_000;

#[async_trait]
impl Projection for SocialReadModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "friendships",
            "friend_requests",
            "follows",
            "blocks",
            "social_counts",
            "posts",
            "post_hashtags",
            "post_likes",
            "comments",
            "bookmarks",
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let mut updates = Vec::new();
        let mut run: Vec<(String, LikeEvent)> = Vec::new();
        for recorded in events {
            let category = recorded.stream_name.split_once('-').map_or("", |(category, _)| category);
            if category == Like::CATEGORY {
                run.push((recorded.stream_name.clone(), recorded.decode()?));
                continue;
            }
            likes(conn, &std::mem::take(&mut run)).await?;
            match category {
                Relationship::CATEGORY => relationship(conn, recorded.decode()?).await?,
                Post::CATEGORY => {
                    let Some(post_id) = stream_uuid(recorded) else { continue };
                    post(conn, post_id, recorded.decode()?, &mut updates).await?;
                }
                Bookmark::CATEGORY => bookmark(conn, recorded.decode()?).await?,
                Comment::CATEGORY => {
                    let Some(comment_id) = stream_uuid(recorded) else { continue };
                    comment(conn, comment_id, recorded.decode()?).await?;
                }
                _ => {}
            }
        }
        likes(conn, &run).await?;
        Ok(updates)
    }
}

/// The id of a `post-<uuid>` or `comment-<uuid>` stream; one that is not a UUID is skipped
/// with a warning rather than stalling the log.
fn stream_uuid(recorded: &RecordedEvent) -> Option<Uuid> {
    let id = recorded.stream_name.split_once('-').map(|(_, id)| id)?;
    match Uuid::parse_str(id) {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::warn!(stream = %recorded.stream_name, "social stream id is not a uuid; event skipped");
            None
        }
    }
}

/// Adds `delta` to one of a user's counts.
async fn count(conn: &mut PgConnection, user: Uuid, column: &str, delta: i32) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO social_counts (user_id, {column}) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET {column} = social_counts.{column} + $2"
    ))
    .bind(user)
    .bind(delta)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds `delta` to one of a post's counts (a post this read model does not have is left alone).
async fn post_count(
    conn: &mut PgConnection,
    post_id: Uuid,
    column: &str,
    delta: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE posts SET {column} = {column} + $2 WHERE post_id = $1"))
        .bind(post_id)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn end_requests(conn: &mut PgConnection, a: Uuid, b: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)",
    )
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn end_friendship(conn: &mut PgConnection, a: Uuid, b: Uuid) -> Result<(), sqlx::Error> {
    let ended = sqlx::query(
        "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
    )
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if ended > 0 {
        count(conn, a, "friends", -1).await?;
        count(conn, b, "friends", -1).await?;
    }
    Ok(())
}

async fn end_follow(conn: &mut PgConnection, follower: Uuid, followee: Uuid) -> Result<(), sqlx::Error> {
    let ended = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
        .bind(follower)
        .bind(followee)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if ended > 0 {
        count(conn, follower, "following", -1).await?;
        count(conn, followee, "followers", -1).await?;
    }
    Ok(())
}

async fn relationship(conn: &mut PgConnection, event: RelationshipEvent) -> Result<(), sqlx::Error> {
    let (actor, other) = event.parties();
    let at = event.at();
    match event {
        RelationshipEvent::FriendRequested(_) => {
            sqlx::query("INSERT INTO friend_requests VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(actor)
                .bind(other)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        RelationshipEvent::FriendsMade(_) => {
            end_requests(conn, actor, other).await?;
            let made = sqlx::query(
                "INSERT INTO friendships VALUES ($1, $2, $3), ($2, $1, $3) ON CONFLICT DO NOTHING",
            )
            .bind(actor)
            .bind(other)
            .bind(at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if made > 0 {
                count(conn, actor, "friends", 1).await?;
                count(conn, other, "friends", 1).await?;
            }
        }
        RelationshipEvent::RequestRejected(_) | RelationshipEvent::RequestCancelled(_) => {
            end_requests(conn, actor, other).await?;
        }
        RelationshipEvent::Unfriended(_) => end_friendship(conn, actor, other).await?,
        RelationshipEvent::Followed(_) => {
            let made = sqlx::query("INSERT INTO follows VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(actor)
                .bind(other)
                .bind(at)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if made > 0 {
                count(conn, actor, "following", 1).await?;
                count(conn, other, "followers", 1).await?;
            }
        }
        RelationshipEvent::Unfollowed(_) => end_follow(conn, actor, other).await?,
        RelationshipEvent::Blocked(_) => {
            sqlx::query("INSERT INTO blocks VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(actor)
                .bind(other)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            end_requests(conn, actor, other).await?;
            end_friendship(conn, actor, other).await?;
            end_follow(conn, actor, other).await?;
            end_follow(conn, other, actor).await?;
        }
        RelationshipEvent::Unblocked(_) => {
            sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
                .bind(actor)
                .bind(other)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn replace_hashtags(
    conn: &mut PgConnection,
    post_id: Uuid,
    hashtags: &[String],
    created_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM post_hashtags WHERE post_id = $1").bind(post_id).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO post_hashtags (tag, post_id, created_at) \
         SELECT tag, $2, $3 FROM unnest($1::text[]) AS tag ON CONFLICT DO NOTHING",
    )
    .bind(hashtags)
    .bind(post_id)
    .bind(created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn post(
    conn: &mut PgConnection,
    post_id: Uuid,
    event: PostEvent,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    match event {
        PostEvent::Created(created) => {
            let made = sqlx::query(
                "INSERT INTO posts (post_id, author_id, text, visibility, repost_of, hashtags, mentions, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(post_id)
            .bind(created.author)
            .bind(&created.text)
            .bind(created.visibility.as_str())
            .bind(created.repost_of)
            .bind(&created.hashtags)
            .bind(&created.mentions)
            .bind(created.created_at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if made == 0 {
                return Ok(());
            }
            replace_hashtags(conn, post_id, &created.hashtags, created.created_at).await?;
            count(conn, created.author, "posts", 1).await?;
            if let Some(original) = created.repost_of {
                post_count(conn, original, "shares", 1).await?;
            }
            if created.visibility != Visibility::Private {
                let item = FeedItem { post_id, author_id: created.author, created_at: created.created_at };
                for user_id in feed_audience(conn, created.author, created.visibility).await? {
                    updates.push(LiveUpdate::new(user_id, &item)?);
                }
            }
        }
        PostEvent::Edited(edited) => {
            let created_at: Option<DateTime<Utc>> = sqlx::query_scalar(
                "UPDATE posts SET text = $2, hashtags = $3, mentions = $4, edited_at = $5 \
                 WHERE post_id = $1 AND deleted_at IS NULL RETURNING created_at",
            )
            .bind(post_id)
            .bind(&edited.text)
            .bind(&edited.hashtags)
            .bind(&edited.mentions)
            .bind(edited.edited_at)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(created_at) = created_at {
                replace_hashtags(conn, post_id, &edited.hashtags, created_at).await?;
            }
        }
        PostEvent::Deleted(deleted) => {
            let gone: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
                "UPDATE posts SET deleted_at = $2 WHERE post_id = $1 AND deleted_at IS NULL \
                 RETURNING author_id, repost_of",
            )
            .bind(post_id)
            .bind(deleted.deleted_at)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((author, repost_of)) = gone else { return Ok(()) };
            sqlx::query("DELETE FROM post_hashtags WHERE post_id = $1")
                .bind(post_id)
                .execute(&mut *conn)
                .await?;
            count(conn, author, "posts", -1).await?;
            if let Some(original) = repost_of {
                post_count(conn, original, "shares", -1).await?;
            }
        }
    }
    Ok(())
}

/// Who is told of a new post: the author's friends, and for a public post their followers,
/// at most [`FEED_ITEM_RECIPIENTS`], in a deterministic order.
async fn feed_audience(
    conn: &mut PgConnection,
    author: Uuid,
    visibility: Visibility,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM ( \
             SELECT friend_id AS user_id FROM friendships WHERE user_id = $1 \
             UNION SELECT follower_id FROM follows WHERE followee_id = $1 AND $2 \
         ) audience ORDER BY user_id LIMIT $3",
    )
    .bind(author)
    .bind(visibility == Visibility::Public)
    .bind(FEED_ITEM_RECIPIENTS)
    .fetch_all(&mut *conn)
    .await
}

/// Applies a run of like events ([`super::likes`]): the likes that stand after it upserted as
/// their last `added` wrote them, those taken back deleted, and each post's count moved by
/// what changed — three statements for the whole run.
async fn likes(conn: &mut PgConnection, run: &[(String, LikeEvent)]) -> Result<(), sqlx::Error> {
    if run.is_empty() {
        return Ok(());
    }
    let net = super::likes::fold(run);
    let (liked, unliked): (Vec<&NetLike>, Vec<&NetLike>) = net.iter().partition(|like| like.after);
    sqlx::query(
        "INSERT INTO post_likes (post_id, user_id, liked_at) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) \
         ON CONFLICT (post_id, user_id) DO UPDATE SET liked_at = excluded.liked_at",
    )
    .bind(liked.iter().map(|like| like.last.post).collect::<Vec<_>>())
    .bind(liked.iter().map(|like| like.last.user).collect::<Vec<_>>())
    .bind(liked.iter().map(|like| like.last.at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM post_likes WHERE (post_id, user_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
    )
    .bind(unliked.iter().map(|like| like.last.post).collect::<Vec<_>>())
    .bind(unliked.iter().map(|like| like.last.user).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let mut deltas: std::collections::BTreeMap<Uuid, i32> = std::collections::BTreeMap::new();
    for like in &net {
        let delta = i32::from(like.after) - i32::from(like.before);
        if delta != 0 {
            *deltas.entry(like.last.post).or_default() += delta;
        }
    }
    sqlx::query(
        "UPDATE posts SET likes = likes + d.delta FROM unnest($1::uuid[], $2::int[]) AS d(post_id, delta) \
          WHERE posts.post_id = d.post_id",
    )
    .bind(deltas.keys().copied().collect::<Vec<_>>())
    .bind(deltas.values().copied().collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn bookmark(conn: &mut PgConnection, event: BookmarkEvent) -> Result<(), sqlx::Error> {
    let query = match &event {
        BookmarkEvent::Added(change) => {
            sqlx::query("INSERT INTO bookmarks VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(change.user)
                .bind(change.post)
                .bind(change.at)
        }
        BookmarkEvent::Removed(change) => {
            sqlx::query("DELETE FROM bookmarks WHERE user_id = $1 AND post_id = $2")
                .bind(change.user)
                .bind(change.post)
        }
    };
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn comment(conn: &mut PgConnection, comment_id: Uuid, event: CommentEvent) -> Result<(), sqlx::Error> {
    let (post_id, delta, changed) = match event {
        CommentEvent::Added(added) => {
            let made = sqlx::query(
                "INSERT INTO comments (comment_id, post_id, author_id, text, reply_to, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(comment_id)
            .bind(added.post)
            .bind(added.author)
            .bind(&added.text)
            .bind(added.reply_to)
            .bind(added.created_at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            (added.post, 1, made)
        }
        CommentEvent::Deleted(deleted) => {
            let gone = sqlx::query(
                "UPDATE comments SET deleted_at = $2 WHERE comment_id = $1 AND deleted_at IS NULL",
            )
            .bind(comment_id)
            .bind(deleted.deleted_at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            (deleted.post, -1, gone)
        }
    };
    if changed > 0 {
        post_count(conn, post_id, "comments", delta).await?;
    }
    Ok(())
}
