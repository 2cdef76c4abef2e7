//! The event store contract: what the command pipeline needs from any store.
//!
//! PostgreSQL implements it in [`crate::postgres`]; another store (KurrentDB, say) can be added
//! behind the same trait as long as it offers atomic appends across streams.

use crate::error::StoreError;
use async_trait::async_trait;
use loopync_domain::StreamName;
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use uuid::Uuid;

/// What the writer expects a stream's version to be before its events are appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the current version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version (1-based).
    Exact(i64),
}

impl ExpectedVersion {
    /// From a loaded version: 0 means the stream was empty.
    pub fn from_loaded(version: i64) -> Self {
        if version == 0 { Self::NoStream } else { Self::Exact(version) }
    }

    /// Encoded for SQL: -1 any, otherwise the exact version (0 for no stream).
    pub(crate) fn as_sql(self) -> i64 {
        match self {
            Self::Any => -1,
            Self::NoStream => 0,
            Self::Exact(version) => version,
        }
    }
}

/// An event to append, already encoded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub schema_version: i32,
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// Encodes a domain event with a fresh UUIDv7.
    pub fn encode<E: loopync_domain::DomainEvent>(event: &E) -> Result<Self, serde_json::Error> {
        let (event_type, schema_version, payload) = loopync_schemas::recorded::encode(event)?;
        Ok(Self { event_id: Uuid::now_v7(), event_type, schema_version, payload })
    }
}

/// Events for one stream.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// The idempotency record written together with the events.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub scope: String,
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// One atomic append: every stream's events are written, or none is.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub streams: Vec<StreamAppend>,
    pub metadata: EventMetadata,
    pub idempotency: Option<IdempotencyRecord>,
}

/// One appended event's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    pub event_id: Uuid,
    pub stream: String,
    pub stream_version: i64,
    pub position: Position,
}

/// The result of a successful append.
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// In global-log order.
    pub events: Vec<AppendedEvent>,
    /// The position of the last event: reads that wait for it see the whole append.
    pub position: Position,
}

impl AppendOutcome {
    /// The version a stream reached with this append.
    pub fn stream_version(&self, stream: &str) -> Option<i64> {
        self.events.iter().filter(|e| e.stream == stream).map(|e| e.stream_version).max()
    }
}

/// Why an append wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A stream's version was not the expected one (or a concurrent append took it first).
    #[error("a stream changed concurrently: {streams:?}")]
    Conflict { streams: Vec<String> },
    /// The idempotency key already exists: the command was executed before.
    #[error("the idempotency key was already recorded")]
    DuplicateCommand,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A command recorded under an idempotency key, with the events it appended.
#[derive(Debug, Clone)]
pub struct StoredCommand {
    pub request_hash: Vec<u8>,
    pub events: Vec<RecordedEvent>,
}

/// A stored snapshot of an aggregate's state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub stream_version: i64,
    pub snapshot_version: i32,
    pub state: serde_json::Value,
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically to every stream of the request, checking each expected version, and
    /// records the idempotency key if given. Nothing is written unless everything is.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError>;

    /// The events of a stream with a version above `after_version`, in version order.
    async fn read_stream(
        &self,
        stream: &StreamName,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The command recorded under `(scope, key)`, if any.
    async fn find_command(&self, scope: &str, key: &str) -> Result<Option<StoredCommand>, StoreError>;

    async fn load_snapshot(&self, stream: &StreamName) -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot unless a newer one is already there.
    async fn save_snapshot(&self, stream: &StreamName, snapshot: Snapshot) -> Result<(), StoreError>;
}
