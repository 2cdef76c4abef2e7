//! `loopync audit ledger`: proves the LoopPay ledger's money from the event store alone.
//!
//! The audit trusts nothing but the `events` table and the domain's rules. It replays every
//! ledger stream and proves, or reports where it fails:
//!
//! 1. **Chains.** Every wallet stream (`wallet-<account>`) is an unbroken hash chain: each
//!    event's `sequence` follows the previous one and equals its stream version, its `prevHash`
//!    is the previous event's `hash`, its `hash` is the SHA-256 of its contents
//!    ([`WalletEntry::expected_hash`]), its balances after follow from the previous balances and
//!    its deltas and are never negative, and it names its stream's account. These are the
//!    checks of [`looppay::verify_chain`], made one event at a time by [`ChainVerifier`] so that
//!    a wallet of millions of events is never held in memory. The first break of each wallet is
//!    reported (with stream, version and global position); everything after a break is suspect
//!    anyway. An edited, dropped, reordered or inserted event breaks its wallet's chain.
//! 2. **Double entry.** Every leg is checked against its kind (a `transfer_sent` moves
//!    `-amount` from available, a `hold_placed` moves `amount` from available to held, ...).
//!    Legs are grouped by `entryId` across all wallets; the legs of each entry, plus the implied
//!    `system.funding` leg of `-amount` of each `wallet.topped_up`, must sum to zero, form a
//!    whole movement (a `transfer_sent` needs its `transfer_received`, a captured hold its
//!    `payment_received`, no leg twice), and name each other as counterparties. A leg deleted
//!    from the tail of a wallet leaves its chain intact but its entry one-legged; an amount
//!    forged consistently through a whole chain (hashes recomputed) leaves its entry unbalanced.
//! 3. **Conservation.** The wallets' balances, recomputed from their deltas, plus the funding
//!    account's (minus every top-up) sum to zero: no credit was created or destroyed. The
//!    report gives the totals: credits in circulation (available and held), escrow, funding.
//! 4. **Payments.** Every payment stream (`payment-<uuid>`) is replayed: it opens once, a hold
//!    is settled once and by no more than it holds, refunds never exceed what was paid; and
//!    the wallet legs that reference the payment agree with its events kind by kind (a capture
//!    of 30 has a `hold_captured` of 30 in the payer's wallet and a `payment_received` of 30 in
//!    the payee's), in the right wallets.
//! 5. **Read models.** `read_models.wallet_balances` (and `read_models.ledger_payments` when it
//!    exists) hold, for every wallet (payment), what the replay says, and nothing else. The
//!    projection's checkpoint is read in the same snapshot as its tables and the log, so the
//!    comparison is exact even while the projection lags: a row is compared with the replay of
//!    the events at or before the checkpoint (the projection applies the log in
//!    `(transaction_id, global_position)` order). Without a checkpoint (tables made by hand) the
//!    whole log is used. `--wait-for-projection` first waits for the checkpoint to reach the
//!    end of the log, so that the comparison covers everything.
//!
//! **How.** Everything is read in one `REPEATABLE READ, READ ONLY` transaction: one snapshot of
//! the log, the checkpoints and the read models, consistent while traffic goes on (every
//! movement appends all its streams in one transaction, so a snapshot never holds half of
//! one). Payments are read first, then wallets, each in `(stream_name, stream_version)` order,
//! streamed from the server row by row (sqlx `fetch`): the table is never loaded into memory.
//! Payloads are decoded through the schema registry ([`RecordedEvent::decode`], which
//! upcasts). The metadata column is not read, so corrupted metadata cannot stop the audit; an
//! undecodable payload is a mismatch, not an error.
//!
//! **What it cannot prove.** The chains are anchored nowhere but in the store itself: someone
//! who can write `events` and re-seals chains with the domain's hash can rewrite history
//! consistently. A top-up forged that way balances itself (its funding leg is implied by the
//! same event), and a whole movement removed from the tails of its wallets (every leg, and its
//! payment's events) leaves no trace in the store. The read models, built before the
//! tampering, are a second witness (that is why they are compared, `last_hash` included); the
//! payment provider's records are the witness of top-ups. The third witness is the operator's:
//! chain heads exported from a clean audit (`--export-heads`) and kept elsewhere, which a later
//! audit checks the log against (`--verify-heads`, see `heads`): rewriting history up to an
//! exported head changes the head's hash.
//!
//! **Memory.** What stays in memory is bounded by the number of *entries*, *wallets* and
//! *payments*, never by events (a wallet of millions of events streams through one
//! [`ChainVerifier`]): a `HashMap<Uuid, _>` slot of about 100 bytes per entry (sum, kinds seen,
//! both sides' accounts as interned ids, where its first leg is), 100 to 200 per wallet and per
//! payment, and each distinct account name twice; hash maps grow by doubling, so count up to
//! twice that. A million entries take 100 to 200 MB, ten million 1 to 2 GB: beyond that, run
//! the audit on a machine sized for it. The snapshot is held for the audit's duration (like any
//! long read, it holds back vacuum meanwhile).
//!
//! **Outcome.** An [`AuditReport`]: counts, totals, warnings, and every mismatch with its
//! stream, version and global position (the first `max_mismatches` are kept; all are
//! counted). `loopync audit ledger` prints it (or `--json`) and exits 0 when clean, 1 on any
//! mismatch, 2 when the audit could not run.
//!
//! **Where it lives.** [`audit_ledger`] and its [`AuditOptions`] are here: the snapshot, the
//! two scans, the checks after them and the report. The rest, by meaning:
//! - `event_log`: reading the ledger's streams from the snapshot, row by row.
//! - `payments`: each payment replayed against its rules; its wallet legs held against it.
//! - `wallets`: each wallet's events checked and tallied as they stream by.
//! - `chain`: [`ChainVerifier`], one wallet's hash chain, event by event.
//! - `double_entry`: legs by kind, entries balanced and whole, money conserved.
//! - `read_models`: the read models compared with the replay at the projection's checkpoint.
//! - `heads`: [`ChainHeads`], exported from a clean audit and verified by a later one.
//! - `auditor`: what the audit keeps meanwhile, and where mismatches are recorded.
//! - `report`: the [`AuditReport`] and its kinds of [`Mismatch`].
//!
//! [`looppay::verify_chain`]: loopync_domain::looppay::verify_chain
//! [`WalletEntry::expected_hash`]: loopync_domain::looppay::WalletEntry::expected_hash
//! [`RecordedEvent::decode`]: loopync_schemas::RecordedEvent::decode

