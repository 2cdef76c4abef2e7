//! [`NotificationsReadModel`]: derives notifications from the events that cause them and
//! applies what users do with them.
//!
//! | event                               | notifies                                        |
//! |-------------------------------------|-------------------------------------------------|
//! | `relationship.friend_requested`     | the addressee (`friend_request`)                |
//! | `relationship.friends_made`         | the requester (`friend_accepted`)               |
//! | `like.added`                        | the post's author (`like`, grouped per post)    |
//! | `comment.added`                     | the post's author (`comment`), the replied-to author (`reply`), the mentioned (`mention`) |
//! | `post.created`                      | the mentioned (`mention`), the shared post's author (`repost`, grouped per post) |
//!
//! Nobody is notified of what they did themselves, by someone blocked either way, of a kind
//! they muted, or of a post they may not see (a mention in a friends-only post reaches only
//! friends). Undoing the cause takes the notification away: a like taken back, a friend
//! request cancelled, a comment or post deleted.
//!
//! Ids are UUIDv5 of the cause and the recipient ([`notification_id`]), so a batch applied
//! twice, or a rebuild, makes exactly the same rows.

use super::frames::{NotificationCreated, NotificationRead};
use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::identity::session::{Session, SessionEvent};
use loopync_domain::notifications::{Inbox, InboxEvent, NotificationKind};
use loopync_domain::social::{
    Comment, CommentEvent, Like, LikeEvent, Post, PostEvent, Relationship, RelationshipEvent, Visibility,
};
use loopync_schemas::RecordedEvent;
use sqlx::PgConnection;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// The notifications of every user.
#[derive(Debug, Default, Clone, Copy)]
pub struct NotificationsReadModel;

impl NotificationsReadModel {
    pub const NAME: &'static str = "notifications";
}

/// The namespace of notification ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6c6f_6f70_796e_6321_6e6f_7469_6669_6373);

/// The id of the notification of `kind` that `cause` (an event id, or a like's stream) gives
/// `recipient`.
pub fn notification_id(cause: &str, recipient: Uuid, kind: NotificationKind) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{cause}/{recipient}/{}", kind.as_str()).as_bytes())
}

/// A notification about to be made.
struct New {
    id: Uuid,
    recipient: Uuid,
    kind: NotificationKind,
    actor: Uuid,
    post_id: Option<Uuid>,
    comment_id: Option<Uuid>,
    at: DateTime<Utc>,
}

impl New {
    fn group_key(&self) -> String {
        match (self.kind.groups(), self.post_id) {
            (true, Some(post)) => format!("{}:{post}", self.kind.as_str()),
            _ => self.id.to_string(),
        }
    }
}

