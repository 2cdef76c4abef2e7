//! The read models compared with the replay: `read_models.wallet_balances` (and
//! `read_models.ledger_payments` when it exists) must hold, for every wallet (payment), what
//! the log says, and nothing else.
//!
//! The projection's checkpoint is read in the same snapshot as its tables and the log, so the
//! comparison is exact even while the projection lags: a row is compared with the replay of the
//! events at or before the checkpoint. [`wait_for_projection`] lets the audit first wait for the
//! checkpoint to reach the end of the log, so that the comparison covers everything.
//!
//! The queries on `read_models` are unchecked (`sqlx::query_as`, not `query_as!`): those views
//! are made by the projection runtime, not by the migrations the macros are checked against.

use super::auditor::{Auditor, at, on};
use super::report::MismatchKind;
use super::wallets::Head;
use futures::TryStreamExt;
use loopync_projections::EventLog;
use loopync_schemas::Position;
use sqlx::{PgConnection, PgPool};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The projection whose read models the audit compares.
pub const LEDGER_PROJECTION: &str = "looppay_ledger";

impl Auditor {
    /// Compares `read_models.wallet_balances` (and `ledger_payments`) with the replay.
    pub(super) async fn compare_read_models(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<(u64, Option<u64>), sqlx::Error> {
        type BalanceRow = (String, i64, i64, i64, String);
        let mut wallet_rows = 0u64;
        {
            let mut rows = sqlx::query_as::<_, BalanceRow>(
                "SELECT account, available, held, sequence, last_hash FROM read_models.wallet_balances ORDER BY account",
            )
            .fetch(&mut *conn);
            while let Some((account, available, held, sequence, last_hash)) = rows.try_next().await? {
                wallet_rows += 1;
                let stream = format!("wallet-{account}");
                let found = self.accounts.ids.get(&account).and_then(|id| self.wallets.get_mut(id));
                let Some(wallet) = found else {
                    self.report(
                        MismatchKind::ReadModelExtra,
                        on(&stream),
                        format!("a balance row for {account}, which has no wallet events"),
                    );
                    continue;
                };
                wallet.compared = true;
                if wallet.broken {
                    continue;
                }
                let Some(head) = wallet.projected.clone() else {
                    self.report(
                        MismatchKind::ReadModelExtra,
                        on(&stream),
                        format!("a balance row for {account}, whose events are all after the projection's position"),
                    );
                    continue;
                };
                let mut differences = Vec::new();
                if available != head.available {
                    differences.push(format!("available {available} (replay {})", head.available));
                }
                if held != head.held {
                    differences.push(format!("held {held} (replay {})", head.held));
                }
                if sequence != head.sequence {
                    differences.push(format!("sequence {sequence} (replay {})", head.sequence));
                }
                if last_hash != head.last_hash {
                    differences.push(format!("last_hash {last_hash} (replay {})", head.last_hash));
                }
                if !differences.is_empty() {
                    self.report(
                        MismatchKind::ReadModelDiffers,
                        at(&stream, head.sequence, head.position),
                        format!("wallet_balances row of {account} says {}", differences.join(", ")),
                    );
                }
            }
        }
        let mut missing: Vec<(String, Head)> = self
            .wallets
            .iter()
            .filter(|(_, w)| !w.compared && !w.broken)
            .filter_map(|(id, w)| w.projected.clone().map(|head| (self.accounts.name(*id).to_owned(), head)))
            .collect();
        missing.sort_by(|a, b| a.0.cmp(&b.0));
        for (account, head) in missing {
            let stream = format!("wallet-{account}");
            self.report(
                MismatchKind::ReadModelMissing,
                at(&stream, head.sequence, head.position),
                format!("no wallet_balances row for {account}"),
            );
        }

        let payments_exist: bool =
            sqlx::query_scalar("SELECT to_regclass('read_models.ledger_payments') IS NOT NULL")
                .fetch_one(&mut *conn)
                .await?;
        if !payments_exist {
            self.warnings
                .push("read_models.ledger_payments does not exist; payments were not compared".to_owned());
            return Ok((wallet_rows, None));
        }
        type PaymentRow = (Uuid, String, String, String, i64, i64);
        let mut payment_rows = 0u64;
        {
            let mut rows = sqlx::query_as::<_, PaymentRow>(
                "SELECT payment_id, payer, payee, status, amount, refunded FROM read_models.ledger_payments \
                 ORDER BY payment_id",
            )
            .fetch(&mut *conn);
            while let Some((id, payer, payee, status, amount, refunded)) = rows.try_next().await? {
                payment_rows += 1;
                let stream = format!("payment-{id}");
                let Some(payment) = self.payments.get_mut(&id) else {
                    self.report(
                        MismatchKind::ReadModelExtra,
                        on(&stream),
                        format!("a ledger_payments row for {id}, which has no payment events"),
                    );
                    continue;
                };
                payment.compared = true;
                if payment.broken {
                    continue;
                }
                let (payer_id, payee_id) = (payment.payer, payment.payee);
                let here = at(&stream, payment.last_version, payment.last_position);
                let Some((expected_status, expected_amount, expected_refunded)) = payment.projected else {
                    self.report(
                        MismatchKind::ReadModelExtra,
                        on(&stream),
                        format!("a ledger_payments row for {id}, whose events are all after the projection's position"),
                    );
                    continue;
                };
                let mut differences = Vec::new();
                let replay_payer = payer_id.map_or("?", |p| self.accounts.name(p));
                let replay_payee = payee_id.map_or("?", |p| self.accounts.name(p));
                if payer != replay_payer {
                    differences.push(format!("payer {payer} (replay {replay_payer})"));
                }
                if payee != replay_payee {
                    differences.push(format!("payee {payee} (replay {replay_payee})"));
                }
                if status != expected_status.as_str() {
                    differences.push(format!("status {status} (replay {})", expected_status.as_str()));
                }
                if amount != expected_amount {
                    differences.push(format!("amount {amount} (replay {expected_amount})"));
                }
                if refunded != expected_refunded {
                    differences.push(format!("refunded {refunded} (replay {expected_refunded})"));
                }
                if !differences.is_empty() {
                    self.report(
                        MismatchKind::ReadModelDiffers,
                        here,
                        format!("ledger_payments row of {id} says {}", differences.join(", ")),
                    );
                }
            }
        }
        let mut missing: Vec<(String, i64, i64)> = self
            .payments
            .values()
            .filter(|p| !p.compared && !p.broken && p.projected.is_some())
            .map(|p| (p.stream.clone(), p.last_version, p.last_position))
            .collect();
        missing.sort();
        for (stream, version, position) in missing {
            self.report(
                MismatchKind::ReadModelMissing,
                at(&stream, version, position),
                "no ledger_payments row".to_owned(),
            );
        }
        Ok((wallet_rows, Some(payment_rows)))
    }
}

/// The active generation's checkpoint of `projection`, if it has one.
pub async fn projection_checkpoint(
    executor: impl sqlx::PgExecutor<'_>,
    projection: &str,
) -> Result<Option<Position>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT c.transaction_id::text::bigint AS "transaction_id!", c.global_position FROM projections p
             JOIN projection_checkpoints c ON c.projection = p.name AND c.generation = p.active_generation
            WHERE p.name = $1"#,
        projection,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|c| Position::new(c.transaction_id, c.global_position)))
}

/// Waits until `projection`'s checkpoint has reached the last committed event, for at most
/// `timeout`. Returns whether it did.
pub async fn wait_for_projection(
    pool: &PgPool,
    projection: &str,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let log = EventLog::new(pool.clone());
    let started = Instant::now();
    loop {
        let Some(newest) = log.newest().await? else { return Ok(true) };
        if projection_checkpoint(pool, projection).await?.is_some_and(|c| c >= newest) {
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
