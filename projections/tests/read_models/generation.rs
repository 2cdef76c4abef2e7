//! The harness every read-model test shares: the write side (a command pipeline without group
//! commit, so each append is its own transaction) and one generation of a projection fed from
//! the log the way the runtime feeds it — a batch per transaction, with the search path on the
//! generation's schema.

use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_projections::projection::{
    LiveUpdate, Projection, create_generation, generation_schema, point_views, use_generation,
};
use loopync_schemas::{Position, RECORDED_EVENT_COLUMNS, RecordedEvent};
use sqlx::PgPool;
use std::fmt::Debug;
use std::sync::Arc;

pub fn ok<T, E: Debug>(result: Result<T, E>) -> T {
    result.unwrap()
}

/// A pipeline appending one command per transaction.
pub fn pipeline(pool: &PgPool) -> CommandPipeline {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
    CommandPipeline::new(Arc::new(store), PipelineConfig::default())
}

/// One generation of a projection.
pub struct Generation {
    projection: Box<dyn Projection>,
    generation: i32,
    read: Position,
}

impl Generation {
    /// Creates the generation's tables; `active` also points `read_models` at them.
    pub async fn create(pool: &PgPool, projection: impl Projection, generation: i32, active: bool) -> Self {
        let mut tx = ok(pool.begin().await);
        ok(create_generation(&mut tx, &projection, generation).await);
        if active {
            ok(point_views(&mut tx, &projection, generation).await);
        }
        ok(tx.commit().await);
        Self { projection: Box::new(projection), generation, read: Position::ORIGIN }
    }

    /// Applies every event not applied yet, `batch_size` events per transaction.
    pub async fn catch_up(&mut self, pool: &PgPool, batch_size: usize) -> Vec<LiveUpdate> {
        self.catch_up_in(pool, &[batch_size]).await
    }

    /// Applies every event not applied yet, in batches of the given sizes, cycling.
    pub async fn catch_up_in(&mut self, pool: &PgPool, sizes: &[usize]) -> Vec<LiveUpdate> {
        // Straight from the table, not through `EventLog`: every append of the test has
        // committed, and the log's cluster-wide visibility horizon could be held back by other
        // databases' transactions on a shared server.
        let events: Vec<RecordedEvent> = ok(sqlx::query_as(&format!(
            "SELECT {RECORDED_EVENT_COLUMNS} FROM events \
             WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
             ORDER BY transaction_id, global_position"
        ))
        .bind(self.read.transaction_id.to_string())
        .bind(self.read.global_position)
        .fetch_all(pool)
        .await);
        let mut updates = Vec::new();
        let mut rest = events.as_slice();
        let mut size = sizes.iter().copied().cycle();
        while !rest.is_empty() {
            let (batch, after) = rest.split_at(size.next().unwrap_or(1).clamp(1, rest.len()));
            rest = after;
            let mut tx = ok(pool.begin().await);
            ok(use_generation(&mut tx, self.projection.name(), self.generation).await);
            updates.extend(ok(self.projection.apply(&mut tx, batch).await));
            ok(tx.commit().await);
        }
        if let Some(last) = events.last() {
            self.read = last.position;
        }
        updates
    }

    /// Points the `read_models` views at this generation.
    pub async fn point_views(&self, pool: &PgPool) {
        let mut tx = ok(pool.begin().await);
        ok(point_views(&mut tx, self.projection.as_ref(), self.generation).await);
        ok(tx.commit().await);
    }

    /// The generation's tables (the internal ones too), sorted.
    pub async fn tables(&self, pool: &PgPool) -> Vec<String> {
        let schema = generation_schema(self.projection.name(), self.generation);
        ok(sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
        )
        .bind(&schema)
        .fetch_all(pool)
        .await)
    }

    /// Every row of every table of the generation, as text, sorted.
    pub async fn dump(&self, pool: &PgPool) -> Vec<String> {
        let schema = generation_schema(self.projection.name(), self.generation);
        let mut rows = Vec::new();
        for table in self.tables(pool).await {
            let table_rows: Vec<String> = ok(sqlx::query_scalar(&format!(
                "SELECT '{table} ' || t::text FROM {schema}.{table} t ORDER BY 1"
            ))
            .fetch_all(pool)
            .await);
            rows.extend(table_rows);
        }
        rows
    }
}
