//! Top-up expiry: a top-up the payment provider has not confirmed (or failed) within the
//! pending window expires, with a `wallet.top_up_expired` event that moves nothing.
//!
//! Why: a wallet may have only a few top-ups pending at once (the cap is the wallet's own rule),
//! and a checkout the user abandoned would otherwise hold its place, and count against the
//! day's limit, forever. Once expired, a confirmation that still arrives credits nothing (the
//! wallet refuses it; the webhook answers it 2xx so the provider stops retrying, and logs it
//! for the charge to be given back).
//!
//! Every worker process (and `loopync serve`) runs the sweep. Like hold expiry it finds
//! candidates in a table the event store's trigger keeps current in the appending transaction
//! (`looppay_pending_top_ups`, migration `0012_looppay_deadlines.sql`), never in a read model
//! that may lag; and the wallet decides, with its expected version, whether the top-up is
//! still pending and due. A confirmation racing the sweep, or two workers sweeping at once,
//! settle each top-up exactly once: the loser is decided again on the new state and appends
//! nothing.

use chrono::{DateTime, Utc};
use loopync_commands::{CommandContext, CommandPipeline};
use loopync_domain::looppay::{LedgerAccount, Wallet, WalletCommand};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Top-ups looked at per sweep.
pub const SWEEP_BATCH: i64 = 200;

/// A top-up pending since before the window's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTopUp {
    pub top_up_id: Uuid,
    /// The wallet's account (a user id).
    pub account: String,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Top-ups this sweep expired.
    pub expired: u64,
    /// Due top-ups settled first by someone else (a confirmation, a failure, another worker).
    pub settled_elsewhere: u64,
    /// Top-ups whose expiry failed (logged; retried next sweep).
    pub failed: u64,
}

/// Top-ups still pending that were requested at or before `requested_before`, oldest first
/// (ties by id), at most `limit`.
pub async fn due_top_ups(
    pool: &PgPool,
    requested_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueTopUp>, sqlx::Error> {
    sqlx::query_as!(
        DueTopUp,
        "SELECT top_up_id, account FROM looppay_pending_top_ups \
         WHERE requested_at <= $1 ORDER BY requested_at, top_up_id LIMIT $2",
        requested_before,
        limit.max(0),
    )
    .fetch_all(pool)
    .await
}

/// Expires the top-ups pending for `window` or longer at `now` (up to [`SWEEP_BATCH`]).
pub async fn expire_due_top_ups(
    pipeline: &CommandPipeline,
    pool: &PgPool,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Sweep, sqlx::Error> {
    let mut sweep = Sweep::default();
    let context = CommandContext::actor("top-up-expiry");
    for due in due_top_ups(pool, now - window, SWEEP_BATCH).await? {
        let Some(account) = LedgerAccount::parse(&due.account) else {
            sweep.failed += 1;
            tracing::warn!(top_up = %due.top_up_id, account = %due.account, "a pending top-up names no account");
            continue;
        };
        let command = WalletCommand::ExpireTopUp { account, top_up_id: due.top_up_id, window, now };
        match pipeline.execute::<Wallet>(account, command, &context).await {
            Ok(outcome) if outcome.appended.is_empty() => sweep.settled_elsewhere += 1,
            Ok(_) => sweep.expired += 1,
            Err(error) => {
                sweep.failed += 1;
                tracing::warn!(%error, top_up = %due.top_up_id, "top-up not expired; retried next sweep");
            }
        }
    }
    if sweep.expired > 0 {
        metrics::counter!("loopync_top_ups_expired_total").increment(sweep.expired);
    }
    Ok(sweep)
}

/// Sweeps every `interval` until cancelled, expiring top-ups pending longer than `window`.
pub async fn run_top_up_expiry(
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
    window: chrono::Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match expire_due_top_ups(&pipeline, &pool, window, Utc::now()).await {
            Ok(Sweep { expired: 0, .. }) => {}
            Ok(sweep) => tracing::info!(expired = sweep.expired, "pending top-ups expired"),
            // The database is away: the next sweep tries again.
            Err(error) => tracing::warn!(%error, "top-up expiry sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
