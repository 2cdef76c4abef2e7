//! Housekeeping: idempotency keys are forgotten after their retention (at least 24 hours, as
//! promised to clients), in small batches so the sweep never holds long locks.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deletes idempotency records older than `retention`; returns how many went.
pub async fn expire_idempotency_keys(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let seconds = retention.as_secs_f64();
    let mut total = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM command_log WHERE ctid IN ( \
                 SELECT ctid FROM command_log \
                 WHERE recorded_at < now() - make_interval(secs => $1) LIMIT 5000)",
        )
        .bind(seconds)
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < 5000 {
            return Ok(total);
        }
    }
}

/// Sweeps every `interval` until cancelled.
pub async fn run_idempotency_sweeper(
    pool: PgPool,
    retention: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match expire_idempotency_keys(&pool, retention).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "idempotency keys expired"),
            Err(error) => tracing::warn!(%error, "idempotency key sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
