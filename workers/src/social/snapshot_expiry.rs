//! Ranking snapshots (`feed_snapshots`, the rankings the ranked feed's and trending's later
//! pages continue) live an hour: a client paging through a feed is done long before, and one
//! that comes back later starts again from the first page.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a ranking snapshot is kept.
pub const SNAPSHOT_RETENTION: Duration = Duration::from_secs(3600);

/// Deletes snapshots older than `older_than`, a batch at a time; returns how many went.
pub async fn expire_snapshots(pool: &PgPool, older_than: Duration) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query!(
            "DELETE FROM feed_snapshots WHERE snapshot_id IN ( \
                 SELECT snapshot_id FROM feed_snapshots WHERE created_at < now() - make_interval(secs => $1) LIMIT 1000)",
            older_than.as_secs_f64(),
        )
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < 1000 {
            return Ok(total);
        }
    }
}

/// Expires snapshots every `interval` until cancelled.
pub async fn run_snapshot_expiry(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match expire_snapshots(&pool, SNAPSHOT_RETENTION).await {
            Ok(0) => {}
            Ok(expired) => tracing::debug!(expired, "ranking snapshots expired"),
            Err(error) => tracing::warn!(%error, "ranking snapshot sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
