//! Diagnostic rows (`bench-core --breakdown`) that split a loopync command's cost in layers:
//!
//! - [`SqlxInsertTarget`]: the ceiling's one-row insert, sent from Rust through sqlx instead of
//!   pgbench — what our client stack (tokio, sqlx, the pool) costs on top of the server;
//! - [`AppendOnlyTarget`]: [`PgEventStore`]'s append of one event with an expected version,
//!   without the pipeline (no cache, no decide, no retry: each aggregate's version is tracked
//!   here, and one append per aggregate is in flight at a time, so there are no conflicts) —
//!   what the store's append (for one event: its guarded single-`INSERT` fast path) costs
//!   compared with a plain insert;
//! - the group-commit store split into several writers (see [`crate::loopync::LoopyncTarget`]
//!   with more than one writer): whether batches in flight side by side beat one at a time.
//!
//! The full pipeline's row minus the append-only row is the pipeline's own overhead.

use crate::driver::Target;
use crate::recorder::PipelineTotals;
use loopync_commands::{
    AppendError, AppendRequest, EventStore, ExpectedVersion, GroupCommit, NewEvent, PgEventStore,
    StreamAppend,
};
use loopync_domain::StreamName;
use loopync_domain::sample::{Money, SampleWallet, SampleWalletEvent, ToppedUp};
use loopync_schemas::EventMetadata;
use sqlx::PgPool;
use sqlx::types::Json;
use tokio::sync::Mutex;
use uuid::Uuid;

/// One-row inserts into the ceiling's table through sqlx, one statement per commit.
pub struct SqlxInsertTarget {
    pool: PgPool,
}

impl SqlxInsertTarget {
    /// Needs the ceiling table ([`crate::ceiling::CEILING_TABLE_SQL`]) in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl Target for SqlxInsertTarget {
    type Error = sqlx::Error;

    async fn top_up(&self, aggregate: usize, amount: i64) -> Result<(), sqlx::Error> {
        let payload = ToppedUp { amount: Money::loop_credits(amount), balance_after: amount };
        sqlx::query("INSERT INTO ceiling_events (stream_name, payload) VALUES ($1, $2)")
            .bind(format!("sample_wallet-ceiling-{aggregate}"))
            .bind(Json(payload))
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    fn totals(&self) -> PipelineTotals {
        PipelineTotals::default()
    }
}

/// Why an append-only top-up failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendOnlyError {
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("cannot encode the event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the append reported no version for {0}")]
    NoVersion(String),
}

struct Stream {
    name: StreamName,
    /// The stream's version and balance, locked for the whole append.
    state: Mutex<(i64, i64)>,
}

/// Appends through [`PgEventStore`] directly, no grouping.
pub struct AppendOnlyTarget {
    store: PgEventStore,
    streams: Vec<Stream>,
}

impl AppendOnlyTarget {
    /// Streams unique to `clients`; must be called inside the tokio runtime.
    pub fn new(pool: PgPool, clients: usize, aggregates: usize) -> Self {
        let store = PgEventStore::new(pool, GroupCommit { enabled: false, ..GroupCommit::default() });
        let streams = (0..aggregates.max(1))
            .map(|i| Stream {
                name: StreamName::of::<SampleWallet>(format!("append-c{clients}-{i}")),
                state: Mutex::new((0, 0)),
            })
            .collect();
        Self { store, streams }
    }
}

impl Target for AppendOnlyTarget {
    type Error = AppendOnlyError;

    async fn top_up(&self, aggregate: usize, amount: i64) -> Result<(), AppendOnlyError> {
        let stream = &self.streams[aggregate % self.streams.len()];
        let mut state = stream.state.lock().await;
        let (version, balance) = *state;
        let balance_after = balance + amount;
        let event =
            SampleWalletEvent::ToppedUp(ToppedUp { amount: Money::loop_credits(amount), balance_after });
        let command_id = Uuid::now_v7().to_string();
        let request = AppendRequest {
            streams: vec![StreamAppend {
                stream: stream.name.clone(),
                expected: ExpectedVersion::from_loaded(version),
                events: vec![NewEvent::encode(&event)?],
            }],
            metadata: EventMetadata {
                actor: Some("loopync-bench".to_owned()),
                correlation_id: command_id.clone(),
                causation_id: None,
                command_id,
            },
            idempotency: None,
        };
        let outcome = self.store.append(request).await?;
        let version = outcome
            .stream_version(stream.name.as_str())
            .ok_or_else(|| AppendOnlyError::NoVersion(stream.name.to_string()))?;
        *state = (version, balance_after);
        Ok(())
    }

    fn totals(&self) -> PipelineTotals {
        PipelineTotals::default()
    }
}
