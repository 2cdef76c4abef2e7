//! Events a projection could not apply: parked by the runner (see `runner`), listed, applied
//! again or given up by an operator (`loopync projections failed|retry|skip`).
//!
//! An event is parked only for an error that would fail again — one the projection or its
//! tables refuse ([`is_poison`]) — never for a transient one, which the runner retries.

use loopync_projections::projection::{self, Projection, ProjectionError};
use loopync_schemas::{Position, RECORDED_EVENT_COLUMNS, RecordedEvent};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One parked event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub projection: String,
    pub generation: i32,
    pub position: Position,
    pub event_id: Uuid,
    pub event_type: String,
    pub error: String,
    pub parked_at: chrono::DateTime<chrono::Utc>,
}

/// Whether `error` would fail again on the same event: the projection cannot read it, or its
/// tables refuse what it makes of it (SQLSTATE classes 22 data exception, 23 integrity
/// constraint, 42 a statement PostgreSQL refuses). Unreachable databases, serialization
/// failures, deadlocks and timeouts are transient.
pub fn is_poison(error: &ProjectionError) -> bool {
    match error {
        ProjectionError::Decode(_) | ProjectionError::Encode(_) | ProjectionError::Failed(_) => true,
        ProjectionError::Database(sqlx::Error::Database(db)) => {
            db.code().is_some_and(|code| ["22", "23", "42"].iter().any(|class| code.starts_with(class)))
        }
        ProjectionError::Database(_) => false,
    }
}

/// Records `event` as parked for `projection`'s `generation`, inside the runner's transaction.
pub(crate) async fn park(
    conn: &mut PgConnection,
    projection: &str,
    generation: i32,
    event: &RecordedEvent,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO projection_dead_letters \
             (projection, generation, transaction_id, global_position, event_id, event_type, error) \
         VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        projection,
        generation,
        event.position.transaction_id.to_string(),
        event.position.global_position,
        event.event_id,
        &event.event_type,
        error,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every parked event, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT projection, generation, transaction_id::text::bigint AS "transaction_id!", global_position,
                  event_id, event_type, error, parked_at
             FROM projection_dead_letters ORDER BY parked_at, global_position"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DeadLetter {
            projection: row.projection,
            generation: row.generation,
            position: Position::new(row.transaction_id, row.global_position),
            event_id: row.event_id,
            event_type: row.event_type,
            error: row.error,
            parked_at: row.parked_at,
        })
        .collect())
}

/// What became of a parked event an operator acted on.
#[derive(Debug)]
pub enum Resolution {
    /// Applied to the projection's generation, and no longer parked.
    Applied,
    /// No longer parked, not applied.
    Skipped,
    /// No such parked event.
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the event still fails: {0}")]
    StillFails(ProjectionError),
}

/// Gives up a parked event: it stays unapplied.
pub async fn skip(pool: &PgPool, projection: &str, global_position: i64) -> Result<Resolution, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM projection_dead_letters WHERE projection = $1 AND global_position = $2",
        projection,
        global_position,
    )
    .execute(pool)
    .await?;
    Ok(if deleted.rows_affected() > 0 { Resolution::Skipped } else { Resolution::NotFound })
}

/// Applies a parked event again (after a fix), to the generation it was parked from, and
/// un-parks it, in one transaction; if it fails again it stays parked.
pub async fn retry(
    pool: &PgPool,
    projection: &dyn Projection,
    global_position: i64,
) -> Result<Resolution, RetryError> {
    let mut tx = pool.begin().await?;
    let parked = sqlx::query!(
        "DELETE FROM projection_dead_letters WHERE projection = $1 AND global_position = $2 RETURNING generation",
        projection.name(),
        global_position,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(parked) = parked else { return Ok(Resolution::NotFound) };
    // The log, not a checked query: `RECORDED_EVENT_COLUMNS` is the log reader's own column list.
    let event: RecordedEvent =
        sqlx::query_as(&format!("SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE global_position = $1"))
            .bind(global_position)
            .fetch_one(&mut *tx)
            .await?;
    projection::use_generation(&mut tx, projection.name(), parked.generation).await?;
    projection.apply(&mut tx, std::slice::from_ref(&event)).await.map_err(RetryError::StillFails)?;
    tx.commit().await?;
    Ok(Resolution::Applied)
}
