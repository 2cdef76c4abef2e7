//! What the event store's data looks like, for code, auditors and analysts alike.
//!
//! - `migrations/`: the commented SQL schema of the event store, idempotency records, snapshots
//!   and projection checkpoints, applied by [`MIGRATOR`].
//! - [`registry`]: every event type, grouped by feature, with its current schema version, its JSON Schema and the
//!   upcasters that bring older versions up to date.
//! - [`recorded`]: an event as stored ([`RecordedEvent`]), its metadata and its position in the
//!   global log.
//! - [`timestamp`]: how instants are written wherever a client reads one (RFC 3339, UTC,
//!   milliseconds, `Z`).
//! - `events/`: the JSON Schemas, exported by `just schemas` and checked for staleness by a test.

pub mod recorded;
pub mod registry;
pub mod timestamp;

pub use recorded::{
    DecodeError, EVENTS_CHANNEL, EventMetadata, EventRow, Position, PositionParseError,
    RECORDED_EVENT_COLUMNS, RecordedEvent,
};
pub use registry::{EventTypeInfo, UpcastError};

/// The event store's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
