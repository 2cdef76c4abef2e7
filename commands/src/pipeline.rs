//! The command pipeline: the one path every command of every feature takes.
//!
//! ```text
//! load aggregate(s): cache → snapshot → events after it
//!   → decide (pure, in `domain`)
//!   → append every stream's events atomically, each with the version it was loaded at,
//!     plus the idempotency record
//!   → on conflict: catch the state up (events after its version), decide again (bounded by
//!     attempts and by time: a command gives up only when both are spent)
//!   → a refusal or a no-op decided on a cached state is decided once more on a caught-up
//!     state before it stands (the cache may be behind other processes' appends)
//!   → outcome: the events, where they landed, and the position reached
//! ```
//!
//! Idempotency: a command with a key is recorded in its append. When the append finds the key
//! already recorded (a retry of a command that succeeded), the pipeline answers with the
//! original events if the fingerprint matches, or `IdempotencyKeyReused` if it does not. A
//! retry whose command would now be refused (say the wallet has since been emptied) is checked
//! against the record before the refusal is returned, so it still gets its original result.

use crate::cache::AggregateCache;
use crate::error::{CommandError, StoreError};
use crate::idempotency;
use crate::store::{
    AppendError, AppendOutcome, AppendRequest, AppendedEvent, EventStore, ExpectedVersion, IdempotencyRecord,
    NewEvent, Snapshot, StreamAppend,
};
use crate::turns::StreamTurns;
use loopync_domain::decision::Holder;
use loopync_domain::{Aggregate, Decision, StateSet, StreamName};
use loopync_schemas::{DecodeError, EventMetadata, Position, RecordedEvent};
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Tuning of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Attempts after the first one when appends conflict, at the least.
    pub max_retries: u32,
    /// How long a command keeps deciding again after its first attempt, at the least: it
    /// answers `Conflict` only once it has used up both this and `max_retries`.
    ///
    /// Two nodes serving one hot stream (a merchant's wallet) are not equals when they race:
    /// the winner's next command decides on the state it has just appended, while the loser
    /// must read the winner's events first, and so can lose many times in a row while the
    /// winner has a queue. Its turn comes when that queue drains, which takes time rather
    /// than a number of attempts: a budget counted in attempts alone let a conflict reach a
    /// client in a burst of 640 payments on two nodes.
    pub retry_budget: Duration,
    /// Take a snapshot every this many events of a stream (0: never).
    pub snapshot_every: i64,
    /// Aggregate states kept in memory (0: no cache).
    pub cache_capacity: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_retries: 64,
            retry_budget: Duration::from_secs(10),
            snapshot_every: 100,
            cache_capacity: 10_000,
        }
    }
}

/// Who sends a command and in what context.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// The user or service acting; also the scope of its idempotency keys.
    pub actor: Option<String>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The request id, shared by everything this command causes.
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
}

impl CommandContext {
    pub fn actor(actor: impl Into<String>) -> Self {
        Self { actor: Some(actor.into()), ..Self::default() }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    fn scope(&self) -> &str {
        self.actor.as_deref().unwrap_or("anonymous")
    }
}

/// What a successful command produced.
#[derive(Debug, Clone)]
pub struct CommandOutcome<Events> {
    /// The decided events, typed (per stream for multi-stream commands).
    pub events: Events,
    /// Where each event landed, in global-log order.
    pub appended: Vec<AppendedEvent>,
    /// The position of the last appended event, or `None` when the command decided nothing.
    /// Reads that wait for this position reflect the command.
    pub position: Option<Position>,
    /// True when this is the stored result of an earlier command with the same idempotency key.
    pub replayed: bool,
    /// Appends of this command that lost a race (another process appended to one of its
    /// streams first) before it was decided again and succeeded. Race tests assert on it: a
    /// race that never conflicts did not race.
    pub conflicts: u32,
}

/// An aggregate loaded for a command: its stream, the version it was read at, its state.
pub struct Loaded<A> {
    pub stream: StreamName,
    pub version: i64,
    pub state: Arc<A>,
    snapshot_at: i64,
}

/// How the pipeline holds the states a [`Decision`] reads: each as [`Loaded`], with the
/// version it was read at.
#[derive(Debug)]
pub struct InStore;

impl Holder for InStore {
    type Of<A: Aggregate> = Loaded<A>;

