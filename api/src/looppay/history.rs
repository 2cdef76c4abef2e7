//! A wallet's ledger history straight from the event store, for owners and auditors: the
//! events exactly as stored, with their positions and hash-chain links. Not a read model, so
//! it cannot disagree with what the audit replays.

use super::views::LedgerEventView;
use chrono::{DateTime, Utc};
use loopync_domain::StreamName;
use loopync_domain::looppay::{LedgerAccount, Wallet};
use sqlx::PgPool;
use uuid::Uuid;

type Row = (Uuid, i64, i64, i64, String, i32, DateTime<Utc>, serde_json::Value);

/// Up to `limit` events of `account`'s wallet after stream version `after`, oldest first.
pub async fn page(
    pool: &PgPool,
    account: LedgerAccount,
    after: i64,
    limit: i64,
) -> Result<Vec<LedgerEventView>, sqlx::Error> {
    let stream = StreamName::of::<Wallet>(account);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT event_id, stream_version, global_position, transaction_id::text::bigint, event_type, \
                schema_version, recorded_at, payload \
           FROM events WHERE stream_name = $1 AND stream_version > $2 \
          ORDER BY stream_version LIMIT $3",
    )
    .bind(stream.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                event_id,
                stream_version,
                global_position,
                transaction_id,
                event_type,
                schema_version,
                recorded_at,
                payload,
            )| {
                let field =
                    |name: &str| payload.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                LedgerEventView {
                    event_id,
                    stream_version,
                    global_position,
                    transaction_id,
                    event_type,
                    schema_version,
                    recorded_at: recorded_at.into(),
                    prev_hash: field("prevHash"),
                    hash: field("hash"),
                    payload,
                }
            },
        )
        .collect())
}
