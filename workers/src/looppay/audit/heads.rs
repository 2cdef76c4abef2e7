//! Chain heads: each wallet's last hash, kept outside the database and checked against it later.
//!
//! A wallet's hash chain proves that nothing in it changed *relative to the rest of the chain*:
//! someone who can write `events` and knows the domain's hash could rewrite a wallet's history
//! and re-seal every event after the change. What they cannot do is keep the hash of an event
//! they re-sealed: every hash covers the previous one. So an operator exports the heads
//! (`loopync audit ledger --export-heads FILE`: stream, version, hash and position of each
//! wallet's last event, from the snapshot the audit just proved clean) and stores the file
//! somewhere the database's writers cannot reach. Later, `--verify-heads FILE` checks that the
//! event at each exported version still carries the exported hash: with the audit's own proof
//! that every chain is intact from its first event to its last, the current chain then extends
//! the exported head, so nothing up to that head was rewritten, however consistently. A head
//! whose event is gone (`head_missing`) or carries another hash (`head_changed`) is a mismatch
//! naming the wallet.
//!
//! The file is one JSON document ([`ChainHeads`], format `loopync-ledger-heads-v1`): a few
//! hundred bytes per wallet, read and written whole.

use super::auditor::{Auditor, at, on};
use super::report::MismatchKind;
use chrono::{DateTime, Utc};
use loopync_domain::looppay::WalletEvent;
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::path::Path;

/// The format name written into, and required of, every heads file.
pub const HEADS_FORMAT: &str = "loopync-ledger-heads-v1";

/// The heads of every wallet's chain at one snapshot of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainHeads {
    /// [`HEADS_FORMAT`].
    pub format: String,
    /// The time of the snapshot the heads were taken from.
    pub taken_at: DateTime<Utc>,
    /// The last event of the log in that snapshot (`<transaction>-<position>`, as the
    /// `Loopync-Position` header); `None` for an empty log.
    pub position: Option<Position>,
    /// One per wallet stream, in stream order.
    pub heads: Vec<ChainHead>,
}

/// One wallet's chain head: its last event when the heads were taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainHead {
    /// `wallet-<account>`.
    pub stream: String,
    /// The event's stream version (its `sequence`).
    pub version: i64,
    /// The event's `hash`.
    pub hash: String,
    /// The event's global position.
    pub position: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum HeadsFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{path} is not a chain heads file: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("{path} is a chain heads file of format {found:?}, not {HEADS_FORMAT}")]
    Format { path: String, found: String },
}

impl ChainHeads {
    /// Reads a heads file written by [`ChainHeads::write`].
    pub fn read(path: &Path) -> Result<Self, HeadsFileError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read(path).map_err(|source| HeadsFileError::Read { path: shown.clone(), source })?;
        let heads: Self = serde_json::from_slice(&text)
            .map_err(|source| HeadsFileError::Parse { path: shown.clone(), source })?;
        if heads.format != HEADS_FORMAT {
            return Err(HeadsFileError::Format { path: shown, found: heads.format });
        }
        Ok(heads)
    }

    /// Writes the heads to `path`, whole or not at all: into a temporary file beside it, then
    /// renamed over it, so that a crash never leaves a truncated file to verify against.
    pub fn write(&self, path: &Path) -> Result<(), HeadsFileError> {
        let shown = path.display().to_string();
        let failed = |source| HeadsFileError::Write { path: shown.clone(), source };
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other).map_err(failed)?;
        text.push(b'\n');
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, &text).map_err(failed)?;
        std::fs::rename(&temporary, path).map_err(failed)
    }
}

/// The last event of the log in the transaction's snapshot, in reading order.
pub(super) async fn log_end(conn: &mut PgConnection) -> Result<Option<Position>, sqlx::Error> {
    let end = sqlx::query!(
        r#"SELECT transaction_id::text::bigint AS "transaction_id!", global_position FROM events
            ORDER BY transaction_id DESC, global_position DESC LIMIT 1"#
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(end.map(|row| Position::new(row.transaction_id, row.global_position)))
}

/// Heads looked up per query: bounded statements for ledgers of millions of wallets.
const CHUNK: usize = 10_000;

/// Checks every exported head against the snapshot: the event at the head's version must
/// still be there with the head's hash. Returns the number of heads checked.
pub(super) async fn verify(
    conn: &mut PgConnection,
    auditor: &mut Auditor,
    expected: &ChainHeads,
) -> Result<u64, sqlx::Error> {
    for chunk in expected.heads.chunks(CHUNK) {
        let streams: Vec<String> = chunk.iter().map(|head| head.stream.clone()).collect();
        let versions: Vec<i64> = chunk.iter().map(|head| head.version).collect();
        // One row per head, in the heads' order: the event at its version if there is one, and
        // where the stream ends now (for the report).
        let rows = sqlx::query!(
            r#"SELECT h.i AS "i!", e.global_position AS "global_position?",
                      e.transaction_id::text::bigint AS "transaction_id?", e.event_id AS "event_id?",
                      e.event_type AS "event_type?", e.schema_version AS "schema_version?",
                      e.payload AS "payload?", e.recorded_at AS "recorded_at?",
                      (SELECT max(l.stream_version) FROM events l WHERE l.stream_name = h.stream) AS last_version
                 FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS h(stream, version, i)
                 LEFT JOIN events e ON e.stream_name = h.stream AND e.stream_version = h.version
                ORDER BY h.i"#,
            &streams,
            &versions,
        )
        .fetch_all(&mut *conn)
        .await?;
        for (head, row) in chunk.iter().zip(rows) {
            let found = match (
                row.global_position,
                row.transaction_id,
                row.event_id,
                row.event_type,
                row.schema_version,
                row.payload,
                row.recorded_at,
            ) {
                (
                    Some(global_position),
                    Some(transaction_id),
                    Some(event_id),
                    Some(event_type),
                    Some(schema_version),
                    Some(payload),
                    Some(recorded_at),
                ) => RecordedEvent {
                    position: Position::new(transaction_id, global_position),
                    stream_name: head.stream.clone(),
                    stream_version: head.version,
                    event_id,
                    event_type,
                    schema_version,
                    payload,
                    metadata: EventMetadata::default(),
                    recorded_at,
                },
                _ => {
                    let now = match row.last_version {
                        Some(last) => format!("the chain now ends at version {last}"),
                        None => "the wallet has no events now".to_owned(),
                    };
                    auditor.report(
                        MismatchKind::HeadMissing,
                        on(&head.stream),
                        format!(
                            "the exported head at version {} (position {}, hash {}) is gone: {now}",
                            head.version, head.position, head.hash
                        ),
                    );
                    continue;
                }
            };
            let here = at(&head.stream, head.version, found.position.global_position);
            let hash = match found.decode::<WalletEvent>() {
                Ok(event) => event.entry().hash.clone(),
                Err(error) => format!("(undecodable: {error})"),
            };
            if hash != head.hash {
                auditor.report(
                    MismatchKind::HeadChanged,
                    here,
                    format!(
                        "the exported head's hash was {}, the event at its version now has {hash}",
                        head.hash
                    ),
                );
            }
        }
    }
    Ok(expected.heads.len() as u64)
}

/// A wallet's head as the audit saw it, when its chain held to the end.
pub(super) fn head(stream: &str, version: i64, hash: &str, position: i64) -> ChainHead {
    ChainHead { stream: stream.to_owned(), version, hash: hash.to_owned(), position }
}
