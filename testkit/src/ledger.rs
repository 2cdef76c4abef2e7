//! The LoopPay ledger read back from the event store: every wallet's stream decoded, its hash
//! chain verified, its balance replayed — the ground truth the read models and answers are
//! checked against.

use loopync_domain::looppay::{Wallet, WalletEvent, verify_chain};
use loopync_schemas::{RECORDED_EVENT_COLUMNS, RecordedEvent};
use sqlx::PgPool;
use std::collections::BTreeMap;

/// Every wallet stream's events, decoded, by account (`wallet-<account>`), in stream order.
pub async fn wallet_streams(pool: &PgPool) -> BTreeMap<String, Vec<(RecordedEvent, WalletEvent)>> {
    let rows: Vec<RecordedEvent> = sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'wallet-%' \
         ORDER BY stream_name, stream_version"
    ))
    .fetch_all(pool)
    .await
    .expect("wallet events");
    let mut streams: BTreeMap<String, Vec<(RecordedEvent, WalletEvent)>> = BTreeMap::new();
    for recorded in rows {
        let event: WalletEvent = recorded
            .decode()
            .unwrap_or_else(|error| panic!("{} is not a wallet event: {error}", recorded.event_id));
        let account = recorded.stream_name.trim_start_matches("wallet-").to_owned();
        streams.entry(account).or_default().push((recorded, event));
    }
    streams
}

/// Every wallet replayed from the event store: its chain verified (sequence, links, hashes,
/// balances following from deltas, nothing negative) and its stream versions gapless.
pub async fn replay_wallets(pool: &PgPool) -> BTreeMap<String, Wallet> {
    let mut wallets = BTreeMap::new();
    for (account, events) in wallet_streams(pool).await {
        for (index, (recorded, _)) in events.iter().enumerate() {
            assert_eq!(recorded.stream_version, index as i64 + 1, "wallet-{account} has a gap");
        }
        let wallet = verify_chain(events.iter().map(|(_, event)| event))
            .unwrap_or_else(|(index, why)| panic!("wallet-{account} broken at event {index}: {why}"));
        wallets.insert(account, wallet);
    }
    wallets
}

/// One wallet replayed from the event store (a wallet with nothing in it when it has no
/// events: no events is an empty wallet, not an error).
pub async fn replay_wallet(pool: &PgPool, account: &str) -> Wallet {
    replay_wallets(pool).await.remove(account).unwrap_or_default()
}
