//! Reading and tampering with the store directly in SQL, the way an attacker with write access
//! would; the read models as plain tables filled from the events the way the projection would;
//! and the projection's checkpoint set by hand.

use crate::ok;
use crate::world::World;
use chrono::Utc;
use loopync_domain::Aggregate;
use loopync_domain::looppay::{LedgerAccount, Payment, PaymentEvent, WalletEntry, WalletEvent};
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use sqlx::PgPool;
use uuid::Uuid;

/// One stored wallet event.
#[derive(Debug, Clone)]
pub struct Stored {
    pub version: i64,
    pub position: i64,
    pub event_type: String,
    pub entry: WalletEntry,
}

fn recorded(
    stream: &str,
    version: i64,
    position: (i64, i64),
    event_type: String,
    payload: serde_json::Value,
) -> RecordedEvent {
    RecordedEvent {
        position: Position::new(position.0, position.1),
        stream_name: stream.to_owned(),
        stream_version: version,
        event_id: Uuid::nil(),
        event_type,
        schema_version: 1,
        payload,
        metadata: EventMetadata::default(),
        recorded_at: Utc::now(),
    }
}

pub async fn wallet_events(pool: &PgPool, account: LedgerAccount) -> Vec<Stored> {
    let stream = format!("wallet-{account}");
    let rows: Vec<(i64, i64, i64, String, serde_json::Value)> = ok(sqlx::query_as(
        "SELECT stream_version, global_position, transaction_id::text::bigint, event_type, payload FROM events \
         WHERE stream_name = $1 ORDER BY stream_version",
    )
    .bind(&stream)
    .fetch_all(pool)
    .await);
    rows.into_iter()
        .map(|(version, position, transaction, event_type, payload)| {
            let event: WalletEvent =
                ok(recorded(&stream, version, (transaction, position), event_type.clone(), payload).decode());
            Stored { version, position, event_type, entry: event.entry().clone() }
        })
        .collect()
}

/// Writes a wallet event's payload back, as is (the hash is whatever `entry` says).
async fn overwrite(pool: &PgPool, account: LedgerAccount, stored: &Stored) {
    crate::disarm_append_only(pool).await;
    let payload = ok(serde_json::to_value(&stored.entry));
    let updated =
        ok(sqlx::query("UPDATE events SET payload = $1 WHERE stream_name = $2 AND stream_version = $3")
            .bind(payload)
            .bind(format!("wallet-{account}"))
            .bind(stored.version)
            .execute(pool)
            .await);
    assert_eq!(updated.rows_affected(), 1);
}

/// Forges the wallet's event at `version` with `edit`, then re-seals it and every later event
/// of the wallet with the domain's own hash (`WalletEntry::expected_hash`) so that the chain
/// of hashes is intact. With `carry_balances`, the change of the edited event's balances is
/// carried into every later event's balances too: a forgery only the money checks can see.
pub async fn forge(
    pool: &PgPool,
    account: LedgerAccount,
    version: i64,
    carry_balances: bool,
    edit: impl Fn(&mut WalletEntry),
) -> Stored {
    let events = wallet_events(pool, account).await;
    let mut prev_hash = None::<String>;
    let mut shift = (0i64, 0i64);
    let mut forged = None;
    for mut stored in events.into_iter().filter(|s| s.version >= version) {
        if stored.version == version {
            let before = (stored.entry.available_after, stored.entry.held_after);
            edit(&mut stored.entry);
            shift = (stored.entry.available_after - before.0, stored.entry.held_after - before.1);
        } else {
            if carry_balances {
                stored.entry.available_after += shift.0;
                stored.entry.held_after += shift.1;
            }
            if let Some(prev) = prev_hash.take() {
                stored.entry.prev_hash = prev;
            }
        }
        stored.entry.hash = stored.entry.expected_hash(&stored.event_type);
        prev_hash = Some(stored.entry.hash.clone());
        overwrite(pool, account, &stored).await;
        if stored.version == version {
            forged = Some(stored);
        }
    }
    forged.unwrap_or_else(|| panic!("no event {version} in wallet-{account}"))
}

