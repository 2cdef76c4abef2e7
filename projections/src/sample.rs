//! The reference projection of the core's sample wallet: balances and the movements that
//! produced them. It exercises the runtime the way real read models will (bulk upserts,
//! order-dependent history, live updates) and backs the core's crash and rebuild tests.
//!
//! The SQL on this projection's tables is unchecked (`sqlx::query`, not the `query!` macros):
//! the tables exist only in the per-generation schemas and `read_models` views the runtime
//! creates, never in the migrated schema the macros are checked against.

use crate::projection::{LiveUpdate, Projection, ProjectionError};
use async_trait::async_trait;
use loopync_domain::Aggregate;
use loopync_domain::sample::{SampleWallet, SampleWalletEvent};
use loopync_schemas::RecordedEvent;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// Balances and movements of sample wallets.
#[derive(Debug, Default, Clone, Copy)]
pub struct SampleWalletBalances;

impl SampleWalletBalances {
    pub const NAME: &'static str = "sample_wallet_balances";
}

/// The tables, created in each generation's schema (see the file's comments).
const SCHEMA: &str = include_str!("sample.sql");

#[async_trait]
impl Projection for SampleWalletBalances {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn schema_sql(&self) -> &'static str {
        SCHEMA
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sample_wallet_balances", "sample_wallet_movements"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        let prefix = format!("{}-", SampleWallet::CATEGORY);
        let mut movements = Movements::default();
        // Per wallet: final balance, events seen, last position (BTreeMap: deterministic order).
        let mut wallets: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
        for recorded in events {
            let Some(wallet_id) = recorded.stream_name.strip_prefix(&prefix) else { continue };
            let (amount, balance_after) = match recorded.decode::<SampleWalletEvent>()? {
                SampleWalletEvent::ToppedUp(e) => (e.amount.minor, e.balance_after),
                SampleWalletEvent::Withdrawn(e) => (-e.amount.minor, e.balance_after),
            };
            let position = recorded.position.global_position;
            movements.position.push(position);
            movements.wallet.push(wallet_id.to_owned());
            movements.amount.push(amount);
            movements.balance_after.push(balance_after);
            let entry = wallets.entry(wallet_id.to_owned()).or_insert((0, 0, 0));
            *entry = (balance_after, entry.1 + 1, position);
        }
        if wallets.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "INSERT INTO sample_wallet_movements (global_position, wallet_id, amount, balance_after) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])",
        )
        .bind(&movements.position)
        .bind(&movements.wallet)
        .bind(&movements.amount)
        .bind(&movements.balance_after)
        .execute(&mut *conn)
        .await?;

        let ids: Vec<&str> = wallets.keys().map(String::as_str).collect();
        let balances: Vec<i64> = wallets.values().map(|w| w.0).collect();
        let operations: Vec<i64> = wallets.values().map(|w| w.1).collect();
        let positions: Vec<i64> = wallets.values().map(|w| w.2).collect();
        sqlx::query(
            "INSERT INTO sample_wallet_balances (wallet_id, balance, operations, last_position) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (wallet_id) DO UPDATE SET balance = excluded.balance, \
                 operations = sample_wallet_balances.operations + excluded.operations, \
                 last_position = excluded.last_position",
        )
        .bind(&ids)
        .bind(&balances)
        .bind(&operations)
        .bind(&positions)
        .execute(&mut *conn)
        .await?;

        // Sample wallets belong to no user, so nobody's devices are told about them.
        Ok(Vec::new())
    }
}

#[derive(Default)]
struct Movements {
    position: Vec<i64>,
    wallet: Vec<String>,
    amount: Vec<i64>,
    balance_after: Vec<i64>,
}

/// A sample wallet as its read model shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleWalletView {
    pub wallet_id: String,
    pub balance: i64,
    pub operations: i64,
}

/// Reads one wallet from `read_models.sample_wallet_balances`.
pub async fn wallet(pool: &PgPool, wallet_id: &str) -> Result<Option<SampleWalletView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT wallet_id, balance, operations FROM read_models.sample_wallet_balances WHERE wallet_id = $1",
    )
    .bind(wallet_id)
    .fetch_optional(pool)
    .await
}
