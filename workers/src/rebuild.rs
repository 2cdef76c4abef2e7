//! Rebuilding a projection without downtime.
//!
//! `loopync projections rebuild NAME` records a request (`projections.rebuild_generation`).
//! The projection's owner then creates the new generation's schema and tables and applies the
//! log to it from position zero, in large batches, interleaved with the live generation's
//! batches. Once the new generation has caught up with the live one, the owner switches in one
//! transaction: the views in `read_models` now show the new tables, and the active generation
//! number changes. Readers see the old tables or the new ones, never neither. The old
//! generation's schema is then dropped.

use crate::runner::{ProjectionTask, RunError};
use loopync_projections::projection::{self, Projection};
use loopync_schemas::Position;
use sqlx::PgPool;

/// One generation of a projection and how far it has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub number: i32,
    pub position: Position,
}

/// Registers the projection if new, makes sure its active generation (and a requested rebuild
/// generation) exist, and loads their checkpoints.
pub(crate) async fn prepare(
    pool: &PgPool,
    projection: &dyn Projection,
) -> Result<(Generation, Option<Generation>), RunError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    sqlx::query!("INSERT INTO projections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name)
        .execute(&mut *tx)
        .await?;
    let registered = sqlx::query!(
        "SELECT active_generation, rebuild_generation FROM projections WHERE name = $1 FOR UPDATE",
        name,
    )
    .fetch_one(&mut *tx)
    .await?;
    let (active, rebuild) = (registered.active_generation, registered.rebuild_generation);
    let active_position = ensure_generation(&mut tx, projection, active).await?;
    projection::point_views(&mut tx, projection, active).await?;
    let rebuilding = match rebuild {
        Some(number) => {
            Some(Generation { number, position: ensure_generation(&mut tx, projection, number).await? })
        }
        None => None,
    };
    tx.commit().await?;
    Ok((Generation { number: active, position: active_position }, rebuilding))
}

/// Creates a generation's tables and checkpoint if missing; returns its checkpoint.
async fn ensure_generation(
    conn: &mut sqlx::PgConnection,
    projection: &dyn Projection,
    generation: i32,
) -> Result<Position, RunError> {
    projection::create_generation(conn, projection, generation).await?;
    sqlx::query("SET LOCAL search_path = public").execute(&mut *conn).await?;
    sqlx::query!(
        "INSERT INTO projection_checkpoints (projection, generation) VALUES ($1, $2) \
         ON CONFLICT (projection, generation) DO NOTHING",
        projection.name(),
        generation,
    )
    .execute(&mut *conn)
    .await?;
    let checkpoint = sqlx::query!(
        r#"SELECT transaction_id::text::bigint AS "transaction_id!", global_position
             FROM projection_checkpoints WHERE projection = $1 AND generation = $2"#,
        projection.name(),
        generation,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Position::new(checkpoint.transaction_id, checkpoint.global_position))
}

/// Records a rebuild request for `name`; returns the new generation's number. A rebuild that
/// is already requested is reused rather than restarted.
pub async fn request(pool: &PgPool, name: &str) -> Result<Option<i32>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "SELECT active_generation, rebuild_generation FROM projections WHERE name = $1 FOR UPDATE",
        name,
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| (r.active_generation, r.rebuild_generation));
    let generation = match row {
        None => {
            // Never run yet: its first run builds from zero anyway; register it as generation 1.
            sqlx::query!("INSERT INTO projections (name) VALUES ($1)", name).execute(&mut *tx).await?;
            None
        }
        Some((_, Some(existing))) => Some(existing),
        Some((active, None)) => {
            // Never reuse a number: a leftover schema of an abandoned generation is dropped first.
            let next = sqlx::query_scalar!(
                r#"SELECT greatest($2, coalesce(max(generation), 0)) + 1 AS "next!"
                     FROM projection_checkpoints WHERE projection = $1"#,
                name,
                active,
            )
            .fetch_one(&mut *tx)
            .await?;
            projection::drop_generation(&mut tx, name, next).await?;
            sqlx::query!(
                "UPDATE projections SET rebuild_generation = $2, rebuild_requested_at = now() WHERE name = $1",
                name,
                next,
            )
            .execute(&mut *tx)
            .await?;
            Some(next)
        }
    };
    tx.commit().await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(loopync_schemas::EVENTS_CHANNEL).execute(pool).await?;
    Ok(generation)
}

impl ProjectionTask {
    /// Starts building a generation someone asked for since the task started.
    pub(crate) async fn pick_up_rebuild_request(&mut self) -> Result<(), RunError> {
        if self.rebuilding.is_some() {
            return Ok(());
        }
        let requested = sqlx::query_scalar!(
            "SELECT rebuild_generation FROM projections WHERE name = $1",
            self.projection.name()
        )
        .fetch_one(&self.shared.pool)
        .await?;
        let Some(number) = requested else { return Ok(()) };
        let mut tx = self.shared.pool.begin().await?;
        let position = ensure_generation(&mut tx, self.projection.as_ref(), number).await?;
        tx.commit().await?;
        tracing::info!(projection = self.projection.name(), generation = number, "rebuild started");
        self.rebuilding = Some(Generation { number, position });
        Ok(())
    }

    /// Switches to the rebuilt generation once it has read at least as far as the live one.
    pub(crate) async fn switch_if_caught_up(&mut self) -> Result<(), RunError> {
        let Some(rebuilt) = self.rebuilding else { return Ok(()) };
        if rebuilt.position < self.active.position {
            return Ok(());
        }
        let name = self.projection.name();
        let mut tx = self.shared.pool.begin().await?;
        let requested = sqlx::query_scalar!(
            "SELECT rebuild_generation FROM projections WHERE name = $1 FOR UPDATE",
            name
        )
        .fetch_one(&mut *tx)
        .await?;
        if requested != Some(rebuilt.number) {
            // The request was withdrawn or replaced; forget this generation.
            tx.rollback().await?;
            self.rebuilding = None;
            return Ok(());
        }
        projection::point_views(&mut tx, self.projection.as_ref(), rebuilt.number).await?;
        sqlx::query!(
            "UPDATE projections SET active_generation = $2, rebuild_generation = NULL, switched_at = now() \
             WHERE name = $1",
            name,
            rebuilt.number,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        let retired = self.active.number;
        self.active = rebuilt;
        self.rebuilding = None;
        self.shared.board.reset(name, rebuilt.position);
        tracing::info!(projection = name, generation = rebuilt.number, "switched to rebuilt generation");

        let mut tx = self.shared.pool.begin().await?;
        projection::drop_generation(&mut tx, name, retired).await?;
        sqlx::query!(
            "DELETE FROM projection_checkpoints WHERE projection = $1 AND generation = $2",
            name,
            retired,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