    fn state<A: Aggregate>(held: &Loaded<A>) -> &A {
        &held.state
    }
}

/// The ids, events and loaded states of the decision `D`.
pub type DecisionIds<D> = <<D as Decision>::State as StateSet>::Ids;
pub type DecisionEvents<D> = <<D as Decision>::State as StateSet>::Events;
pub type DecisionLoaded<D> = <<D as Decision>::State as StateSet>::Held<InStore>;

/// The aggregates one command loads: one [`Loaded`] aggregate or a tuple of them. Their
/// events are appended atomically.
pub trait Streams: Sized + Send + Sync + 'static {
    /// Ids of the aggregates to load.
    type Ids: Clone + Send + Sync + fmt::Debug;
    /// The decided events, one `Vec` per aggregate.
    type Events: Send + Sync;

    /// Loads the aggregates; `refresh` after a conflict, when cached states are known stale.
    fn load(
        pipeline: &CommandPipeline,
        ids: &Self::Ids,
        refresh: bool,
    ) -> impl Future<Output = Result<Self, StoreError>> + Send;
    fn appends(&self, events: &Self::Events) -> Result<Vec<StreamAppend>, serde_json::Error>;
    fn is_empty(events: &Self::Events) -> bool;
    fn remember(self, pipeline: &CommandPipeline, events: &Self::Events, outcome: &AppendOutcome);
    fn forget(pipeline: &CommandPipeline, ids: &Self::Ids);
    /// The streams the command appends to.
    fn streams(ids: &Self::Ids) -> Vec<StreamName>;
    fn decode(ids: &Self::Ids, events: &[RecordedEvent]) -> Result<Self::Events, DecodeError>;
}

impl<A: Aggregate> Streams for Loaded<A> {
    type Ids = String;
    type Events = Vec<A::Event>;

    async fn load(pipeline: &CommandPipeline, id: &String, refresh: bool) -> Result<Self, StoreError> {
        pipeline.load_from::<A>(StreamName::of::<A>(id), refresh).await
    }
    fn appends(&self, events: &Self::Events) -> Result<Vec<StreamAppend>, serde_json::Error> {
        Ok(vec![stream_append(self, events)?])
    }
    fn is_empty(events: &Self::Events) -> bool {
        events.is_empty()
    }
    fn remember(self, pipeline: &CommandPipeline, events: &Self::Events, outcome: &AppendOutcome) {
        pipeline.remember(self, events, outcome);
    }
    fn forget(pipeline: &CommandPipeline, id: &String) {
        pipeline.cache.evict(&StreamName::of::<A>(id));
    }
    fn streams(id: &String) -> Vec<StreamName> {
        vec![StreamName::of::<A>(id)]
    }
    fn decode(id: &String, events: &[RecordedEvent]) -> Result<Self::Events, DecodeError> {
        decode_stream::<A>(&StreamName::of::<A>(id), events)
    }
}

