//! Hold expiry: holds that reach their expiry unsettled give their credits back.
//!
//! Every worker process (and `loopync serve`) runs the sweep. It lists due holds from
//! `looppay_hold_deadlines`, which a trigger on `events` fills and clears in the very
//! transaction that places or settles a hold (migration `0012_looppay_deadlines.sql`): not from
//! a read model, so a projection that lags or stalls on a poisoned event never leaves a due
//! hold unfound and its credits locked. The table only *finds* candidates; whether a hold
//! expires is decided by its payment aggregate against the event store, with expected
//! versions: when two workers (or a worker and a capture) race for one hold, one append wins
//! and the other, decided again on the new state, finds the hold settled and appends nothing.
//! So each hold expires exactly once, however many workers run, and a hold captured a moment
//! before its expiry stays captured.

use chrono::{DateTime, Utc};
use loopync_commands::{CommandContext, CommandPipeline};
use loopync_domain::looppay::{LedgerAccount, Release, ReleaseHold};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Holds looked at per sweep.
pub const SWEEP_BATCH: i64 = 200;

/// A hold whose expiry has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueHold {
    /// The hold's payment.
    pub payment_id: Uuid,
    /// The payer, whose wallet the release credits back.
    pub payer: String,
}

/// Holds not yet settled whose expiry is at or before `now`, earliest expiry first (ties by
/// payment id), at most `limit`. Current as of the last commit: the table is kept by the event
/// store's trigger, not by a projection.
pub async fn due_holds(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueHold>, sqlx::Error> {
    sqlx::query_as!(
        DueHold,
        "SELECT payment_id, payer FROM looppay_hold_deadlines \
         WHERE expires_at <= $1 ORDER BY expires_at, payment_id LIMIT $2",
        now,
        limit.max(0),
    )
    .fetch_all(pool)
    .await
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Holds this sweep expired.
    pub expired: u64,
    /// Due holds someone else settled first (another worker, a capture, a void).
    pub settled_elsewhere: u64,
    /// Holds whose expiry failed (logged; retried next sweep).
    pub failed: u64,
}

/// Expires the holds due at `now` (up to [`SWEEP_BATCH`]).
pub async fn expire_due_holds(
    pipeline: &CommandPipeline,
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<Sweep, sqlx::Error> {
    let mut sweep = Sweep::default();
    let context = CommandContext::actor("hold-expiry");
    for hold in due_holds(pool, now, SWEEP_BATCH).await? {
        let Some(payer) = LedgerAccount::parse(&hold.payer) else {
            sweep.failed += 1;
            tracing::warn!(payment = %hold.payment_id, payer = %hold.payer, "a due hold names no account");
            continue;
        };
        // The payer named by the read model is checked against the payment by the decision.
        let command = ReleaseHold { payment_id: hold.payment_id, payer, why: Release::Expire, now };
        match pipeline.decide(&command, &context).await {
            Ok(outcome) if outcome.appended.is_empty() => sweep.settled_elsewhere += 1,
            Ok(_) => sweep.expired += 1,
            Err(error) => {
                sweep.failed += 1;
                tracing::warn!(%error, payment = %hold.payment_id, "hold not expired; retried next sweep");
            }
        }
    }
    if sweep.expired > 0 {
        metrics::counter!("loopync_holds_expired_total").increment(sweep.expired);
    }
    Ok(sweep)
}

/// Sweeps every `interval` until cancelled.
pub async fn run_hold_expiry(
    pipeline: Arc<CommandPipeline>,
    pool: PgPool,
    interval: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match expire_due_holds(&pipeline, &pool, Utc::now()).await {
            Ok(Sweep { expired: 0, .. }) => {}
            Ok(sweep) => tracing::info!(expired = sweep.expired, "holds expired"),
            // The database is away: the next sweep tries again.
            Err(error) => tracing::warn!(%error, "hold expiry sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}
