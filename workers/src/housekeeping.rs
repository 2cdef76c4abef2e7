//! Housekeeping: idempotency keys are forgotten after their retention (at least 24 hours, as
//! promised to clients), in small batches so the sweep never holds long locks; failed sign-in
//! records go once no lockout window can still count them; payment-provider webhook receipts
//! after a day; durable live updates after their retention (default 7 days).

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted per statement of a sweep (the `LIMIT` of the statements below).
const SWEEP_BATCH: u64 = 5000;

/// Deletes idempotency records older than `retention`; returns how many went.
pub async fn expire_idempotency_keys(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let seconds = retention.as_secs_f64();
    delete_in_batches(|| async move {
        let done = sqlx::query!(
            "DELETE FROM command_log WHERE ctid IN ( \
                 SELECT ctid FROM command_log WHERE recorded_at < now() - make_interval(secs => $1) LIMIT 5000)",
            seconds,
        )
        .execute(pool)
        .await?;
        Ok(done.rows_affected())
    })
    .await
}

/// Deletes durable live updates older than `retention`; returns how many went. Cursors before
/// what is left get `resync_required` from the gateway.
pub async fn expire_live_updates(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let seconds = retention.as_secs_f64();
    delete_in_batches(|| async move {
        let done = sqlx::query!(
            "DELETE FROM live_updates WHERE ctid IN ( \
                 SELECT ctid FROM live_updates WHERE created_at < now() - make_interval(secs => $1) LIMIT 5000)",
            seconds,
        )
        .execute(pool)
        .await?;
        Ok(done.rows_affected())
    })
    .await
}

/// Runs `delete_batch` (a statement deleting up to [`SWEEP_BATCH`] old rows) until a batch
/// comes back short, so a sweep of a large backlog never holds many row locks for long.
async fn delete_in_batches<F, Fut>(mut delete_batch: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let deleted = delete_batch().await?;
        total += deleted;
        if deleted < SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Failed sign-ins older than this no longer count for any lockout (the longest window is
/// 15 minutes by default; a day leaves room for longer configured ones).
pub const AUTH_FAILURE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Deletes failed sign-in records older than `older_than`.
pub async fn expire_auth_failures(pool: &PgPool, older_than: Duration) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "DELETE FROM auth_failures WHERE failed_at < now() - make_interval(secs => $1)",
        older_than.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// Deletes webhook receipts older than `older_than` (their signatures are long stale).
pub async fn expire_webhook_receipts(pool: &PgPool, older_than: Duration) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "DELETE FROM looppay_webhook_receipts WHERE received_at < now() - make_interval(secs => $1)",
        older_than.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// How long the swept records are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Idempotency keys (at least 24 hours).
    pub idempotency_keys: Duration,
    /// Durable live updates: how far back a reconnecting client can resume (default 7 days).
    pub live_updates: Duration,
}

/// Sweeps every `interval` until cancelled.
pub async fn run_sweeper(
    pool: PgPool,
    retention: Retention,
    interval: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match expire_idempotency_keys(&pool, retention.idempotency_keys).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "idempotency keys expired"),
            Err(error) => tracing::warn!(%error, "idempotency key sweep failed"),
        }
        if let Err(error) = expire_auth_failures(&pool, AUTH_FAILURE_RETENTION).await {
            tracing::warn!(%error, "failed sign-in sweep failed");
        }
        // A day: far past the signatures' five-minute tolerance.
        if let Err(error) = expire_webhook_receipts(&pool, AUTH_FAILURE_RETENTION).await {
            tracing::warn!(%error, "webhook receipt sweep failed");
        }
        match expire_live_updates(&pool, retention.live_updates).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "live updates past retention pruned"),
            Err(error) => tracing::warn!(%error, "live update sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
