//! Pushing new notifications to devices.
//!
//! Every few seconds a worker claims the notifications made in the last `window` that are
//! unread, not yet pushed, and whose recipient has a device (`notification_pushes`, migration
//! 0014: the claim is an insert, so two workers never push one twice), then sends one [`Push`]
//! per device of a live session. Push is best effort: a send that fails is logged and not
//! retried (the notification is in the app either way). Muted kinds and blocked actors never
//! made a notification in the first place.
//!
//! The statements read read-model views, which the checked `query!` macros cannot see: they
//! are unchecked `sqlx::query`s.

use loopync_delivery::{Push, PushSender};
use loopync_domain::notifications::{NotificationKind, summary};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Notifications older than this are not pushed (after an outage, say): a push is news.
pub const PUSH_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a push is remembered (past the window, a notification is never pushed anyway).
const PUSHED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Claims and pushes up to `batch` new notifications; returns how many pushes were sent.
pub async fn push_new(
    pool: &PgPool,
    sender: &dyn PushSender,
    window: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let claimed: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO notification_pushes (notification_id) \
         SELECT n.notification_id FROM read_models.notifications n \
          WHERE n.created_at > now() - make_interval(secs => $1) AND n.read_at IS NULL \
            AND EXISTS (SELECT 1 FROM private_read_models.push_devices d WHERE d.user_id = n.recipient) \
            AND NOT EXISTS (SELECT 1 FROM notification_pushes p WHERE p.notification_id = n.notification_id) \
          ORDER BY n.created_at LIMIT $2 \
         ON CONFLICT DO NOTHING RETURNING notification_id",
    )
    .bind(window.as_secs_f64())
    .bind(batch)
    .fetch_all(pool)
    .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    #[derive(sqlx::FromRow)]
    struct Target {
        notification_id: Uuid,
        kind: String,
        actor_name: Option<String>,
        token: String,
        platform: String,
    }
    // Devices of sessions that are still live: a session that ended gets nothing, even before
    // the read model dropped its device.
    let targets: Vec<Target> = sqlx::query_as(
        "SELECT n.notification_id, n.kind, u.name AS actor_name, d.token, d.platform \
           FROM read_models.notifications n \
           JOIN private_read_models.push_devices d ON d.user_id = n.recipient \
           JOIN read_models.user_sessions s ON s.session_id = d.session_id AND s.revoked_at IS NULL \
           LEFT JOIN read_models.user_profiles u ON u.user_id = n.actor \
          WHERE n.notification_id = ANY ($1) \
          ORDER BY n.created_at, d.token",
    )
    .bind(&claimed)
    .fetch_all(pool)
    .await?;
    let mut sent = 0;
    for target in targets {
        let kind = NotificationKind::parse(&target.kind).unwrap_or(NotificationKind::Mention);
        let actor = target.actor_name.as_deref().unwrap_or("Someone");
        let push = Push {
            token: target.token,
            platform: target.platform,
            title: "Loopync".to_owned(),
            body: summary(actor, 1, kind),
            notification_id: target.notification_id,
        };
        match sender.send(push).await {
            Ok(()) => sent += 1,
            Err(error) => tracing::warn!(%error, notification = %target.notification_id, "push not sent"),
        }
    }
    Ok(sent)
}

/// Forgets pushes older than their retention.
pub async fn forget_old_pushes(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM notification_pushes WHERE pushed_at < now() - make_interval(secs => $1)",
        PUSHED_RETENTION.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Pushes every `interval` until cancelled.
pub async fn run_push(
    pool: PgPool,
    sender: std::sync::Arc<dyn PushSender>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut rounds: u64 = 0;
    while !shutdown.is_cancelled() {
        loop {
            match push_new(&pool, sender.as_ref(), PUSH_WINDOW, 500).await {
                Ok(0) => break,
                Ok(sent) => tracing::debug!(sent, "notifications pushed"),
                Err(error) => {
                    tracing::warn!(%error, "push sweep failed");
                    break;
                }
            }
        }
        rounds += 1;
        if rounds % 1000 == 1
            && let Err(error) = forget_old_pushes(&pool).await
        {
            tracing::warn!(%error, "old pushes not forgotten");
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
