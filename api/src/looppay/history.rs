//! A wallet's ledger history straight from the event store, for owners and auditors: the
//! events exactly as stored, with their positions and hash-chain links. Not a read model, so
//! it cannot disagree with what the audit replays. Read through the log reader's
//! [`EventLog::stream_page`], which leaves the metadata out as the audit does: an event whose
//! metadata was damaged is still shown.

use super::views::LedgerEventView;
use loopync_domain::StreamName;
use loopync_domain::looppay::{LedgerAccount, Wallet};
use loopync_projections::EventLog;
use sqlx::PgPool;

/// Up to `limit` events of `account`'s wallet after stream version `after`, oldest first.
pub async fn page(
    pool: &PgPool,
    account: LedgerAccount,
    after: i64,
    limit: i64,
) -> Result<Vec<LedgerEventView>, sqlx::Error> {
    let stream = StreamName::of::<Wallet>(account);
    let events = EventLog::new(pool.clone()).stream_page(stream.as_str(), after, limit).await?;
    Ok(events
        .into_iter()
        .map(|event| {
            let field =
                |name: &str| event.payload.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            LedgerEventView {
                event_id: event.event_id,
                stream_version: event.stream_version,
                global_position: event.position.global_position,
                transaction_id: event.position.transaction_id,
                prev_hash: field("prevHash"),
                hash: field("hash"),
                event_type: event.event_type,
                schema_version: event.schema_version,
                recorded_at: event.recorded_at.into(),
                payload: event.payload,
            }
        })
        .collect())
}