#[async_trait]
impl Projection for NotificationsReadModel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "notifications",
            "notification_posts",
            "notification_friends",
            "notification_blocks",
            "notification_settings",
        ]
    }

    fn private_tables(&self) -> &'static [&'static str] {
        &["push_devices"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let mut updates = Vec::new();
        let mut run: Vec<(String, LikeEvent)> = Vec::new();
        for recorded in events {
            let (category, id) = recorded.stream_name.split_once('-').unwrap_or(("", ""));
            if category == Like::CATEGORY {
                run.push((recorded.stream_name.clone(), recorded.decode()?));
                continue;
            }
            likes(conn, &std::mem::take(&mut run), &mut updates).await?;
            let cause = recorded.event_id.to_string();
            match category {
                Relationship::CATEGORY => {
                    relationship(conn, &cause, recorded.decode()?, &mut updates).await?
                }
                Post::CATEGORY => {
                    let Ok(post_id) = Uuid::parse_str(id) else { continue };
                    post(conn, &cause, post_id, recorded.decode()?, &mut updates).await?;
                }
                Comment::CATEGORY => {
                    let Ok(comment_id) = Uuid::parse_str(id) else { continue };
                    comment(conn, &cause, comment_id, recorded.decode()?, &mut updates).await?;
                }
                Inbox::CATEGORY => {
                    let Ok(user) = Uuid::parse_str(id) else { continue };
                    inbox(conn, user, recorded.decode()?, &mut updates).await?;
                }
                Session::CATEGORY => {
                    let Ok(session_id) = Uuid::parse_str(id) else { continue };
                    if let SessionEvent::Revoked(_) = recorded.decode::<SessionEvent>()? {
                        sqlx::query("DELETE FROM push_devices WHERE session_id = $1")
                            .bind(session_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                _ => {}
            }
        }
        likes(conn, &run, &mut updates).await?;
        Ok(updates)
    }
}

/// Makes `new` unless its recipient is its actor, either blocked the other, or the recipient
/// muted its kind; tells the recipient's devices.
async fn notify(
    conn: &mut PgConnection,
    new: New,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    if new.recipient == new.actor {
        return Ok(());
    }
    let made = sqlx::query(
        "INSERT INTO notifications (notification_id, recipient, kind, actor, post_id, comment_id, group_key, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
          WHERE NOT EXISTS (SELECT 1 FROM notification_blocks \
                             WHERE (blocker_id = $2 AND blocked_id = $4) OR (blocker_id = $4 AND blocked_id = $2)) \
            AND NOT EXISTS (SELECT 1 FROM notification_settings WHERE user_id = $2 AND $3 = ANY (muted)) \
         ON CONFLICT (notification_id) DO NOTHING",
    )
    .bind(new.id)
    .bind(new.recipient)
    .bind(new.kind.as_str())
    .bind(new.actor)
    .bind(new.post_id)
    .bind(new.comment_id)
    .bind(new.group_key())
    .bind(new.at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if made > 0 {
        let frame = NotificationCreated {
            notification_id: new.id,
            kind: new.kind.as_str().to_owned(),
            actor_id: new.actor,
            post_id: new.post_id,
            comment_id: new.comment_id,
            created_at: new.at,
        };
        updates.push(LiveUpdate::new(new.recipient, &frame)?);
    }
    Ok(())
}

async fn relationship(
    conn: &mut PgConnection,
    cause: &str,
    event: RelationshipEvent,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    let (actor, other) = event.parties();
    let at = event.at();
    let friend_request = |recipient| New {
        id: notification_id(cause, recipient, NotificationKind::FriendRequest),
        recipient,
        kind: NotificationKind::FriendRequest,
        actor,
        post_id: None,
        comment_id: None,
        at,
    };
    match event {
        RelationshipEvent::FriendRequested(_) => notify(conn, friend_request(other), updates).await?,
        RelationshipEvent::FriendsMade(_) => {
            sqlx::query("INSERT INTO notification_friends VALUES ($1, $2), ($2, $1) ON CONFLICT DO NOTHING")
                .bind(actor)
                .bind(other)
                .execute(&mut *conn)
                .await?;
            let accepted = New {
                id: notification_id(cause, other, NotificationKind::FriendAccepted),
                kind: NotificationKind::FriendAccepted,
                ..friend_request(other)
            };
            notify(conn, accepted, updates).await?;
        }
        RelationshipEvent::RequestCancelled(_) => {
            // The request is gone: so is the news of it.
            sqlx::query(
                "DELETE FROM notifications WHERE recipient = $1 AND actor = $2 AND kind = 'friend_request'",
            )
            .bind(other)
            .bind(actor)
            .execute(&mut *conn)
            .await?;
        }
        RelationshipEvent::Unfriended(_) => unfriend(conn, actor, other).await?,
        RelationshipEvent::Blocked(_) => {
            unfriend(conn, actor, other).await?;
            sqlx::query("INSERT INTO notification_blocks VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(actor)
                .bind(other)
                .execute(&mut *conn)
                .await?;
        }
        RelationshipEvent::Unblocked(_) => {
            sqlx::query("DELETE FROM notification_blocks WHERE blocker_id = $1 AND blocked_id = $2")
                .bind(actor)
                .bind(other)
                .execute(&mut *conn)
                .await?;
        }
        RelationshipEvent::RequestRejected(_)
        | RelationshipEvent::Followed(_)
        | RelationshipEvent::Unfollowed(_) => {}
    }
    Ok(())
}

async fn unfriend(conn: &mut PgConnection, a: Uuid, b: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM notification_friends WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
    )
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `user` may see a post of `author`'s with `visibility` (blocks are `notify`'s check).
async fn may_see(
    conn: &mut PgConnection,
    user: Uuid,
    author: Uuid,
    visibility: &str,
) -> Result<bool, sqlx::Error> {
    Ok(match Visibility::parse(visibility) {
        Some(Visibility::Public) => true,
        Some(Visibility::Friends) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM notification_friends WHERE user_id = $1 AND friend_id = $2)",
            )
            .bind(user)
            .bind(author)
            .fetch_one(&mut *conn)
            .await?
        }
        _ => false,
    })
}

/// Notifies each of `mentioned` who may see the post `post_id` of the mention.
#[allow(clippy::too_many_arguments)] // the mention's every coordinate
async fn mentions(
    conn: &mut PgConnection,
    cause: &str,
    mentioned: &[Uuid],
    skip: &[Uuid],
    actor: Uuid,
    post_id: Uuid,
    comment_id: Option<Uuid>,
    at: DateTime<Utc>,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    let post: Option<(Uuid, String)> =
        sqlx::query_as("SELECT author, visibility FROM notification_posts WHERE post_id = $1")
            .bind(post_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((author, visibility)) = post else { return Ok(()) };
    for recipient in mentioned.iter().copied().filter(|user| !skip.contains(user)) {
        if recipient != author && !may_see(conn, recipient, author, &visibility).await? {
            continue;
        }
        let new = New {
            id: notification_id(cause, recipient, NotificationKind::Mention),
            recipient,
            kind: NotificationKind::Mention,
            actor,
            post_id: Some(post_id),
            comment_id,
            at,
        };
        notify(conn, new, updates).await?;
    }
    Ok(())
}

async fn post(
    conn: &mut PgConnection,
    cause: &str,
    post_id: Uuid,
    event: PostEvent,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    match event {
        PostEvent::Created(created) => {
            sqlx::query("INSERT INTO notification_posts VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(post_id)
                .bind(created.author)
                .bind(created.visibility.as_str())
                .execute(&mut *conn)
                .await?;
            if let Some(original) = created.repost_of {
                let author: Option<Uuid> =
                    sqlx::query_scalar("SELECT author FROM notification_posts WHERE post_id = $1")
                        .bind(original)
                        .fetch_optional(&mut *conn)
                        .await?;
                if let Some(author) = author {
                    let new = New {
                        id: notification_id(cause, author, NotificationKind::Repost),
                        recipient: author,
                        kind: NotificationKind::Repost,
                        actor: created.author,
                        post_id: Some(original),
                        comment_id: None,
                        at: created.created_at,
                    };
                    notify(conn, new, updates).await?;
                }
            }
            let at = created.created_at;
            mentions(conn, cause, &created.mentions, &[], created.author, post_id, None, at, updates).await?;
        }
        PostEvent::Edited(_) => {}
        PostEvent::Deleted(_) => {
            sqlx::query("DELETE FROM notification_posts WHERE post_id = $1")
                .bind(post_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM notifications WHERE post_id = $1")
                .bind(post_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Applies a run of like events (`social::likes`): every like the run touched loses its
/// notification, and those that stand after it get one as their last `added` made it — what
/// applying them one by one leaves, in three statements for the whole run. A like that lands
/// after its post was deleted (they raced) notifies nobody. One notification
/// per like, whatever its history: liking again after taking it back brings the same one back.
async fn likes(
    conn: &mut PgConnection,
    run: &[(String, LikeEvent)],
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    if run.is_empty() {
        return Ok(());
    }
    let net = crate::social::likes::fold(run);
    let id = |like: &crate::social::likes::NetLike| {
        notification_id(&like.stream, like.last.post_author, NotificationKind::Like)
    };
    let touched: Vec<Uuid> = net.iter().map(id).collect();
    sqlx::query("DELETE FROM notifications WHERE notification_id = ANY ($1)")
        .bind(&touched)
        .execute(&mut *conn)
        .await?;
    let standing: Vec<&crate::social::likes::NetLike> =
        net.iter().filter(|like| like.after && like.last.user != like.last.post_author).collect();
    if standing.is_empty() {
        return Ok(());
    }
    let made: Vec<(Uuid, Uuid, Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO notifications (notification_id, recipient, kind, actor, post_id, group_key, created_at) \
         SELECT t.id, t.recipient, 'like', t.actor, t.post_id, 'like:' || t.post_id, t.at \
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[]) AS t(id, recipient, actor, post_id, at) \
          WHERE NOT EXISTS (SELECT 1 FROM notification_blocks \
                             WHERE (blocker_id = t.recipient AND blocked_id = t.actor) \
                                OR (blocker_id = t.actor AND blocked_id = t.recipient)) \
            AND NOT EXISTS (SELECT 1 FROM notification_settings WHERE user_id = t.recipient AND 'like' = ANY (muted)) \
            AND EXISTS (SELECT 1 FROM notification_posts WHERE post_id = t.post_id) \
         ON CONFLICT (notification_id) DO NOTHING \
         RETURNING notification_id, recipient, actor, post_id, created_at",
    )
    .bind(standing.iter().map(|like| id(like)).collect::<Vec<_>>())
    .bind(standing.iter().map(|like| like.last.post_author).collect::<Vec<_>>())
    .bind(standing.iter().map(|like| like.last.user).collect::<Vec<_>>())
    .bind(standing.iter().map(|like| like.last.post).collect::<Vec<_>>())
    .bind(standing.iter().map(|like| like.last.at).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    // In the run's order, for a deterministic order of live updates.
    let mut made = made;
    made.sort_by_key(|(id, ..)| touched.iter().position(|t| t == id));
    for (notification_id, recipient, actor_id, post_id, created_at) in made {
        let frame = NotificationCreated {
            notification_id,
            kind: NotificationKind::Like.as_str().to_owned(),
            actor_id,
            post_id: Some(post_id),
            comment_id: None,
            created_at,
        };
        updates.push(LiveUpdate::new(recipient, &frame)?);
    }
    Ok(())
}

async fn comment(
    conn: &mut PgConnection,
    cause: &str,
    comment_id: Uuid,
    event: CommentEvent,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    match event {
        CommentEvent::Added(added) => {
            let mut notified = Vec::new();
            if let Some(replied) = added.reply_to_author {
                let new = New {
                    id: notification_id(cause, replied, NotificationKind::Reply),
                    recipient: replied,
                    kind: NotificationKind::Reply,
                    actor: added.author,
                    post_id: Some(added.post),
                    comment_id: Some(comment_id),
                    at: added.created_at,
                };
                notify(conn, new, updates).await?;
                notified.push(replied);
            }
            if !notified.contains(&added.post_author) {
                let new = New {
                    id: notification_id(cause, added.post_author, NotificationKind::Comment),
                    recipient: added.post_author,
                    kind: NotificationKind::Comment,
                    actor: added.author,
                    post_id: Some(added.post),
                    comment_id: Some(comment_id),
                    at: added.created_at,
                };
                notify(conn, new, updates).await?;
                notified.push(added.post_author);
            }
            let at = added.created_at;
            mentions(
                conn,
                cause,
                &added.mentions,
                &notified,
                added.author,
                added.post,
                Some(comment_id),
                at,
                updates,
            )
            .await?;
        }
        CommentEvent::Deleted(_) => {
            sqlx::query("DELETE FROM notifications WHERE comment_id = $1")
                .bind(comment_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn inbox(
    conn: &mut PgConnection,
    user: Uuid,
    event: InboxEvent,
    updates: &mut Vec<LiveUpdate>,
) -> Result<(), ProjectionError> {
    match event {
        InboxEvent::Read(read) => {
            // Each named notification with its group: reading "Ada and 3 others liked your
            // post" reads the four.
            sqlx::query(
                "UPDATE notifications SET read_at = $3 WHERE recipient = $1 AND read_at IS NULL AND group_key IN \
                     (SELECT group_key FROM notifications WHERE recipient = $1 AND notification_id = ANY ($2))",
            )
            .bind(user)
            .bind(&read.ids)
            .bind(read.at)
            .execute(&mut *conn)
            .await?;
            updates
                .push(LiveUpdate::new(user, &NotificationRead { notification_ids: read.ids, all: false })?);
        }
        InboxEvent::ReadAll(all) => {
            sqlx::query("UPDATE notifications SET read_at = $2 WHERE recipient = $1 AND read_at IS NULL")
                .bind(user)
                .bind(all.at)
                .execute(&mut *conn)
                .await?;
            updates
                .push(LiveUpdate::new(user, &NotificationRead { notification_ids: Vec::new(), all: true })?);
        }
        InboxEvent::Deleted(deleted) => {
            sqlx::query(
                "DELETE FROM notifications WHERE recipient = $1 AND group_key IN \
                     (SELECT group_key FROM notifications WHERE recipient = $1 AND notification_id = ANY ($2))",
            )
            .bind(user)
            .bind(&deleted.ids)
            .execute(&mut *conn)
            .await?;
        }
        InboxEvent::SettingsChanged(changed) => {
            let muted: Vec<&str> = changed.muted.iter().map(|kind| kind.as_str()).collect();
            sqlx::query(
                "INSERT INTO notification_settings VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET muted = $2",
            )
            .bind(user)
            .bind(&muted)
            .execute(&mut *conn)
            .await?;
        }
        InboxEvent::PushTokenRegistered(registered) => {
            if let Some(replaced) = &registered.replaced {
                sqlx::query("DELETE FROM push_devices WHERE token = $1 AND user_id = $2")
                    .bind(replaced)
                    .bind(user)
                    .execute(&mut *conn)
                    .await?;
            }
            // A token moves with its device: registered by another account, it is theirs now.
            sqlx::query(
                "INSERT INTO push_devices VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE \
                 SET user_id = $2, session_id = $3, platform = $4, registered_at = $5",
            )
            .bind(&registered.token)
            .bind(user)
            .bind(registered.session_id)
            .bind(serde_json::to_value(registered.platform)?.as_str().unwrap_or("web"))
            .bind(registered.at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
