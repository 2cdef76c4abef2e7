//! The PostgreSQL event store.
//!
//! Every append — one command's, or a whole group-commit batch's — is a single call of the
//! `append_events` function (`append_statement`, migration 0002) in its own implicit
//! transaction: it checks each stream's expected version, inserts the events, and records
//! idempotency keys.
//! One round trip, one commit, and nothing half-written: a failure anywhere rolls all of it
//! back. A lone single-event append without a key takes `append_single_event`, a guarded
//! `INSERT` doing the same for less.
//!
//! Optimistic concurrency is enforced twice: the expected versions are compared with the
//! streams' current versions, and the primary key `(stream_name, stream_version)` makes two
//! concurrent appends at the same version collide even when both saw the same current version.
//! Events are inserted in `(stream_name, version)` order, so concurrent multi-stream appends
//! take their index locks in the same order and cannot deadlock.
//!
//! With group commit on, concurrent appends are queued to one writer task, which sends every
//! queued request in one call: one commit (one WAL flush) for the batch. Each request is still
//! checked on its own; a request that conflicts is answered `Conflict` without failing the
//! others. A request touching a stream (or an idempotency key) already in a batch — being built
//! or in flight — waits for the next one, so no check depends on another and batches in flight
//! never collide. If a batch fails as a whole (a writer in another process took a version or a
//! key first, or one request carries a value PostgreSQL refuses), it is bisected: each half is
//! appended as a batch of its own, and a half that fails is halved again, down to the single
//! requests at fault. Only they fail; the others still commit, in a few shared commits rather
//! than one each. Every request is answered only after its commit is durable.

use crate::error::{StoreError, is_unavailable};
use crate::store::{
    AppendError, AppendOutcome, AppendRequest, AppendedEvent, EventStore, Snapshot, StoredCommand,
};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use loopync_domain::StreamName;
use loopync_schemas::{EVENTS_CHANNEL, EventMetadata, EventRow, Position, RecordedEvent};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, types::Json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

/// Group commit settings.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Queue concurrent appends into shared transactions.
    pub enabled: bool,
    /// Most requests in one batch.
    pub max_batch: usize,
    /// Batches being appended at once (each on its own connection).
    pub max_in_flight: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self { enabled: true, max_batch: 512, max_in_flight: 2 }
    }
}

/// The PostgreSQL event store. Cheap to clone.
#[derive(Clone)]
pub struct PgEventStore {
    pool: PgPool,
    writer: Option<mpsc::Sender<PendingAppend>>,
    appended: Arc<AppendSignal>,
    /// Stops the notifier (and closes its connection) when the last clone is dropped.
    _notifier: Arc<DropGuard>,
}

/// Tells log readers that events were committed: `local` counts commits for readers in this
/// process (a `watch`, so none misses one); `remote` wakes the notifier task, which sends a
/// coalesced `NOTIFY` for readers in other processes.
pub struct AppendSignal {
    local: watch::Sender<u64>,
    remote: Notify,
}

impl AppendSignal {
    fn new() -> Self {
        Self { local: watch::channel(0).0, remote: Notify::new() }
    }

    fn committed(&self) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        self.remote.notify_one();
    }
}

