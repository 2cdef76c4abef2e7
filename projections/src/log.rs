//! The global event log, read in commit-safe order.
//!
//! Global positions come from a sequence and are handed out at insert time, so a transaction
//! holding position 11 can commit before one holding position 10. A reader that paged by
//! position alone would pass 10 while it is still invisible and never see it. Instead the log
//! is read in `(transaction_id, global_position)` order and only below the visibility horizon
//! `pg_snapshot_xmin(pg_current_snapshot())`: every transaction with an id below the horizon
//! has finished, so no event can ever appear before a position a reader has passed. A
//! transaction left open holds the horizon back; readers then wait (and the lag shows in
//! metrics) instead of losing events.
//!
//! Besides the log in commit order, readers that check the ledger rather than handle its
//! events read here too: a page of one stream ([`EventLog::stream_page`], a wallet's history)
//! and every stream of a category in a snapshot of their own ([`read_category`], the audit).
//! Those leave the metadata out, so an event whose metadata was damaged can still be shown
//! and audited.

use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use loopync_schemas::{EVENTS_CHANNEL, EventMetadata, EventRow, Position, RecordedEvent};
use sqlx::postgres::PgListener;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Reads the global log.
#[derive(Clone)]
pub struct EventLog {
    pool: PgPool,
}

impl EventLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` events after `after`, in log order. Events of transactions still open,
    /// and everything after them, are not returned yet.
    pub async fn read_after(&self, after: Position, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
                      stream_version, event_id, event_type, schema_version, payload,
                      metadata AS "metadata: sqlx::types::Json<EventMetadata>", recorded_at
                 FROM events
                WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY transaction_id, global_position
                LIMIT $3"#,
            after.transaction_id.to_string(),
            after.global_position,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(RecordedEvent::from).collect())
    }

    /// The position of the last event readers can see now (the head of the readable log).
    pub async fn head(&self) -> Result<Position, sqlx::Error> {
        let row = sqlx::query!(
            r#"SELECT transaction_id::text::bigint AS "transaction_id!", global_position FROM events
                WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY transaction_id DESC, global_position DESC LIMIT 1"#,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Position::new(r.transaction_id, r.global_position)).unwrap_or(Position::ORIGIN))
    }

    /// The position of the newest committed event, whether readers can see it yet or not (an
    /// older transaction still open holds it back from them): how far the log reaches, for
    /// waiting until a projection has covered all of it.
    pub async fn newest(&self) -> Result<Option<Position>, sqlx::Error> {
        let row = sqlx::query!(
            r#"SELECT transaction_id::text::bigint AS "transaction_id!", global_position FROM events
                ORDER BY transaction_id DESC, global_position DESC LIMIT 1"#,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Position::new(r.transaction_id, r.global_position)))
    }

    /// Up to `limit` events of `stream` with a version above `after_version`, in version
    /// order, without their metadata (see the module documentation).
    pub async fn stream_page(
        &self,
        stream: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let rows = sqlx::query_as!(
            EventWithoutMetadata,
            r#"SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
                      stream_version, event_id, event_type, schema_version, payload, recorded_at
                 FROM events WHERE stream_name = $1 AND stream_version > $2
                ORDER BY stream_version LIMIT $3"#,
            stream,
            after_version,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(RecordedEvent::from).collect())
    }

    /// Events after `after` that readers can see, and how far the oldest unread one is behind
    /// in seconds (the lag of a reader at `after`).
    pub async fn lag(&self, after: Position) -> Result<(i64, f64), sqlx::Error> {
        let row = sqlx::query!(
            r#"SELECT count(*) AS "events!",
                      coalesce(extract(epoch FROM now() - min(recorded_at))::float8, 0) AS "seconds!"
                 FROM events
                WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"#,
            after.transaction_id.to_string(),
            after.global_position,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.events, row.seconds))
    }

    /// Committed events readers cannot see yet because an older transaction is still open,
    /// and the age of the oldest open transaction that holds an id, in seconds.
    pub async fn horizon_stall(&self) -> Result<(i64, f64), sqlx::Error> {
        let held_back = sqlx::query_scalar!(
            r#"SELECT count(*) AS "held_back!" FROM events
                WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())"#,
        )
        .fetch_one(&self.pool)
        .await?;
        let oldest = sqlx::query_scalar!(
            r#"SELECT coalesce(extract(epoch FROM now() - min(xact_start))::float8, 0) AS "oldest!"
                 FROM pg_stat_activity WHERE backend_xid IS NOT NULL"#,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((held_back, oldest))
    }
}

/// Every event of the streams of `category` (`wallet` for `wallet-<id>`, ...), in
/// `(stream_name, stream_version)` order, without their metadata (see the module
/// documentation). Read on `conn`, so in the caller's transaction and snapshot, and streamed
/// from the server row by row: the table is never loaded into memory, and each stream's events
/// arrive together.
pub fn read_category<'c>(
    conn: &'c mut PgConnection,
    category: &str,
) -> BoxStream<'c, Result<RecordedEvent, sqlx::Error>> {
    sqlx::query_as!(
        EventWithoutMetadata,
        r#"SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
                  stream_version, event_id, event_type, schema_version, payload, recorded_at
             FROM events WHERE starts_with(stream_name, $1 || '-')
            ORDER BY stream_name, stream_version"#,
        category,
    )
    .fetch(conn)
    .map_ok(RecordedEvent::from)
    .boxed()
}

/// A row of `events` read without its metadata.
struct EventWithoutMetadata {
    global_position: i64,
    transaction_id: i64,
    stream_name: String,
    stream_version: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    payload: serde_json::Value,
    recorded_at: DateTime<Utc>,
}

impl From<EventWithoutMetadata> for RecordedEvent {
    fn from(row: EventWithoutMetadata) -> Self {
        RecordedEvent {
            position: Position::new(row.transaction_id, row.global_position),
            stream_name: row.stream_name,
            stream_version: row.stream_version,
            event_id: row.event_id,
            event_type: row.event_type,
            schema_version: row.schema_version,
            payload: row.payload,
            metadata: EventMetadata::default(),
            recorded_at: row.recorded_at,
        }
    }
}

/// Wakes log readers: at once for appends in this process, through `LISTEN` for appends in
/// other processes, and at worst after the reader's poll timeout (a notification can be missed
/// while a connection is re-established, and a stalled horizon moves without one).
///
/// Built on a `watch` channel so that a reader cannot miss a wake-up between reading an empty
/// batch and starting to wait: it marks the signal seen *before* reading.
#[derive(Clone)]
pub struct LogWaker {
    signal: Arc<watch::Sender<u64>>,
    /// Stops the listener (returning its connection) when the last clone is dropped.
    _listener: Arc<DropGuard>,
}

impl LogWaker {
    /// A waker fed by `local` (the in-process store's commit counter) and by a listener on
    /// PostgreSQL's `loopync_events` channel.
    pub fn new(pool: PgPool, local: Option<watch::Receiver<u64>>) -> Self {
        let (signal, _) = watch::channel(0_u64);
        let signal = Arc::new(signal);
        if let Some(mut local) = local {
            let signal = signal.clone();
            tokio::spawn(async move {
                while local.changed().await.is_ok() {
                    signal.send_modify(|n| *n = n.wrapping_add(1));
                }
            });
        }
        let stop = CancellationToken::new();
        tokio::spawn(listen(pool, signal.clone(), stop.clone()));
        Self { signal, _listener: Arc::new(stop.drop_guard()) }
    }

    pub fn subscribe(&self) -> LogSubscription {
        LogSubscription { receiver: self.signal.subscribe() }
    }

    /// Wakes every subscriber (on shutdown, and for requests such as a rebuild).
    pub fn wake_all(&self) {
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// One reader's view of the wake-ups.
pub struct LogSubscription {
    receiver: watch::Receiver<u64>,
}

impl LogSubscription {
    /// Marks every wake-up so far as seen; call before reading the log.
    pub fn mark_seen(&mut self) {
        self.receiver.borrow_and_update();
    }

    /// Waits for a wake-up not yet seen, or `timeout`.
    pub async fn wait(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.receiver.changed()).await;
    }
}

async fn listen(pool: PgPool, signal: Arc<watch::Sender<u64>>, stop: CancellationToken) {
    let wake = || signal.send_modify(|n| *n = n.wrapping_add(1));
    while !stop.is_cancelled() {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(EVENTS_CHANNEL).await.is_ok() {
                    // A reconnect may have missed notifications: wake everyone once.
                    wake();
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            notification = listener.recv() => match notification {
                                Ok(_) => wake(),
                                Err(_) => break,
                            },
                        }
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "event log listener cannot connect; readers poll"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