/// `read_models.wallet_balances` as a plain table, filled from the events (up to `until`, a
/// global position, when given) the way the projection would.
pub async fn build_balances(pool: &PgPool, until: Option<i64>) {
    ok(sqlx::query(
        "CREATE TABLE IF NOT EXISTS read_models.wallet_balances (account text PRIMARY KEY, available bigint NOT NULL, \
         held bigint NOT NULL, sequence bigint NOT NULL, last_hash text NOT NULL, last_position bigint NOT NULL, \
         updated_at timestamptz NOT NULL)",
    )
    .execute(pool)
    .await);
    ok(sqlx::query("DELETE FROM read_models.wallet_balances").execute(pool).await);
    ok(sqlx::query(
        "INSERT INTO read_models.wallet_balances \
         SELECT DISTINCT ON (stream_name) substr(stream_name, 8), (payload->>'availableAfter')::bigint, \
                (payload->>'heldAfter')::bigint, stream_version, payload->>'hash', global_position, recorded_at \
         FROM events WHERE stream_name LIKE 'wallet-%' AND global_position <= $1 \
         ORDER BY stream_name, stream_version DESC",
    )
    .bind(until.unwrap_or(i64::MAX))
    .execute(pool)
    .await);
}

/// `read_models.ledger_payments` as a plain table, folded with the domain's `Payment`.
pub async fn build_payments(pool: &PgPool) {
    ok(sqlx::query(
        "CREATE TABLE read_models.ledger_payments (payment_id uuid PRIMARY KEY, payer text NOT NULL, \
         payee text NOT NULL, status text NOT NULL, amount bigint NOT NULL, refunded bigint NOT NULL)",
    )
    .execute(pool)
    .await);
    let rows: Vec<(String, i64, String, serde_json::Value)> = ok(sqlx::query_as(
        "SELECT stream_name, stream_version, event_type, payload FROM events WHERE stream_name LIKE 'payment-%' \
         ORDER BY stream_name, stream_version",
    )
    .fetch_all(pool)
    .await);
    let mut payments: std::collections::BTreeMap<String, Payment> = Default::default();
    for (stream, version, event_type, payload) in rows {
        let event: PaymentEvent = ok(recorded(&stream, version, (0, 0), event_type, payload).decode());
        payments.entry(stream).or_default().apply(&event);
    }
    for (stream, payment) in payments {
        let id = ok(Uuid::parse_str(stream.trim_start_matches("payment-")));
        ok(sqlx::query("INSERT INTO read_models.ledger_payments VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(payment.payer)
            .bind(payment.payee)
            .bind(payment.status.as_str())
            .bind(payment.amount)
            .bind(payment.refunded)
            .execute(pool)
            .await);
    }
}

pub fn event_of(event_type: &str, entry: WalletEntry) -> WalletEvent {
    let tagged = serde_json::json!({ "type": event_type, "data": entry });
    ok(serde_json::from_value(tagged))
}

/// Where the global log ends: the last event's `(transaction, position)`.
pub async fn end_of_log(pool: &PgPool) -> Position {
    let (transaction, position): (i64, i64) = ok(sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await);
    Position::new(transaction, position)
}

/// The last event before the transfer to Dave (the ledger's last movement): a projection
/// checkpointed there has applied everything but that transfer's two legs.
pub async fn before_the_transfer_to_dave(pool: &PgPool, w: &World) -> Position {
    let (transaction, position): (i64, i64) = ok(sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         WHERE transaction_id < (SELECT transaction_id FROM events WHERE stream_name = $1) \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .bind(format!("wallet-{}", w.dave))
    .fetch_one(pool)
    .await);
    Position::new(transaction, position)
}

/// Sets the active generation's checkpoint of `looppay_ledger` to the event at `at`, the way
/// the projection runtime records it (`projections` and `projection_checkpoints`).
pub async fn checkpoint(pool: &PgPool, at: Position) {
    ok(sqlx::query("INSERT INTO projections (name, active_generation) VALUES ('looppay_ledger', 1) ON CONFLICT DO NOTHING")
        .execute(pool)
        .await);
    let set = ok(sqlx::query(
        "INSERT INTO projection_checkpoints (projection, generation, transaction_id, global_position) \
         SELECT 'looppay_ledger', 1, transaction_id, global_position FROM events WHERE global_position = $1 \
         ON CONFLICT (projection, generation) DO UPDATE \
         SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, updated_at = now()",
    )
    .bind(at.global_position)
    .execute(pool)
    .await);
    assert_eq!(set.rows_affected(), 1, "no event at {at}");
}

/// The last stored event of a wallet: what its read-model row must say.
pub async fn head(pool: &PgPool, account: LedgerAccount) -> Stored {
    wallet_events(pool, account).await.pop().unwrap_or_else(|| panic!("wallet-{account} has events"))
}
