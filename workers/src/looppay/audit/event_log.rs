//! Reading the event log: the ledger's streams, one at a time, streamed from the server row by
//! row (sqlx `fetch`) in `(stream_name, stream_version)` order, so that the table is never
//! loaded into memory and each stream's events arrive together.
//!
//! Only the columns the audit needs are read: the metadata column is not, so corrupted metadata
//! cannot stop the audit. Payloads are decoded later, through the schema registry
//! ([`RecordedEvent::decode`], which upcasts), by the checks that need them.

use super::auditor::Auditor;
use super::payments::PaymentScan;
use super::wallets::WalletScan;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

/// A row of `events`, read column by column (the metadata is not needed).
#[derive(sqlx::FromRow)]
struct EventRow {
    stream_name: String,
    stream_version: i64,
    global_position: i64,
    transaction_id: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    payload: serde_json::Value,
    recorded_at: DateTime<Utc>,
}

impl EventRow {
    fn into_recorded(self) -> RecordedEvent {
        RecordedEvent {
            position: Position::new(self.transaction_id, self.global_position),
            stream_name: self.stream_name,
            stream_version: self.stream_version,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload: self.payload,
            metadata: EventMetadata::default(),
            recorded_at: self.recorded_at,
        }
    }
}

const EVENT_COLUMNS: &str = "stream_name, stream_version, global_position, \
     transaction_id::text::bigint AS transaction_id, event_id, event_type, schema_version, payload, recorded_at";

/// Streams every payment stream (`payment-…`) through the auditor.
pub(super) async fn read_payments(conn: &mut PgConnection, auditor: &mut Auditor) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'payment-%' ORDER BY stream_name, stream_version"
    );
    let mut rows = sqlx::query_as::<_, EventRow>(&sql).fetch(conn);
    let mut current: Option<PaymentScan> = None;
    while let Some(row) = rows.try_next().await? {
        let recorded = row.into_recorded();
        let scan = match current.take() {
            Some(scan) if scan.check.stream == recorded.stream_name => scan,
            other => {
                if let Some(done) = other {
                    auditor.finish_payment(done);
                }
                auditor.start_payment(&recorded.stream_name)
            }
        };
        let scan = current.insert(scan);
        auditor.payment_event(scan, &recorded);
    }
    if let Some(done) = current {
        auditor.finish_payment(done);
    }
    Ok(())
}

/// Streams every wallet stream (`wallet-…`) through the auditor.
pub(super) async fn read_wallets(conn: &mut PgConnection, auditor: &mut Auditor) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'wallet-%' ORDER BY stream_name, stream_version"
    );
    let mut rows = sqlx::query_as::<_, EventRow>(&sql).fetch(conn);
    let mut current: Option<WalletScan> = None;
    while let Some(row) = rows.try_next().await? {
        let recorded = row.into_recorded();
        let scan = match current.take() {
            Some(scan) if scan.stream == recorded.stream_name => scan,
            other => {
                if let Some(done) = other {
                    auditor.finish_wallet(done);
                }
                auditor.start_wallet(&recorded.stream_name)
            }
        };
        let scan = current.insert(scan);
        auditor.wallet_event(scan, &recorded);
    }
    if let Some(done) = current {
        auditor.finish_wallet(done);
    }
    Ok(())
}