mod auditor;
mod chain;
mod double_entry;
mod event_log;
mod heads;
mod payments;
mod read_models;
mod report;
mod wallets;

pub use chain::ChainVerifier;
pub use heads::{ChainHead, ChainHeads, HEADS_FORMAT, HeadsFileError};
pub use read_models::{LEDGER_PROJECTION, projection_checkpoint, wait_for_projection};
pub use report::{AuditReport, Mismatch, MismatchKind, ReadModelCheck, ReadModelStatus, Totals};

use auditor::{Auditor, NOWHERE};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// What the audit does besides the ledger's own checks.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Wait up to this long for the projection to reach the end of the log before comparing.
    pub wait_for_projection: Option<Duration>,
    /// Compare the read models at all (off: an event store restored without projections).
    pub compare_read_models: bool,
    /// Mismatches kept in the report; the rest are only counted.
    pub max_mismatches: usize,
    /// Collect every wallet's chain head ([`AuditReport::heads`], when the ledger is clean).
    pub export_heads: bool,
    /// Chain heads exported earlier, to check the log against.
    pub verify_heads: Option<Arc<ChainHeads>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            wait_for_projection: None,
            compare_read_models: true,
            max_mismatches: 1000,
            export_heads: false,
            verify_heads: None,
        }
    }
}