struct PendingAppend {
    request: AppendRequest,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

impl PgEventStore {
    /// A store on `pool`. With group commit on, spawns the writer task; always spawns the
    /// cross-process notifier, which holds one connection of its own.
    pub fn new(pool: PgPool, group_commit: GroupCommit) -> Self {
        let appended = Arc::new(AppendSignal::new());
        let writer = group_commit.enabled.then(|| {
            let (sender, receiver) = mpsc::channel(group_commit.max_batch.max(1) * 4);
            tokio::spawn(run_writer(pool.clone(), receiver, group_commit, appended.clone()));
            sender
        });
        let stop = CancellationToken::new();
        tokio::spawn(run_notifier((*pool.connect_options()).clone(), appended.clone(), stop.clone()));
        Self { pool, writer, appended, _notifier: Arc::new(stop.drop_guard()) }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Changes after every commit of new events (for in-process log readers).
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.appended.local.subscribe()
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let result = match &self.writer {
            Some(writer) => {
                let (reply, answer) = oneshot::channel();
                writer
                    .send(PendingAppend { request, reply })
                    .await
                    .map_err(|_| AppendError::Store(StoreError::WriterStopped))?;
                answer.await.map_err(|_| AppendError::Store(StoreError::WriterStopped))?
            }
            None => {
                let result = append_one(&self.pool, &request).await;
                if result.is_ok() {
                    self.appended.committed();
                }
                result
            }
        };
        if let Ok(outcome) = &result {
            metrics::counter!("loopync_events_appended_total").increment(outcome.events.len() as u64);
        }
        result
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
                      stream_version, event_id, event_type, schema_version, payload,
                      metadata AS "metadata: Json<EventMetadata>", recorded_at
                 FROM events WHERE stream_name = $1 AND stream_version > $2 ORDER BY stream_version"#,
            stream.as_str(),
            after_version,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(RecordedEvent::from).collect())
    }

