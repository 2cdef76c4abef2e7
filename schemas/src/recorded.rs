//! An event as the store holds it, and the position of events in the global log.

use crate::registry::{UpcastError, upcast};
use chrono::{DateTime, Utc};
use loopync_domain::DomainEvent;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

/// A place in the global log: the inserting transaction, then the global position.
///
/// The log is read in this order, which is commit-safe (see `migrations/0001_event_store.sql`):
/// an event at a position below a reader's checkpoint has always been seen by that reader.
/// Clients see it as an opaque token `<transaction>-<position>` (the `Loopync-Position` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Position {
    pub transaction_id: i64,
    pub global_position: i64,
}

impl Position {
    /// Before the first event.
    pub const ORIGIN: Position = Position { transaction_id: 0, global_position: 0 };

    pub fn new(transaction_id: i64, global_position: i64) -> Self {
        Self { transaction_id, global_position }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.transaction_id, self.global_position)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a position (expected <transaction>-<position>)")]
pub struct PositionParseError(pub String);

impl FromStr for Position {
    type Err = PositionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || PositionParseError(s.chars().take(64).collect());
        let (transaction, position) = s.split_once('-').ok_or_else(invalid)?;
        let transaction_id = transaction.parse::<i64>().map_err(|_| invalid())?;
        let global_position = position.parse::<i64>().map_err(|_| invalid())?;
        if transaction_id < 0 || global_position < 0 {
            return Err(invalid());
        }
        Ok(Self { transaction_id, global_position })
    }
}

impl From<Position> for String {
    fn from(value: Position) -> Self {
        value.to_string()
    }
}

impl TryFrom<String> for Position {
    type Error = PositionParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// Who did what, and why: stored with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    /// The user or service whose command produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The command that produced the event (its idempotency key when the client sent one).
    pub command_id: String,
    /// The request or flow this event belongs to; events caused by it share it.
    pub correlation_id: String,
    /// The command or event that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

/// An event as stored, with its place in its stream and in the global log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub position: Position,
    pub stream_name: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Upcast(#[from] UpcastError),
    #[error("event {event_type} v{schema_version} does not decode: {source}")]
    Payload {
        event_type: String,
        schema_version: i32,
        #[source]
        source: serde_json::Error,
    },
}

impl RecordedEvent {
    /// Decodes the payload as `E`, upcasting it first when it was written by an older schema
    /// version. `E` must be serde's adjacently tagged form (`{"type": ..., "data": ...}`), as
    /// every event enum of `domain` is.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, DecodeError> {
        let (version, payload) = upcast(&self.event_type, self.schema_version, self.payload.clone())?;
        let tagged = serde_json::json!({ "type": self.event_type, "data": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Payload {
            event_type: self.event_type.clone(),
            schema_version: version,
            source,
        })
    }
}

/// Splits a domain event into what the store keeps: type, schema version and payload.
pub fn encode<E: DomainEvent>(
    event: &E,
) -> Result<(&'static str, i32, serde_json::Value), serde_json::Error> {
    let mut tagged = serde_json::to_value(event)?;
    let payload = tagged.get_mut("data").map(serde_json::Value::take).unwrap_or(serde_json::Value::Null);
    Ok((event.event_type(), event.schema_version(), payload))
}

/// A row of `events` as the checked queries (`sqlx::query_as!`) read it: those map columns to
/// fields by name and type, so the position comes as its two columns and the metadata as JSON.
/// Select it with
///
/// ```sql
/// SELECT global_position, transaction_id::text::bigint AS "transaction_id!", stream_name,
///        stream_version, event_id, event_type, schema_version, payload,
///        metadata AS "metadata: sqlx::types::Json<loopync_schemas::EventMetadata>", recorded_at
/// ```
///
/// (`transaction_id` is an `xid8`, which sqlx has no type for; the cast makes it a `bigint`.)
#[derive(Debug)]
pub struct EventRow {
    pub global_position: i64,
    pub transaction_id: i64,
    pub stream_name: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: sqlx::types::Json<EventMetadata>,
    pub recorded_at: DateTime<Utc>,
}

impl From<EventRow> for RecordedEvent {
    fn from(row: EventRow) -> Self {
        Self {
            position: Position::new(row.transaction_id, row.global_position),
            stream_name: row.stream_name,
            stream_version: row.stream_version,
            event_id: row.event_id,
            event_type: row.event_type,
            schema_version: row.schema_version,
            payload: row.payload,
            metadata: row.metadata.0,
            recorded_at: row.recorded_at,
        }
    }
}

/// The `SELECT` list that [`RecordedEvent`]'s `FromRow` reads, for the unchecked queries on
/// `events` that tests write by hand.
pub const RECORDED_EVENT_COLUMNS: &str = "global_position, transaction_id::text::bigint AS transaction_id, \
     stream_name, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at";

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for RecordedEvent {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        let sqlx::types::Json(metadata) = row.try_get::<sqlx::types::Json<EventMetadata>, _>("metadata")?;
        Ok(Self {
            position: Position::new(row.try_get("transaction_id")?, row.try_get("global_position")?),
            stream_name: row.try_get("stream_name")?,
            stream_version: row.try_get("stream_version")?,
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
            schema_version: row.try_get("schema_version")?,
            payload: row.try_get("payload")?,
            metadata,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// The channel on which appenders `NOTIFY` readers in other processes that the log grew.
pub const EVENTS_CHANNEL: &str = "loopync_events";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_transaction_then_global_position() {
        assert!(Position::new(5, 100) < Position::new(6, 1));
        assert!(Position::new(5, 1) < Position::new(5, 2));
        assert_eq!("7-9".parse::<Position>(), Ok(Position::new(7, 9)));
        assert_eq!(Position::new(7, 9).to_string(), "7-9");
        assert!("7".parse::<Position>().is_err());
        assert!("-1-3".parse::<Position>().is_err());
        assert!("a-b".parse::<Position>().is_err());
    }
}
