//! Queries on posts: one post, an author's posts, a hashtag's, the feed (latest and ranked),
//! trending posts and hashtags, comments and bookmarks — each as the viewer may see it.
//!
//! Visibility is one SQL condition, [`VISIBLE`], the same rule as
//! [`Relation::may_see`](loopync_domain::social::Relation::may_see) with the viewer as `$1`:
//! the author sees their own; nobody sees a deleted post, or anything of someone they blocked
//! or who blocked them; public posts are seen by everyone else, friends-only posts by friends.
//! (A block ends friendships, so a friend is never blocked.)
//!
//! ## The feed
//!
//! Fan-out on read: the feed is computed when it is read, from the viewer's own posts, their
//! friends' and the public posts of those they follow. Each author's newest posts are one range
//! of the `posts_by_author` index, so a page costs one short index scan per friend or followee
//! (150 of them: about 150 × `limit` index entries) and a sort of those; no write multiplies by
//! an author's audience, and a new friendship, block or deleted post shows in the very next read.
//! See the README ("The feed") for the measurements behind the choice.

use chrono::TimeDelta;
use sqlx::PgPool;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// The condition "viewer `$1` may see post `p`".
pub const VISIBLE: &str = "p.deleted_at IS NULL AND ( \
       p.author_id = $1 \
    OR (p.visibility = 'public' AND NOT EXISTS ( \
            SELECT 1 FROM read_models.blocks b \
             WHERE (b.blocker_id = p.author_id AND b.blocked_id = $1) \
                OR (b.blocker_id = $1 AND b.blocked_id = p.author_id))) \
    OR (p.visibility = 'friends' AND EXISTS ( \
            SELECT 1 FROM read_models.friendships f WHERE f.user_id = $1 AND f.friend_id = p.author_id)))";

/// A post as a viewer sees it: with its author's card, its counts, and whether the viewer
/// liked and bookmarked it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PostRow {
    pub post_id: Uuid,
    pub author_id: Uuid,
    pub author_handle: Option<String>,
    pub author_name: Option<String>,
    pub author_avatar: Option<String>,
    pub text: String,
    pub visibility: String,
    pub repost_of: Option<Uuid>,
    pub hashtags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub likes: i32,
    pub comments: i32,
    pub shares: i32,
    pub liked: bool,
    pub bookmarked: bool,
}

/// The columns of a [`PostRow`] from `posts p` for viewer `$1`.
const POST_FIELDS: &str = "p.post_id, p.author_id, u.handle AS author_handle, u.name AS author_name, \
     u.avatar AS author_avatar, p.text, p.visibility, p.repost_of, p.hashtags, p.created_at, p.edited_at, \
     p.likes, p.comments, p.shares, \
     EXISTS (SELECT 1 FROM read_models.post_likes l WHERE l.post_id = p.post_id AND l.user_id = $1) AS liked, \
     EXISTS (SELECT 1 FROM read_models.bookmarks k WHERE k.user_id = $1 AND k.post_id = p.post_id) AS bookmarked";

/// `posts p` with the author's card.
const POSTS: &str = "read_models.posts p LEFT JOIN read_models.user_profiles u ON u.user_id = p.author_id";

/// Where a page of posts starts: strictly after this `(created_at, post_id)`.
pub type PostCursor = (DateTime<Utc>, Uuid);

/// One post, when `viewer` may see it.
pub async fn post(pool: &PgPool, viewer: Uuid, post_id: Uuid) -> Result<Option<PostRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {POST_FIELDS} FROM {POSTS} WHERE p.post_id = $2 AND {VISIBLE}"))
        .bind(viewer)
        .bind(post_id)
        .fetch_optional(pool)
        .await
}

