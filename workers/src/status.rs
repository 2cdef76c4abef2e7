//! Where each projection is, how far behind the log, how many of its events are parked, and
//! which worker owns it; and the lag and parked-event metrics exported at `/metrics`.

use crate::lease::LOCK_KEY_SQL;
use loopync_projections::EventLog;
use loopync_schemas::Position;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One projection as `loopync projections status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    pub name: String,
    pub active_generation: i32,
    pub position: Position,
    pub events_seen: i64,
    /// Readable events the active generation has not applied yet.
    pub lag_events: i64,
    /// Age of the oldest of those, in seconds.
    pub lag_seconds: f64,
    /// Events parked in `projection_dead_letters` (any generation): each waits for an
    /// operator's `loopync projections retry` or `skip`, and its effect is missing from the
    /// read model meanwhile.
    pub parked_events: i64,
    /// The worker holding the projection's lock, if any.
    pub owner: Option<String>,
    /// A rebuild in progress: its generation and position.
    pub rebuild: Option<(i32, Position)>,
}

/// The status of every registered projection.
pub async fn projection_status(pool: &PgPool) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT p.name, p.active_generation, p.rebuild_generation,
                  coalesce(a.transaction_id::text::bigint, 0) AS "transaction_id!",
                  coalesce(a.global_position, 0) AS "global_position!",
                  coalesce(a.events_seen, 0) AS "events_seen!",
                  r.transaction_id::text::bigint AS "rebuild_transaction_id?",
                  r.global_position AS "rebuild_global_position?",
                  (SELECT count(*) FROM projection_dead_letters d WHERE d.projection = p.name)
                      AS "parked_events!"
             FROM projections p
             LEFT JOIN projection_checkpoints a ON a.projection = p.name AND a.generation = p.active_generation
             LEFT JOIN projection_checkpoints r ON r.projection = p.name AND r.generation = p.rebuild_generation
            ORDER BY p.name"#,
    )
    .fetch_all(pool)
    .await?;
    let log = EventLog::new(pool.clone());
    let mut statuses = Vec::with_capacity(rows.len());
    for row in rows {
        let position = Position::new(row.transaction_id, row.global_position);
        let (lag_events, lag_seconds) = log.lag(position).await?;
        let owner = owner(pool, &row.name).await?;
        let rebuild = row.rebuild_generation.map(|g| {
            (
                g,
                Position::new(
                    row.rebuild_transaction_id.unwrap_or(0),
                    row.rebuild_global_position.unwrap_or(0),
                ),
            )
        });
        statuses.push(ProjectionStatus {
            name: row.name,
            active_generation: row.active_generation,
            position,
            events_seen: row.events_seen,
            lag_events,
            lag_seconds,
            parked_events: row.parked_events,
            owner,
            rebuild,
        });
    }
    Ok(statuses)
}

/// What `/ready` warns about for one projection: lag past its threshold, events parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionHealth {
    pub name: String,
    /// Readable events the active generation has not applied, counted up to the cap asked
    /// for (so a projection far behind costs no more to check than one just past the cap).
    pub lag_events: i64,
    /// Events parked in `projection_dead_letters`.
    pub parked_events: i64,
}

/// Every projection's lag (counted up to `lag_cap`; 0 counts nothing) and parked events, in
/// one query: `/ready` asks for it on every probe.
pub async fn projection_health(pool: &PgPool, lag_cap: i64) -> Result<Vec<ProjectionHealth>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT p.name,
                  (SELECT count(*) FROM (
                       SELECT 1 FROM events e
                        WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
                          AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                        LIMIT $1) behind) AS "lag_events!",
                  (SELECT count(*) FROM projection_dead_letters d WHERE d.projection = p.name) AS "parked_events!"
             FROM projections p
             JOIN projection_checkpoints c ON c.projection = p.name AND c.generation = p.active_generation
            ORDER BY p.name"#,
        lag_cap.max(0),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ProjectionHealth {
            name: row.name,
            lag_events: row.lag_events,
            parked_events: row.parked_events,
        })
        .collect())
}

/// The worker whose lease connection holds the projection's advisory lock in this database.
pub async fn owner(pool: &PgPool, projection: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((l.classid::bigint << 32) | l.objid::bigint) = {LOCK_KEY_SQL}"
    ))
    .bind(projection)
    .fetch_optional(pool)
    .await
    .map(|name: Option<String>| name.map(|n| n.trim_start_matches("loopync-worker:").to_owned()))
}

/// Exports lag gauges every `interval` until cancelled: per projection, events and seconds
/// behind and events parked; for the log, committed events held back by an open transaction and the age of the
/// oldest open transaction (a stalled horizon shows here, not as lost events).
pub async fn export_lag_metrics(pool: PgPool, interval: Duration, shutdown: CancellationToken) {
    let log = EventLog::new(pool.clone());
    while !shutdown.is_cancelled() {
        if let Ok(statuses) = projection_status(&pool).await {
            for status in statuses {
                metrics::gauge!("loopync_projection_lag_events", "projection" => status.name.clone())
                    .set(status.lag_events as f64);
                metrics::gauge!("loopync_projection_lag_seconds", "projection" => status.name.clone())
                    .set(status.lag_seconds);
                metrics::gauge!("loopync_projection_parked_events", "projection" => status.name.clone())
                    .set(status.parked_events as f64);
                metrics::gauge!("loopync_projection_position", "projection" => status.name)
                    .set(status.position.global_position as f64);
            }
        }
        if let Ok((held_back, oldest)) = log.horizon_stall().await {
            metrics::gauge!("loopync_event_log_held_back_events").set(held_back as f64);
            metrics::gauge!("loopync_event_log_oldest_transaction_seconds").set(oldest);
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
