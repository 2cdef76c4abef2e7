//! Queries on the notifications read model: a user's notifications grouped (newest group
//! first), the unread count, and whether ids are theirs.
//!
//! Groups: likes and reposts of one post are one entry ("Ada and 3 others liked your post");
//! every other notification is an entry of its own. An entry is unread while any of its
//! notifications is, and dated by its newest. Notifications from users blocked either way are
//! not shown (the block may be newer than the notification).

use sqlx::PgPool;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationGroup {
    /// The newest notification of the group: what reading or deleting the entry names.
    pub notification_id: Uuid,
    pub group_key: String,
    pub kind: String,
    /// The latest actors, newest first (at most three).
    pub actors: Vec<Uuid>,
    /// How many different users the group holds.
    pub actor_count: i64,
    pub post_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub latest_at: DateTime<Utc>,
    pub unread: bool,
}

/// Where a page of groups starts: strictly after this `(latest_at, group_key)`.
pub type GroupCursor = (DateTime<Utc>, String);

/// Notifications of `recipient` not from someone blocked either way (`n` over `$1`).
const SHOWN: &str = "read_models.notifications n WHERE n.recipient = $1 AND NOT EXISTS ( \
         SELECT 1 FROM read_models.notification_blocks b \
          WHERE (b.blocker_id = $1 AND b.blocked_id = n.actor) OR (b.blocker_id = n.actor AND b.blocked_id = $1))";

/// A page of `recipient`'s notifications, grouped, newest group first; only groups with an
/// unread notification when `unread_only`.
pub async fn groups(
    pool: &PgPool,
    recipient: Uuid,
    unread_only: bool,
    after: Option<GroupCursor>,
    limit: i64,
) -> Result<Vec<NotificationGroup>, sqlx::Error> {
    let (at, key) = after.unwrap_or_else(|| (far_future(), String::from("~")));
    sqlx::query_as(&format!(
        "SELECT (array_agg(n.notification_id ORDER BY n.created_at DESC, n.notification_id DESC))[1] AS notification_id, \
                n.group_key, min(n.kind) AS kind, \
                (array_agg(n.actor ORDER BY n.created_at DESC, n.notification_id DESC))[1:3] AS actors, \
                count(DISTINCT n.actor) AS actor_count, \
                (array_agg(n.post_id ORDER BY n.created_at DESC))[1] AS post_id, \
                (array_agg(n.comment_id ORDER BY n.created_at DESC))[1] AS comment_id, \
                max(n.created_at) AS latest_at, bool_or(n.read_at IS NULL) AS unread \
           FROM {SHOWN} \
          GROUP BY n.group_key \
         HAVING (NOT $2 OR bool_or(n.read_at IS NULL)) AND (max(n.created_at), n.group_key) < ($3, $4) \
          ORDER BY latest_at DESC, n.group_key DESC LIMIT $5"
    ))
    .bind(recipient)
    .bind(unread_only)
    .bind(at)
    .bind(key)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A date after every notification, within what PostgreSQL stores (and `~` sorts after
/// every group key, which are UUIDs and `<kind>:<uuid>`).
fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_214_400, 0).unwrap_or_default()
}

/// How many entries of `recipient`'s list are unread.
pub async fn unread_count(pool: &PgPool, recipient: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT count(DISTINCT n.group_key) FROM {SHOWN} AND n.read_at IS NULL"))
        .bind(recipient)
        .fetch_one(pool)
        .await
}

/// Whether `notification_id` is one of `recipient`'s.
pub async fn is_theirs(pool: &PgPool, recipient: Uuid, notification_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM read_models.notifications WHERE notification_id = $1 AND recipient = $2)",
    )
    .bind(notification_id)
    .bind(recipient)
    .fetch_one(pool)
    .await
}