/// The posts of `ids` that `viewer` may see, in the order of `ids`.
pub async fn posts_in_order(pool: &PgPool, viewer: Uuid, ids: &[Uuid]) -> Result<Vec<PostRow>, sqlx::Error> {
    let mut rows: Vec<PostRow> =
        sqlx::query_as(&format!("SELECT {POST_FIELDS} FROM {POSTS} WHERE p.post_id = ANY($2) AND {VISIBLE}"))
            .bind(viewer)
            .bind(ids)
            .fetch_all(pool)
            .await?;
    let rank: std::collections::HashMap<Uuid, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|row| rank.get(&row.post_id).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// A page of `author`'s posts that `viewer` may see, newest first.
pub async fn posts_by_author(
    pool: &PgPool,
    viewer: Uuid,
    author: Uuid,
    after: Option<PostCursor>,
    limit: i64,
) -> Result<Vec<PostRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or_else(super::before_everything);
    sqlx::query_as(&format!(
        "SELECT {POST_FIELDS} FROM {POSTS} \
          WHERE p.author_id = $2 AND (p.created_at, p.post_id) < ($3, $4) AND {VISIBLE} \
          ORDER BY p.created_at DESC, p.post_id DESC LIMIT $5"
    ))
    .bind(viewer)
    .bind(author)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A page of the posts tagged `tag` that `viewer` may see, newest first.
pub async fn posts_with_hashtag(
    pool: &PgPool,
    viewer: Uuid,
    tag: &str,
    after: Option<PostCursor>,
    limit: i64,
) -> Result<Vec<PostRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or_else(super::before_everything);
    sqlx::query_as(&format!(
        "SELECT {POST_FIELDS} FROM read_models.post_hashtags h \
           JOIN read_models.posts p ON p.post_id = h.post_id \
           LEFT JOIN read_models.user_profiles u ON u.user_id = p.author_id \
          WHERE h.tag = $2 AND (h.created_at, h.post_id) < ($3, $4) AND {VISIBLE} \
          ORDER BY h.created_at DESC, h.post_id DESC LIMIT $5"
    ))
    .bind(viewer)
    .bind(tag)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The authors of `$1`'s feed, each with whether their friends-only posts are in it: the
/// viewer, their friends, and those they follow (public posts only).
const FEED_AUTHORS: &str = "SELECT $1::uuid AS author_id, true AS friend \
     UNION ALL SELECT friend_id, true FROM read_models.friendships WHERE user_id = $1 \
     UNION ALL SELECT followee_id, false FROM read_models.follows fo WHERE fo.follower_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM read_models.friendships x WHERE x.user_id = $1 AND x.friend_id = fo.followee_id)";

/// How far back the feed looks first, then on widening: most pages are found among the last
/// day's posts of a viewer's friends (a few index entries per author instead of a page's worth),
/// and a page that is not full there is looked for again further back, to the beginning.
const FEED_WINDOWS: [Option<i64>; 4] = [Some(1), Some(7), Some(60), None];

/// A page of `viewer`'s feed, newest first: their own posts, their friends' (public and
/// friends-only), and the public posts of those they follow.
///
/// Each author's newest posts before the cursor are one short range of `posts_by_author`;
/// the range is first bounded to the day before the cursor (or now), and widened while the
/// page is not full. A full page within a bound is exact: every post above the bound is newer
/// than every post below it.
pub async fn feed_latest(
    pool: &PgPool,
    viewer: Uuid,
    after: Option<PostCursor>,
    limit: i64,
) -> Result<Vec<PostRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or_else(super::before_everything);
    let newest = at.min(Utc::now());
    let mut rows = Vec::new();
    for window in FEED_WINDOWS {
        let since = window.map_or_else(super::after_nothing_date, |days| newest - TimeDelta::days(days));
        rows = sqlx::query_as(&format!(
            "WITH authors AS ({FEED_AUTHORS}), \
             page AS ( \
                 SELECT c.post_id, c.created_at FROM authors a CROSS JOIN LATERAL ( \
                     SELECT q.post_id, q.created_at FROM read_models.posts q \
                      WHERE q.author_id = a.author_id AND q.deleted_at IS NULL \
                        AND (q.visibility = 'public' OR (a.friend AND q.visibility = 'friends') OR q.author_id = $1) \
                        AND (q.created_at, q.post_id) < ($2, $3) AND q.created_at >= $5 \
                      ORDER BY q.created_at DESC, q.post_id DESC LIMIT $4) c \
                 ORDER BY c.created_at DESC, c.post_id DESC LIMIT $4) \
             SELECT {POST_FIELDS} FROM page JOIN {POSTS} ON p.post_id = page.post_id \
              ORDER BY p.created_at DESC, p.post_id DESC"
        ))
        .bind(viewer)
        .bind(at)
        .bind(id)
        .bind(limit)
        .bind(since)
        .fetch_all(pool)
        .await?;
        if rows.len() as i64 >= limit {
            break;
        }
    }
    Ok(rows)
}

/// The ranking score of a post with these counts, `age_hours` old at the ranking:
/// `ln(1 + likes + 2·comments + 3·shares) / (age_hours + 2)^1.5`, as SQL over `p` and `$2`.
pub const SCORE: &str = "ln(1 + p.likes + 2 * p.comments + 3 * p.shares) \
     / power(greatest(extract(epoch FROM ($2 - p.created_at)) / 3600, 0) + 2, 1.5)";

/// Posts each author contributes to a ranking at most (their newest).
pub const RANKED_PER_AUTHOR: i64 = 20;

/// How far back the ranked feed looks: engagement decays with `(age_hours + 2)^1.5`, so a
/// week-old post scores a hundredth of a new one with the same engagement.
pub const RANKED_WINDOW_DAYS: i64 = 7;