macro_rules! impl_streams_for_tuple {
    ($($a:ident $i:tt),+) => {
        impl<$($a: Aggregate),+> Streams for ($(Loaded<$a>,)+) {
            type Ids = ($(replace_with_string!($a),)+);
            type Events = ($(Vec<$a::Event>,)+);

            async fn load(pipeline: &CommandPipeline, ids: &Self::Ids, refresh: bool) -> Result<Self, StoreError> {
                Ok(($(pipeline.load_from::<$a>(StreamName::of::<$a>(&ids.$i), refresh).await?,)+))
            }
            fn appends(&self, events: &Self::Events) -> Result<Vec<StreamAppend>, serde_json::Error> {
                Ok(vec![$(stream_append(&self.$i, &events.$i)?),+])
            }
            fn is_empty(events: &Self::Events) -> bool {
                true $(&& events.$i.is_empty())+
            }
            fn remember(self, pipeline: &CommandPipeline, events: &Self::Events, outcome: &AppendOutcome) {
                $(pipeline.remember(self.$i, &events.$i, outcome);)+
            }
            fn forget(pipeline: &CommandPipeline, ids: &Self::Ids) {
                $(pipeline.cache.evict(&StreamName::of::<$a>(&ids.$i));)+
            }
            fn streams(ids: &Self::Ids) -> Vec<StreamName> {
                vec![$(StreamName::of::<$a>(&ids.$i)),+]
            }
            fn decode(ids: &Self::Ids, events: &[RecordedEvent]) -> Result<Self::Events, DecodeError> {
                Ok(($(decode_stream::<$a>(&StreamName::of::<$a>(&ids.$i), events)?,)+))
            }
        }
    };
}
macro_rules! replace_with_string {
    ($a:ident) => {
        String
    };
}
impl_streams_for_tuple!(A 0, B 1);
impl_streams_for_tuple!(A 0, B 1, C 2);

/// A stream named more than once by one command, if any (commands name two or three).
fn named_twice(streams: &[StreamName]) -> Option<&StreamName> {
    streams.iter().enumerate().find_map(|(i, stream)| streams[..i].contains(stream).then_some(stream))
}

fn stream_append<A: Aggregate>(
    loaded: &Loaded<A>,
    events: &[A::Event],
) -> Result<StreamAppend, serde_json::Error> {
    Ok(StreamAppend {
        stream: loaded.stream.clone(),
        expected: ExpectedVersion::from_loaded(loaded.version),
        events: events.iter().map(NewEvent::encode).collect::<Result<_, _>>()?,
    })
}

fn decode_stream<A: Aggregate>(
    stream: &StreamName,
    events: &[RecordedEvent],
) -> Result<Vec<A::Event>, DecodeError> {
    events
        .iter()
        .filter(|e| e.stream_name == stream.as_str())
        .map(RecordedEvent::decode::<A::Event>)
        .collect()
}

/// The command pipeline. Cheap to share behind an `Arc`.
pub struct CommandPipeline {
    store: Arc<dyn EventStore>,
    cache: AggregateCache,
    turns: StreamTurns,
    config: PipelineConfig,
    /// Appends that lost a race, in all (`loopync_append_conflicts_total` counts them by kind).
    conflicts: AtomicU64,
}

impl CommandPipeline {
    pub fn new(store: Arc<dyn EventStore>, config: PipelineConfig) -> Self {
        Self {
            store,
            cache: AggregateCache::new(config.cache_capacity),
            turns: StreamTurns::new(),
            config,
            conflicts: AtomicU64::new(0),
        }
    }