/// Audits the LoopPay ledger (see the module documentation). `Err` only when the database
/// could not be read; everything wrong with the ledger is in the report.
pub async fn audit_ledger(pool: &PgPool, options: &AuditOptions) -> Result<AuditReport, sqlx::Error> {
    let mut warnings = Vec::new();
    if let Some(timeout) = options.wait_for_projection.filter(|_| options.compare_read_models)
        && !wait_for_projection(pool, LEDGER_PROJECTION, timeout).await?
    {
        warnings.push(format!(
            "{LEDGER_PROJECTION} did not reach the end of the log within {}s; read models compared at its position",
            timeout.as_secs_f64()
        ));
    }

    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut *tx).await?;
    let read_models_exist: bool =
        sqlx::query_scalar("SELECT to_regclass('read_models.wallet_balances') IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
    let compare = options.compare_read_models && read_models_exist;
    let checkpoint = if compare { projection_checkpoint(&mut *tx, LEDGER_PROJECTION).await? } else { None };
    if compare && checkpoint.is_none() {
        warnings.push(format!(
            "{LEDGER_PROJECTION} has no checkpoint; its read models were compared with the whole log"
        ));
    }
    let mut auditor = Auditor::new(options.clone(), checkpoint);
    auditor.warnings = warnings;
    auditor.heads = options.export_heads.then(Vec::new);

    // Payments first ('payment-' < 'wallet-' anyway): their legs are checked as wallets stream by.
    event_log::read_payments(&mut tx, &mut auditor).await?;
    event_log::read_wallets(&mut tx, &mut auditor).await?;

    auditor.check_entries();
    auditor.check_payments();
    auditor.check_conservation();
    let heads_verified = match &options.verify_heads {
        Some(expected) => Some(heads::verify(&mut tx, &mut auditor, expected).await?),
        None => None,
    };
    let log_end = if options.export_heads { heads::log_end(&mut tx).await? } else { None };

    let ledger_events = auditor.wallet_events + auditor.payment_events;
    let mut read_models = ReadModelCheck {
        status: ReadModelStatus::Skipped,
        projection: LEDGER_PROJECTION,
        position: checkpoint,
        wallet_rows: 0,
        payment_rows: None,
        events_not_projected: if compare { auditor.events_not_projected } else { 0 },
    };
    if !options.compare_read_models {
        auditor.warnings.push("read models not compared (--skip-read-models)".to_owned());
    } else if !read_models_exist {
        read_models.status = ReadModelStatus::Absent;
        let what = "read models absent: read_models.wallet_balances does not exist (the looppay_ledger projection \
                    has never run)";
        if ledger_events == 0 {
            auditor.warnings.push(format!("{what}; the ledger has no events either"));
        } else {
            auditor.report(
                MismatchKind::ReadModelsAbsent,
                NOWHERE,
                format!("{what}, but the ledger has {ledger_events} events"),
            );
        }
    } else {
        let (wallet_rows, payment_rows) = auditor.compare_read_models(&mut tx).await?;
        read_models.status = ReadModelStatus::Compared;
        read_models.wallet_rows = wallet_rows;
        read_models.payment_rows = payment_rows;
        if auditor.events_not_projected > 0 {
            auditor.warnings.push(format!(
                "{} ledger events are after {LEDGER_PROJECTION}'s position and were not compared with read models",
                auditor.events_not_projected
            ));
        }
    }
    tx.rollback().await?;

    // Heads are worth keeping only of a ledger proven clean: exporting those of a tampered one
    // would anchor the tampering.
    let heads = auditor.heads.take().filter(|_| auditor.mismatch_count == 0).map(|heads| ChainHeads {
        format: HEADS_FORMAT.to_owned(),
        taken_at: snapshot_at,
        position: log_end,
        heads,
    });
    if options.export_heads && heads.is_none() {
        auditor.warnings.push("chain heads not exported: the ledger does not audit clean".to_owned());
    }
    let mismatches_truncated = auditor.mismatch_count > auditor.mismatches.len() as u64;
    Ok(AuditReport {
        clean: auditor.mismatch_count == 0,
        snapshot_at,
        wallets: auditor.wallets.len() as u64,
        wallet_events: auditor.wallet_events,
        payments: auditor.payments.len() as u64,
        payment_events: auditor.payment_events,
        entries: auditor.entries.len() as u64,
        top_ups: auditor.top_ups,
        totals: auditor.totals,
        read_models,
        warnings: auditor.warnings,
        mismatch_count: auditor.mismatch_count,
        mismatches: auditor.mismatches,
        mismatches_truncated,
        heads_verified,
        heads_exported: None,
        heads,
    })
}