/// `viewer`'s feed ranked at `now` ([`SCORE`], ties newest first): the ids of the first
/// `limit`, to be kept as the snapshot later pages continue. Candidates are each author's
/// newest [`RANKED_PER_AUTHOR`] posts of the last [`RANKED_WINDOW_DAYS`] days; when that is
/// less than a page, of any age.
pub async fn feed_ranking(
    pool: &PgPool,
    viewer: Uuid,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut ranked = Vec::new();
    for since in [now - TimeDelta::days(RANKED_WINDOW_DAYS), super::after_nothing_date()] {
        ranked = sqlx::query_scalar(&format!(
            "WITH authors AS ({FEED_AUTHORS}) \
             SELECT p.post_id FROM authors a CROSS JOIN LATERAL ( \
                 SELECT q.* FROM read_models.posts q \
                  WHERE q.author_id = a.author_id AND q.deleted_at IS NULL \
                    AND (q.visibility = 'public' OR (a.friend AND q.visibility = 'friends') OR q.author_id = $1) \
                    AND q.created_at <= $2 AND q.created_at >= $4 \
                  ORDER BY q.created_at DESC, q.post_id DESC LIMIT {RANKED_PER_AUTHOR}) p \
              ORDER BY {SCORE} DESC, p.created_at DESC, p.post_id DESC LIMIT $3"
        ))
        .bind(viewer)
        .bind(now)
        .bind(limit)
        .bind(since)
        .fetch_all(pool)
        .await?;
        // Less than a page (20) in the window: a quiet feed ranks what there is.
        if ranked.len() >= 20 {
            break;
        }
    }
    Ok(ranked)
}

/// Everyone's public posts of the last `window_hours` ranked at `now` ([`SCORE`]), without
/// those of users `viewer` blocked or who blocked them: the ids of the first `limit`.
pub async fn trending_ranking(
    pool: &PgPool,
    viewer: Uuid,
    now: DateTime<Utc>,
    window_hours: i32,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT p.post_id FROM read_models.posts p \
          WHERE p.deleted_at IS NULL AND p.visibility = 'public' \
            AND p.created_at <= $2 AND p.created_at > $2 - make_interval(hours => $3) \
            AND NOT EXISTS (SELECT 1 FROM read_models.blocks b \
                 WHERE (b.blocker_id = p.author_id AND b.blocked_id = $1) \
                    OR (b.blocker_id = $1 AND b.blocked_id = p.author_id)) \
          ORDER BY {SCORE} DESC, p.created_at DESC, p.post_id DESC LIMIT $4"
    ))
    .bind(viewer)
    .bind(now)
    .bind(window_hours)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The most used hashtags on public posts of the last `window_hours`, with their use counts.
pub async fn trending_hashtags(
    pool: &PgPool,
    now: DateTime<Utc>,
    window_hours: i32,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT h.tag, count(*) AS uses FROM read_models.post_hashtags h \
           JOIN read_models.posts p ON p.post_id = h.post_id \
          WHERE h.created_at > $1 - make_interval(hours => $2) AND h.created_at <= $1 \
            AND p.visibility = 'public' AND p.deleted_at IS NULL \
          GROUP BY h.tag ORDER BY uses DESC, h.tag LIMIT $3",
    )
    .bind(now)
    .bind(window_hours)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A comment as a viewer sees it, with its author's card.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CommentRow {
    pub comment_id: Uuid,
    pub post_id: Uuid,
    pub author_id: Uuid,
    pub author_handle: Option<String>,
    pub author_name: Option<String>,
    pub author_avatar: Option<String>,
    pub text: String,
    pub reply_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A page of a post's comments, oldest first, without those of users `viewer` blocked or who
/// blocked them. (Whether the viewer may see the post is the caller's check.)
pub async fn comments(
    pool: &PgPool,
    viewer: Uuid,
    post_id: Uuid,
    after: Option<PostCursor>,
    limit: i64,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or_else(super::after_nothing);
    sqlx::query_as(
        "SELECT c.comment_id, c.post_id, c.author_id, u.handle AS author_handle, u.name AS author_name, \
                u.avatar AS author_avatar, c.text, c.reply_to, c.created_at \
           FROM read_models.comments c LEFT JOIN read_models.user_profiles u ON u.user_id = c.author_id \
          WHERE c.post_id = $2 AND c.deleted_at IS NULL AND (c.created_at, c.comment_id) > ($3, $4) \
            AND NOT EXISTS (SELECT 1 FROM read_models.blocks b \
                 WHERE (b.blocker_id = c.author_id AND b.blocked_id = $1) \
                    OR (b.blocker_id = $1 AND b.blocked_id = c.author_id)) \
          ORDER BY c.created_at, c.comment_id LIMIT $5",
    )
    .bind(viewer)
    .bind(post_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A page of `viewer`'s bookmarks that they may still see, newest bookmark first (the cursor
/// is the bookmark's `(saved_at, post_id)`).
pub async fn bookmarks(
    pool: &PgPool,
    viewer: Uuid,
    after: Option<PostCursor>,
    limit: i64,
) -> Result<Vec<(DateTime<Utc>, PostRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        saved_at: DateTime<Utc>,
        #[sqlx(flatten)]
        post: PostRow,
    }
    let (at, id) = after.unwrap_or_else(super::before_everything);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT k.saved_at, {POST_FIELDS} FROM read_models.bookmarks k \
           JOIN read_models.posts p ON p.post_id = k.post_id \
           LEFT JOIN read_models.user_profiles u ON u.user_id = p.author_id \
          WHERE k.user_id = $1 AND (k.saved_at, k.post_id) < ($2, $3) AND {VISIBLE} \
          ORDER BY k.saved_at DESC, k.post_id DESC LIMIT $4"
    ))
    .bind(viewer)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| (row.saved_at, row.post)).collect())
}