    async fn find_command(&self, scope: &str, key: &str) -> Result<Option<StoredCommand>, StoreError> {
        let Some(command) = sqlx::query!(
            r#"SELECT request_hash, transaction_id::text::bigint AS "transaction_id!", positions
                 FROM command_log WHERE scope = $1 AND idempotency_key = $2"#,
            scope,
            key,
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        // The (transaction_id, global_position) index finds them directly.
        let rows = sqlx::query_as!(
            EventRow,
            r#"SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
                      stream_version, event_id, event_type, schema_version, payload,
                      metadata AS "metadata: Json<EventMetadata>", recorded_at
                 FROM events WHERE transaction_id = $1::text::xid8 AND global_position = ANY($2)
                ORDER BY global_position"#,
            command.transaction_id.to_string(),
            &command.positions,
        )
        .fetch_all(&self.pool)
        .await?;
        let events = rows.into_iter().map(RecordedEvent::from).collect();
        Ok(Some(StoredCommand { request_hash: command.request_hash, events }))
    }

    async fn load_snapshot(&self, stream: &StreamName) -> Result<Option<Snapshot>, StoreError> {
        Ok(sqlx::query_as!(
            Snapshot,
            "SELECT stream_version, snapshot_version, state FROM snapshots WHERE stream_name = $1",
            stream.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn save_snapshot(&self, stream: &StreamName, snapshot: Snapshot) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO snapshots (stream_name, stream_version, snapshot_version, state) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (stream_name) DO UPDATE \
             SET stream_version = excluded.stream_version, snapshot_version = excluded.snapshot_version, \
                 state = excluded.state, taken_at = now() \
             WHERE snapshots.stream_version < excluded.stream_version \
                OR snapshots.snapshot_version <> excluded.snapshot_version",
            stream.as_str(),
            snapshot.stream_version,
            snapshot.snapshot_version,
            &snapshot.state,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The columns of `append_events`' parameters (see [`append_statement`]).
#[derive(Default)]
struct AppendParams<'a> {
    stream_request: Vec<i32>,
    stream_name: Vec<&'a str>,
    stream_expected: Vec<i64>,
    event_request: Vec<i32>,
    event_stream: Vec<i32>,
    event_ordinal: Vec<i64>,
    event_id: Vec<Uuid>,
    event_type: Vec<&'static str>,
    event_schema_version: Vec<i32>,
    // Borrowed: payloads and metadata are serialized once, straight into the bind buffer.
    event_payload: Vec<Json<&'a serde_json::Value>>,
    event_metadata: Vec<Json<&'a EventMetadata>>,
    key_request: Vec<i32>,
    key_scope: Vec<&'a str>,
    key: Vec<&'a str>,
    key_hash: Vec<&'a [u8]>,
}

impl<'a> AppendParams<'a> {
    /// Lays the requests out as `append_events` expects: stream entries (and their events) in
    /// stream-name order, so every append locks index entries in the same order.
    fn new(requests: &[&'a AppendRequest]) -> Self {
        let mut params = Self::default();
        let mut streams: Vec<(i32, &'a AppendRequest, &'a crate::store::StreamAppend)> = Vec::new();
        for (index, request) in (0_i32..).zip(requests.iter().copied()) {
            streams.extend(request.streams.iter().map(|stream| (index, request, stream)));
            if let Some(record) = &request.idempotency {
                params.key_request.push(index);
                params.key_scope.push(&record.scope);
                params.key.push(&record.key);
                params.key_hash.push(&record.request_hash);
            }
        }
        streams.sort_by(|a, b| a.2.stream.cmp(&b.2.stream));
        for (entry, (index, request, stream)) in (1_i32..).zip(streams) {
            params.stream_request.push(index);
            params.stream_name.push(stream.stream.as_str());
            params.stream_expected.push(stream.expected.as_sql());
            for (ordinal, event) in (1_i64..).zip(&stream.events) {
                params.event_request.push(index);
                params.event_stream.push(entry);
                params.event_ordinal.push(ordinal);
                params.event_id.push(event.event_id);
                params.event_type.push(event.event_type);
                params.event_schema_version.push(event.schema_version);
                params.event_payload.push(Json(&event.payload));
                params.event_metadata.push(Json(&request.metadata));
            }
        }
        params
    }
}

/// Appends `requests` in one call of `append_events` (migration 0002): one round trip, one
/// transaction. The whole call succeeds or fails (the outer error); each request in a
/// successful call is either appended or, when one of its expected versions did not hold,
/// answered `Conflict` (the inner results, one per request).
async fn append_statement(
    pool: &PgPool,
    requests: &[&AppendRequest],
) -> Result<Vec<Result<AppendOutcome, AppendError>>, sqlx::Error> {
    if let [request] = requests
        && let Some(single) = SingleEvent::of(request)
    {
        return Ok(vec![append_single_event(pool, request, single).await?]);
    }
    let params = AppendParams::new(requests);
    // The function's result columns are never NULL, which PostgreSQL cannot tell sqlx (`!`).
    // `as _`: the macro would want owned elements (`String`, `Value`) where these arrays borrow
    // (`&str`, `Json<&T>`: every payload serialized once, never copied); the function's
    // signature still fixes each parameter's SQL type.
    let rows = sqlx::query!(
        r#"SELECT out_event_id AS "out_event_id!", out_stream_name AS "out_stream_name!",
                  out_stream_version AS "out_stream_version!", out_global_position AS "out_global_position!",
                  out_transaction_id AS "out_transaction_id!"
             FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"#,
        &params.stream_request,
        &params.stream_name as _,
        &params.stream_expected,
        &params.event_request,
        &params.event_stream,
        &params.event_ordinal,
        &params.event_id,
        &params.event_type as _,
        &params.event_schema_version,
        &params.event_payload as _,
        &params.event_metadata as _,
        &params.key_request,
        &params.key_scope as _,
        &params.key as _,
        &params.key_hash as _,
    )
    .fetch_all(pool)
    .await?;

    let request_of: HashMap<Uuid, i32> =
        params.event_id.iter().copied().zip(params.event_request.iter().copied()).collect();
    let mut appended: Vec<Vec<AppendedEvent>> = vec![Vec::new(); requests.len()];
    for row in rows {
        let event = AppendedEvent {
            event_id: row.out_event_id,
            stream: row.out_stream_name,
            stream_version: row.out_stream_version,
            position: Position::new(row.out_transaction_id, row.out_global_position),
        };
        if let Some(slot) = request_of.get(&event.event_id).and_then(|i| usize::try_from(*i).ok()) {
            appended[slot].push(event);
        }
    }
    Ok(requests
        .iter()
        .zip(appended)
        .map(|(request, mut events)| {
            if events.is_empty() {
                return Err(AppendError::Conflict { streams: stream_names(request) });
            }
            events.sort_by_key(|e| e.position);
            let position = events.last().map(|e| e.position).unwrap_or_default();
            Ok(AppendOutcome { events, position })
        })
        .collect())
}

/// A request [`append_single_event`] can take.
#[derive(Clone, Copy)]
struct SingleEvent<'a> {
    stream: &'a crate::store::StreamAppend,
    expected: i64,
}

impl<'a> SingleEvent<'a> {
    fn of(request: &'a AppendRequest) -> Option<Self> {
        if request.idempotency.is_some() {
            return None;
        }
        let [stream] = request.streams.as_slice() else { return None };
        if stream.events.len() != 1 {
            return None;
        }
        let expected = stream.expected.as_sql();
        (expected >= 0).then_some(Self { stream, expected })
    }
}

/// The commonest append — one event to one stream at an exact expected version, no
/// idempotency key — as one plain `INSERT` guarded by the expected version. It does what
/// `append_events` does for such a request at a fraction of the server's work.
async fn append_single_event(
    pool: &PgPool,
    request: &AppendRequest,
    single: SingleEvent<'_>,
) -> Result<Result<AppendOutcome, AppendError>, sqlx::Error> {
    let Some(event) = single.stream.events.first() else {
        return Ok(Err(AppendError::Conflict { streams: stream_names(request) }));
    };
    let row = sqlx::query!(
        r#"INSERT INTO events
               (stream_name, stream_version, event_id, event_type, schema_version, payload, metadata)
           SELECT $1, $2::bigint + 1, $3::uuid, $4::text, $5::integer, $6::jsonb, $7::jsonb
            WHERE coalesce((SELECT max(stream_version) FROM events WHERE stream_name = $1), 0) = $2
           RETURNING global_position, transaction_id::text::bigint AS "transaction_id!""#,
        single.stream.stream.as_str(),
        single.expected,
        event.event_id,
        event.event_type,
        event.schema_version,
        // Borrowed, not copied: `as _` lets `Json<&T>` through where the macro wants a `Value`.
        Json(&event.payload) as _,
        Json(&request.metadata) as _,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(Err(AppendError::Conflict { streams: stream_names(request) }));
    };
    let position = Position::new(row.transaction_id, row.global_position);
    let appended = AppendedEvent {
        event_id: event.event_id,
        stream: single.stream.stream.as_str().to_owned(),
        stream_version: single.expected + 1,
        position,
    };
    Ok(Ok(AppendOutcome { events: vec![appended], position }))
}

fn stream_names(request: &AppendRequest) -> Vec<String> {
    request.streams.iter().map(|s| s.stream.as_str().to_owned()).collect()
}

/// Appends one request in its own statement, classifying constraint violations.
async fn append_one(pool: &PgPool, request: &AppendRequest) -> Result<AppendOutcome, AppendError> {
    match append_statement(pool, &[request]).await {
        Ok(mut results) => results.pop().unwrap_or_else(|| Err(AppendError::Conflict { streams: vec![] })),
        Err(error) => Err(classify(error, request)),
    }
}

fn classify(error: sqlx::Error, request: &AppendRequest) -> AppendError {
    if let sqlx::Error::Database(db) = &error {
        match (db.code().as_deref(), db.constraint()) {
            // Another append took this version between our check and our insert.
            (Some("23505"), Some("events_pkey")) => {
                return AppendError::Conflict { streams: stream_names(request) };
            }
            // The same idempotency key was committed concurrently.
            (Some("23505"), Some("command_log_pkey")) => return AppendError::DuplicateCommand,
            // Deadlock or serialization failure: nothing was written; the caller retries.
            (Some("40P01" | "40001"), _) => return AppendError::Conflict { streams: stream_names(request) },
            _ => {}
        }
    }
    AppendError::Store(StoreError::from(error))
}

/// The group-commit writer: takes every queued request, appends them in one call, answers each
/// after the commit. Up to `max_in_flight` batches run at once, so one batch is being built and
/// sent while another waits for its flush; batches in flight never share a stream or an
/// idempotency key, so they cannot collide with each other.
async fn run_writer(
    pool: PgPool,
    mut queue: mpsc::Receiver<PendingAppend>,
    group_commit: GroupCommit,
    appended: Arc<AppendSignal>,
) {
    let max_batch = group_commit.max_batch.max(1);
    let max_in_flight = group_commit.max_in_flight.max(1);
    let mut waiting: VecDeque<PendingAppend> = VecDeque::new();
    let mut busy = Busy::default();
    let mut running = FuturesUnordered::new();
    let mut open = true;
    loop {
        while waiting.len() < max_batch * 2 {
            match queue.try_recv() {
                Ok(pending) => waiting.push_back(pending),
                Err(_) => break,
            }
        }
        if running.len() < max_in_flight && !waiting.is_empty() {
            let (batch, deferred) = take_batch(std::mem::take(&mut waiting), max_batch, &busy);
            waiting = deferred;
            if !batch.is_empty() {
                let claimed = busy.claim(&batch);
                running.push(run_batch(pool.clone(), batch, appended.clone(), claimed));
                continue;
            }
        }
        if !open && waiting.is_empty() && running.is_empty() {
            return;
        }
        tokio::select! {
            Some(claimed) = running.next(), if !running.is_empty() => busy.release(claimed),
            pending = queue.recv(), if open => match pending {
                Some(pending) => waiting.push_back(pending),
                None => open = false,
            },
        }
    }
}

/// Streams and idempotency keys of the batches in flight.
#[derive(Default)]
struct Busy {
    streams: HashSet<String>,
    keys: HashSet<(String, String)>,
}

type Claimed = (Vec<String>, Vec<(String, String)>);

impl Busy {
    fn claim(&mut self, batch: &[PendingAppend]) -> Claimed {
        let streams: Vec<String> = batch
            .iter()
            .flat_map(|p| p.request.streams.iter().map(|s| s.stream.as_str().to_owned()))
            .collect();
        let keys: Vec<(String, String)> = batch
            .iter()
            .filter_map(|p| p.request.idempotency.as_ref().map(|r| (r.scope.clone(), r.key.clone())))
            .collect();
        self.streams.extend(streams.iter().cloned());
        self.keys.extend(keys.iter().cloned());
        (streams, keys)
    }

    fn release(&mut self, (streams, keys): Claimed) {
        for stream in streams {
            self.streams.remove(&stream);
        }
        for key in keys {
            self.keys.remove(&key);
        }
    }
}

/// Appends one batch and answers its requests; returns what it claimed.
async fn run_batch(
    pool: PgPool,
    batch: Vec<PendingAppend>,
    appended: Arc<AppendSignal>,
    claimed: Claimed,
) -> Claimed {
    metrics::histogram!("loopync_group_commit_batch_size").record(batch.len() as f64);
    let requests: Vec<&AppendRequest> = batch.iter().map(|p| &p.request).collect();
    let results = append_bisecting(&pool, &requests).await;
    if results.iter().any(Result::is_ok) {
        appended.committed();
    }
    for (pending, result) in batch.into_iter().zip(results) {
        // The caller may have gone (request cancelled); its append stands regardless.
        let _ = pending.reply.send(result);
    }
    claimed
}

/// Appends `requests` in one call; if the call fails as a whole, appends each half the same way
/// (both at once), so a failure is narrowed down to the requests that cause it. A single
/// request's failure is its own answer; an outage is everyone's.
fn append_bisecting<'a>(
    pool: &'a PgPool,
    requests: &'a [&'a AppendRequest],
) -> futures::future::BoxFuture<'a, Vec<Result<AppendOutcome, AppendError>>> {
    Box::pin(async move {
        if let [request] = requests {
            return vec![append_one(pool, request).await];
        }
        match append_statement(pool, requests).await {
            Ok(results) => results,
            Err(error) if is_unavailable(&error) => {
                requests.iter().map(|request| Err(classify_owned(&error, request))).collect()
            }
            Err(error) => {
                tracing::debug!(%error, batch = requests.len(), "group commit batch failed; bisecting it");
                metrics::counter!("loopync_group_commit_bisections_total").increment(1);
                let (left, right) = requests.split_at(requests.len() / 2);
                let (mut results, rest) =
                    futures::future::join(append_bisecting(pool, left), append_bisecting(pool, right)).await;
                results.extend(rest);
                results
            }
        }
    })
}

fn classify_owned(error: &sqlx::Error, request: &AppendRequest) -> AppendError {
    if let sqlx::Error::Database(db) = error {
        let violation = match (db.code().as_deref(), db.constraint()) {
            (Some("23505"), Some("command_log_pkey")) => Some(AppendError::DuplicateCommand),
            (Some("23505"), Some("events_pkey")) | (Some("40P01" | "40001"), _) => {
                Some(AppendError::Conflict { streams: stream_names(request) })
            }
            _ => None,
        };
        if let Some(violation) = violation {
            return violation;
        }
    }
    let message = error.to_string();
    if is_unavailable(error) {
        AppendError::Store(StoreError::Unavailable(sqlx::Error::Protocol(message)))
    } else {
        AppendError::Store(StoreError::Database(sqlx::Error::Protocol(message)))
    }
}

/// Splits the queue into a batch whose requests share no stream and no idempotency key with
/// each other or with the batches in flight, and the rest (kept in arrival order for the next
/// batch). Requests whose caller has gone are dropped unanswered: nothing was promised.
fn take_batch(
    queue: VecDeque<PendingAppend>,
    max_batch: usize,
    busy: &Busy,
) -> (Vec<PendingAppend>, VecDeque<PendingAppend>) {
    let mut streams: HashSet<&str> = HashSet::new();
    let mut keys: HashSet<(&str, &str)> = HashSet::new();
    let mut taken = 0;
    // Decide first (borrowing the queue), then move the requests.
    let mut decisions = Vec::with_capacity(queue.len());
    for pending in &queue {
        if pending.reply.is_closed() {
            decisions.push(None);
            continue;
        }
        let request = &pending.request;
        let key = request.idempotency.as_ref().map(|r| (r.scope.as_str(), r.key.as_str()));
        let collides = taken >= max_batch
            || request
                .streams
                .iter()
                .any(|s| streams.contains(s.stream.as_str()) || busy.streams.contains(s.stream.as_str()))
            || key
                .is_some_and(|k| keys.contains(&k) || busy.keys.contains(&(k.0.to_owned(), k.1.to_owned())));
        if collides {
            decisions.push(Some(false));
        } else {
            streams.extend(request.streams.iter().map(|s| s.stream.as_str()));
            keys.extend(key);
            taken += 1;
            decisions.push(Some(true));
        }
    }
    drop((streams, keys));
    let mut batch = Vec::with_capacity(taken);
    let mut rest = VecDeque::new();
    for (pending, decision) in queue.into_iter().zip(decisions) {
        match decision {
            Some(true) => batch.push(pending),
            Some(false) => rest.push_back(pending),
            None => {}
        }
    }
    (batch, rest)
}

/// Longest a reader in another process waits for a notification it would otherwise get at once.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(2);

/// Sends `NOTIFY loopync_events` after commits, coalesced: however many appends happen while a
/// notification is being sent, one more follows. The notification needs no durability, so its
/// connection commits asynchronously and never waits for a WAL flush.
async fn run_notifier(options: PgConnectOptions, appended: Arc<AppendSignal>, stop: CancellationToken) {
    let options = options.options([("synchronous_commit", "off")]).application_name("loopync-notifier");
    let mut connection: Option<sqlx::PgConnection> = None;
    loop {
        tokio::select! {
            () = appended.remote.notified() => {}
            () = stop.cancelled() => {
                if let Some(connection) = connection {
                    let _ = sqlx::Connection::close(connection).await;
                }
                return;
            }
        }
        if connection.is_none() {
            connection = options.connect().await.ok();
        }
        let Some(conn) = connection.as_mut() else {
            // PostgreSQL is away; readers fall back to polling. Try again on the next append.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(&mut *conn).await.is_err() {
            connection = None;
        }
        // At most one notification per NOTIFY_INTERVAL: under load, appends every few hundred
        // microseconds would otherwise cost a transaction each; readers lose at most that much.
        tokio::time::sleep(NOTIFY_INTERVAL).await;
    }
}

#[cfg(test)]
mod batches {
    //! Group commit's guarantee that batches in flight never share a stream or an idempotency
    //! key: two such batches would collide with each other in PostgreSQL, and the loser would
    //! fall back to appending one by one.