    /// Appends of this pipeline that lost a race to another process and were decided again,
    /// including those of commands then refused on the new state.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Runs `command` against the aggregate `A` with the given id.
    pub async fn execute<A: Aggregate>(
        &self,
        id: impl fmt::Display,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<CommandOutcome<Vec<A::Event>>, CommandError<A::Error>> {
        self.run::<Loaded<A>, _, _>(id.to_string(), A::CATEGORY, &command, context, |loaded| {
            loaded.state.decide(&command)
        })
        .await
    }

    /// Runs a [`Decision`]: loads the streams it names, decides on their states, and appends
    /// every stream's events atomically (deciding again on conflict). The decision's
    /// serialized form is its idempotency fingerprint and `D::KIND` its name.
    pub async fn decide<D>(
        &self,
        decision: &D,
        context: &CommandContext,
    ) -> Result<CommandOutcome<DecisionEvents<D>>, CommandError<D::Error>>
    where
        D: Decision,
        DecisionLoaded<D>: Streams<Ids = DecisionIds<D>, Events = DecisionEvents<D>>,
    {
        self.run::<DecisionLoaded<D>, _, _>(decision.stream_ids(), D::KIND, decision, context, |loaded| {
            decision.decide(<D::State as StateSet>::refs::<InStore>(loaded))
        })
        .await
    }

    /// The general path: loads the aggregates `S` (one, or a tuple for an atomic multi-stream
    /// command), runs the pure `decide` on them, and appends. `kind` and `fingerprint` identify
    /// the command for idempotency: the same key with another kind or payload is refused.
    pub async fn run<S, E, F>(
        &self,
        ids: S::Ids,
        kind: &'static str,
        fingerprint: &impl Serialize,
        context: &CommandContext,
        decide: F,
    ) -> Result<CommandOutcome<S::Events>, CommandError<E>>
    where
        S: Streams,
        F: Fn(&S) -> Result<S::Events, E> + Send + Sync,
    {
        let started = Instant::now();
        let result = self.run_inner::<S, E, F>(ids, kind, fingerprint, context, decide).await;
        let outcome = match &result {
            Ok(o) if o.replayed => "replayed",
            Ok(_) => "ok",
            Err(CommandError::Domain(_)) => "rejected",
            Err(CommandError::Conflict { .. }) => "conflict",
            Err(CommandError::IdempotencyKeyReused { .. } | CommandError::InvalidIdempotencyKey(_)) => {
                "invalid"
            }
            Err(CommandError::Store(_)) => "error",
        };
        metrics::histogram!("loopync_command_duration_seconds", "kind" => kind, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn run_inner<S, E, F>(
        &self,
        ids: S::Ids,
        kind: &'static str,
        fingerprint: &impl Serialize,
        context: &CommandContext,
        decide: F,
    ) -> Result<CommandOutcome<S::Events>, CommandError<E>>
    where
        S: Streams,
        F: Fn(&S) -> Result<S::Events, E> + Send + Sync,
    {
        let idempotency = match &context.idempotency_key {
            Some(key) => {
                idempotency::validate_key(key).map_err(CommandError::InvalidIdempotencyKey)?;
                let request_hash = idempotency::fingerprint(kind, fingerprint).map_err(StoreError::from)?;
                Some(IdempotencyRecord { scope: context.scope().to_owned(), key: key.clone(), request_hash })
            }
            None => None,
        };
        let command_id = context.idempotency_key.clone().unwrap_or_else(|| Uuid::now_v7().to_string());
        let metadata = EventMetadata {
            actor: context.actor.clone(),
            correlation_id: context.correlation_id.clone().unwrap_or_else(|| command_id.clone()),
            causation_id: context.causation_id.clone(),
            command_id,
        };

        // Commands on the same streams in this process take turns: they would only conflict
        // and decide again. Other processes are still kept out by the expected versions.
        // Streams not in the cache are read before waiting for the turn, so that the turn is
        // held for deciding and appending only, not for reads (a payment paying a busy
        // merchant reads its own new stream outside the merchant's turn). Whatever was read
        // is a correct prefix of its stream; under the turn it is caught up from the cache.
        let streams = S::streams(&ids);
        if !self.cache.contains_all(&streams) {
            S::load(self, &ids, false).await?;
        }
        let _turn = self.turns.take(&streams).await;
        let started = Instant::now();
        let mut attempt = 0;
        let mut conflicts = 0;
        let mut refresh = false;
        loop {
            attempt += 1;
            let loaded = S::load(self, &ids, refresh).await?;
            let decision = decide(&loaded);
            // A cached state may be behind appends made by other processes. An append would
            // catch that (its expected version conflicts), but a refusal or a decision to do
            // nothing appends nothing: before either stands, catch the state up and decide again.
            let appends_nothing = decision.as_ref().map_or(true, S::is_empty);
            if appends_nothing && !refresh {
                refresh = true;
                attempt -= 1;
                continue;
            }
            let events = match decision {
                Ok(events) => events,
                Err(refusal) => {
                    // A retry of a command that succeeded earlier gets its original result,
                    // even if the same command would be refused now.
                    if let Some(record) = &idempotency
                        && let Some(replay) = self.replay::<S, E>(&ids, record).await?
                    {
                        return Ok(replay);
                    }
                    return Err(CommandError::Domain(refusal));
                }
            };
            if S::is_empty(&events) {
                return Ok(CommandOutcome {
                    events,
                    appended: Vec::new(),
                    position: None,
                    replayed: false,
                    conflicts,
                });
            }
            if let Some(twice) = named_twice(&streams) {
                return Err(StoreError::StreamTwice(twice.to_string()).into());
            }
            let streams = loaded.appends(&events).map_err(StoreError::from)?;
            let request =
                AppendRequest { streams, metadata: metadata.clone(), idempotency: idempotency.clone() };
            match self.store.append(request).await {
                Ok(outcome) => {
                    let appended = outcome.events.clone();
                    let position = Some(outcome.position);
                    loaded.remember(self, &events, &outcome);
                    return Ok(CommandOutcome { events, appended, position, replayed: false, conflicts });
                }
                Err(AppendError::Conflict { .. }) => {
                    metrics::counter!("loopync_append_conflicts_total", "kind" => kind).increment(1);
                    conflicts += 1;
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    // The cached state is behind: catch it up from its version next time.
                    refresh = true;
                    if attempt > self.config.max_retries && started.elapsed() >= self.config.retry_budget {
                        return Err(CommandError::Conflict { attempts: attempt });
                    }
                    // Back off a little under contention so the winners can commit, but never
                    // for long: the contender is usually another node whose own commands take
                    // turns on the stream, and a loser that sleeps longer and longer would only
                    // keep losing to it. Each retry decides on state caught up just now.
                    if attempt > 2 {
                        let jitter = u64::from(Uuid::now_v7().as_bytes()[15] % 3);
                        let pause = jitter + u64::from(attempt / 8).min(3);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                }
                Err(AppendError::DuplicateCommand) => {
                    S::forget(self, &ids);
                    let Some(record) = &idempotency else {
                        return Err(CommandError::Conflict { attempts: attempt });
                    };
                    if let Some(replay) = self.replay::<S, E>(&ids, record).await? {
                        return Ok(replay);
                    }
                    // The record vanished (expired between the collision and the lookup): retry.
                }
                Err(AppendError::Store(error)) => return Err(error.into()),
            }
        }
    }

    /// The stored result of the command recorded under `record`'s key, if there is one.
    async fn replay<S: Streams, E>(
        &self,
        ids: &S::Ids,
        record: &IdempotencyRecord,
    ) -> Result<Option<CommandOutcome<S::Events>>, CommandError<E>> {
        let Some(stored) = self.store.find_command(&record.scope, &record.key).await? else {
            return Ok(None);
        };
        if stored.request_hash != record.request_hash {
            return Err(CommandError::IdempotencyKeyReused { key: record.key.clone() });
        }
        let events = S::decode(ids, &stored.events).map_err(StoreError::from)?;
        let appended: Vec<AppendedEvent> = stored
            .events
            .iter()
            .map(|e| AppendedEvent {
                event_id: e.event_id,
                stream: e.stream_name.clone(),
                stream_version: e.stream_version,
                position: e.position,
            })
            .collect();
        let position = appended.iter().map(|e| e.position).max();
        Ok(Some(CommandOutcome { events, appended, position, replayed: true, conflicts: 0 }))
    }

    /// Loads one aggregate: from the cache, else from its snapshot and the events after it.
    pub async fn load<A: Aggregate>(&self, stream: StreamName) -> Result<Loaded<A>, StoreError> {
        self.load_from::<A>(stream, false).await
    }

    /// Loads one aggregate caught up with the store: the cached state (if any) plus the events
    /// appended after it by any process. For decisions made outside `decide`, such as
    /// checking a password against the account's current hash.
    pub async fn load_latest<A: Aggregate>(&self, stream: StreamName) -> Result<Loaded<A>, StoreError> {
        self.load_from::<A>(stream, true).await
    }

    /// Loads one aggregate. A cached state is used as it is unless `refresh` (after a
    /// conflict: it is known to be behind), in which case only the events after it are read —
    /// events never change, so a cached state is always a correct prefix.
    async fn load_from<A: Aggregate>(
        &self,
        stream: StreamName,
        refresh: bool,
    ) -> Result<Loaded<A>, StoreError> {
        let cached = self.cache.get::<A>(&stream);
        if let Some((version, snapshot_at, state)) = &cached
            && !refresh
        {
            return Ok(Loaded { stream, version: *version, state: state.clone(), snapshot_at: *snapshot_at });
        }
        if let Some((cached_version, snapshot_at, state)) = cached {
            let events = self.store.read_stream(&stream, cached_version).await?;
            if events.is_empty() {
                return Ok(Loaded { stream, version: cached_version, state, snapshot_at });
            }
            let mut state = (*state).clone();
            let mut version = cached_version;
            for recorded in events {
                state.apply(&recorded.decode::<A::Event>()?);
                version = recorded.stream_version;
            }
            let state = Arc::new(state);
            self.cache.put::<A>(stream.clone(), version, snapshot_at, state.clone());
            return Ok(Loaded { stream, version, state, snapshot_at });
        }
        let mut state = A::default();
        let mut version = 0;
        let mut snapshot_at = 0;
        if self.config.snapshot_every > 0
            && let Some(snapshot) = self.store.load_snapshot(&stream).await?
            && snapshot.snapshot_version == A::SNAPSHOT_VERSION
        {
            // A snapshot that no longer deserializes is ignored: events are the truth.
            if let Ok(restored) = serde_json::from_value::<A>(snapshot.state) {
                state = restored;
                version = snapshot.stream_version;
                snapshot_at = version;
            }
        }
        for recorded in self.store.read_stream(&stream, version).await? {
            state.apply(&recorded.decode::<A::Event>()?);
            version = recorded.stream_version;
        }
        let state = Arc::new(state);
        self.cache.put::<A>(stream.clone(), version, snapshot_at, state.clone());
        Ok(Loaded { stream, version, state, snapshot_at })
    }

    /// Caches the state after a successful append, and snapshots it in the background when the
    /// stream has grown by `snapshot_every` events since the last snapshot.
    fn remember<A: Aggregate>(&self, loaded: Loaded<A>, events: &[A::Event], outcome: &AppendOutcome) {
        let Some(version) = outcome.stream_version(loaded.stream.as_str()) else { return };
        let state = Arc::new((*loaded.state).clone().fold(events));
        let mut snapshot_at = loaded.snapshot_at;
        // Snapshot when this append crossed a multiple of `snapshot_every`: deterministic, and
        // independent of whether the previous snapshot was already saved or cached.
        let every = self.config.snapshot_every;
        if every > 0 && version / every > loaded.version / every {
            snapshot_at = version;
            if let Ok(serialized) = serde_json::to_value(&*state) {
                let store = self.store.clone();
                let stream = loaded.stream.clone();
                let snapshot = Snapshot {
                    stream_version: version,
                    snapshot_version: A::SNAPSHOT_VERSION,
                    state: serialized,
                };
                tokio::spawn(async move {
                    if let Err(error) = store.save_snapshot(&stream, snapshot).await {
                        tracing::warn!(%error, %stream, "snapshot not saved");
                    }
                });
            }
        }
        self.cache.put::<A>(loaded.stream, version, snapshot_at, state);
    }
}