    use super::*;
    use crate::store::{ExpectedVersion, IdempotencyRecord, StreamAppend};

    /// A queued append to `streams`, with an idempotency `key` if given.
    fn pending(
        streams: &[&str],
        key: Option<&str>,
    ) -> (PendingAppend, oneshot::Receiver<Result<AppendOutcome, AppendError>>) {
        let streams = streams
            .iter()
            .map(|name| StreamAppend {
                stream: StreamName::parse(name).unwrap_or_else(|e| panic!("{e}")),
                expected: ExpectedVersion::Any,
                events: Vec::new(),
            })
            .collect();
        let idempotency = key.map(|key| IdempotencyRecord {
            scope: "ada".into(),
            key: key.into(),
            request_hash: Vec::new(),
        });
        let request = AppendRequest { streams, metadata: EventMetadata::default(), idempotency };
        let (reply, answer) = oneshot::channel();
        (PendingAppend { request, reply }, answer)
    }

    fn streams_of(batch: &[PendingAppend]) -> Vec<Vec<String>> {
        batch.iter().map(|p| p.request.streams.iter().map(|s| s.stream.to_string()).collect()).collect()
    }

    #[test]
    fn a_batch_takes_nothing_that_shares_a_stream_or_key_with_a_batch_in_flight() {
        let mut busy = Busy::default();
        let (first, _a) = pending(&["wallet-ada", "wallet-bob"], Some("k1"));
        let in_flight = busy.claim(&[first]);

        let answers: Vec<_>;
        let queue: VecDeque<PendingAppend> = {
            let items = [
                pending(&["wallet-bob", "wallet-cy"], None), // shares bob with the batch in flight
                pending(&["wallet-dee"], Some("k1")),        // shares its key
                pending(&["wallet-eve"], None),
                pending(&["wallet-eve", "wallet-fay"], None), // shares eve with this batch
                pending(&["wallet-gus"], Some("k2")),
            ];
            let (queue, kept): (Vec<_>, Vec<_>) = items.into_iter().unzip();
            answers = kept;
            queue.into_iter().collect()
        };
        let (batch, deferred) = take_batch(queue, 512, &busy);
        assert_eq!(streams_of(&batch), [vec!["wallet-eve"], vec!["wallet-gus"]]);
        assert_eq!(deferred.len(), 3, "deferred, in arrival order, for a later batch");
        assert_eq!(
            streams_of(&Vec::from(deferred)),
            [vec!["wallet-bob", "wallet-cy"], vec!["wallet-dee"], vec!["wallet-eve", "wallet-fay"]]
        );

        // Once the batch in flight commits, what it held is free again.
        busy.release(in_flight);
        let (again, _b) = pending(&["wallet-bob"], Some("k1"));
        let (batch, deferred) = take_batch(VecDeque::from([again]), 512, &busy);
        assert_eq!((batch.len(), deferred.len()), (1, 0));
        drop(answers);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_requests_and_drops_callers_that_left() {
        let (gone, answer) = pending(&["wallet-ada"], None);
        drop(answer);
        let (waiting, answers): (Vec<_>, Vec<_>) =
            (0..5).map(|n| pending(&[&format!("wallet-u{n}")], None)).unzip();
        let queue: VecDeque<PendingAppend> = [gone].into_iter().chain(waiting).collect();
        let (batch, deferred) = take_batch(queue, 3, &Busy::default());
        assert_eq!(streams_of(&batch), [vec!["wallet-u0"], vec!["wallet-u1"], vec!["wallet-u2"]]);
        assert_eq!(deferred.len(), 2, "the caller that left is dropped, the rest wait");
        drop(answers);
    }
}
