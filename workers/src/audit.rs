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
//! payment provider's records are the witness of top-ups.
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

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use loopync_domain::looppay::{
    self, ChainBreak, GENESIS_HASH, LedgerAccount, Payment, PaymentEvent, PaymentStatus, WalletEntry,
    WalletEvent, WalletEventKind,
};
use loopync_domain::{Aggregate, DomainEvent};
use loopync_schemas::{EventMetadata, Position, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The projection whose read models the audit compares.
pub const LEDGER_PROJECTION: &str = "looppay_ledger";

/// What the audit does besides the ledger's own checks.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Wait up to this long for the projection to reach the end of the log before comparing.
    pub wait_for_projection: Option<Duration>,
    /// Compare the read models at all (off: an event store restored without projections).
    pub compare_read_models: bool,
    /// Mismatches kept in the report; the rest are only counted.
    pub max_mismatches: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { wait_for_projection: None, compare_read_models: true, max_mismatches: 1000 }
    }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// What is wrong, by check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// A payload does not decode as its event type.
    Undecodable,
    /// A ledger stream's id is not a wallet account (or a payment's, not a UUID).
    StreamName,
    /// Chain: a sequence out of place (an event missing, moved or inserted).
    Sequence,
    /// Chain: `prevHash` is not the previous event's hash.
    PrevHash,
    /// Chain: `hash` does not match the event's contents.
    Hash,
    /// Chain: balances after do not follow from the deltas.
    Balance,
    /// Chain: a balance below zero.
    Negative,
    /// Chain: the event names another account than its stream's.
    Account,
    /// A leg whose amount, deltas, counterparty or ids do not fit its kind.
    LegShape,
    /// An entry whose legs (with the implied funding legs) do not sum to zero.
    UnbalancedEntry,
    /// An entry missing a leg (a `transfer_sent` without its `transfer_received`, ...).
    IncompleteEntry,
    /// An entry with the same kind of leg twice.
    DuplicateLeg,
    /// Two legs of an entry (or a leg and its payment) disagree on who the other side is.
    Counterparty,
    /// The balances of all accounts do not sum to zero.
    Conservation,
    /// A payment's events break its rules (settled twice, refunds beyond what was paid, ...).
    PaymentState,
    /// The wallet legs of a payment disagree with its events.
    PaymentLegs,
    /// The read models do not exist although the ledger has events.
    ReadModelsAbsent,
    /// A wallet (payment) with events has no read-model row.
    ReadModelMissing,
    /// A read-model row for a wallet (payment) the replay does not have.
    ReadModelExtra,
    /// A read-model row that differs from the replay.
    ReadModelDiffers,
}

impl MismatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::StreamName => "stream_name",
            Self::Sequence => "sequence",
            Self::PrevHash => "prev_hash",
            Self::Hash => "hash",
            Self::Balance => "balance",
            Self::Negative => "negative",
            Self::Account => "account",
            Self::LegShape => "leg_shape",
            Self::UnbalancedEntry => "unbalanced_entry",
            Self::IncompleteEntry => "incomplete_entry",
            Self::DuplicateLeg => "duplicate_leg",
            Self::Counterparty => "counterparty",
            Self::Conservation => "conservation",
            Self::PaymentState => "payment_state",
            Self::PaymentLegs => "payment_legs",
            Self::ReadModelsAbsent => "read_models_absent",
            Self::ReadModelMissing => "read_model_missing",
            Self::ReadModelExtra => "read_model_extra",
            Self::ReadModelDiffers => "read_model_differs",
        }
    }

    /// The chain break of [`looppay::verify_chain`] this kind reports.
    pub fn of_break(why: ChainBreak) -> Self {
        match why {
            ChainBreak::Sequence { .. } => Self::Sequence,
            ChainBreak::PrevHash => Self::PrevHash,
            ChainBreak::Hash => Self::Hash,
            ChainBreak::Balance => Self::Balance,
            ChainBreak::Negative => Self::Negative,
        }
    }
}

impl fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    pub kind: MismatchKind,
    /// The stream of the event (or of the wallet / payment) concerned.
    pub stream: Option<String>,
    /// Its stream version.
    pub version: Option<i64>,
    /// Its global position.
    pub position: Option<i64>,
    /// The entry concerned, for double-entry mismatches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<Uuid>,
    pub reason: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MISMATCH {}", self.kind)?;
        if let Some(stream) = &self.stream {
            write!(f, " stream={stream}")?;
        }
        if let Some(version) = self.version {
            write!(f, " version={version}")?;
        }
        if let Some(position) = self.position {
            write!(f, " position={position}")?;
        }
        if let Some(entry) = self.entry_id {
            write!(f, " entry={entry}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The money, recomputed from the wallets' deltas and the top-ups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Available credits of every wallet (users and escrow).
    pub available: i128,
    /// Credits held by holds.
    pub held: i128,
    /// Every credit in existence: available plus held.
    pub circulation: i128,
    /// The escrow account's total (part of the circulation).
    pub escrow: i128,
    /// The funding account: minus every top-up.
    pub funding: i128,
    /// Circulation plus funding: zero when the money is conserved.
    pub imbalance: i128,
}

/// What was compared with the read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadModelStatus {
    Compared,
    Absent,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadModelCheck {
    pub status: ReadModelStatus,
    pub projection: &'static str,
    /// The projection's checkpoint the rows were compared at; `None`: the whole log.
    pub position: Option<Position>,
    pub wallet_rows: u64,
    /// `None` when `read_models.ledger_payments` does not exist.
    pub payment_rows: Option<u64>,
    /// Ledger events after the checkpoint (not yet in the read models).
    pub events_not_projected: u64,
}

/// The outcome of an audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// No mismatch at all.
    pub clean: bool,
    /// The time of the snapshot audited.
    pub snapshot_at: DateTime<Utc>,
    pub wallets: u64,
    pub wallet_events: u64,
    pub payments: u64,
    pub payment_events: u64,
    /// Distinct entries (movements) of the wallet legs.
    pub entries: u64,
    /// `wallet.topped_up` events: money that entered through `system.funding`.
    pub top_ups: u64,
    pub totals: Totals,
    pub read_models: ReadModelCheck,
    /// Worth knowing, not wrong.
    pub warnings: Vec<String>,
    /// Every mismatch found, including those not kept.
    pub mismatch_count: u64,
    pub mismatches: Vec<Mismatch>,
    /// More mismatches were found than kept.
    pub mismatches_truncated: bool,
}

impl AuditReport {
    /// Whether any mismatch of this kind was kept.
    pub fn has(&self, kind: MismatchKind) -> bool {
        self.mismatches.iter().any(|m| m.kind == kind)
    }

    /// The mismatches of this kind that were kept.
    pub fn of_kind(&self, kind: MismatchKind) -> impl Iterator<Item = &Mismatch> {
        self.mismatches.iter().filter(move |m| m.kind == kind)
    }

    /// The process exit code: 0 when clean, 1 on any mismatch.
    pub fn exit_code(&self) -> i32 {
        if self.clean { 0 } else { 1 }
    }

    /// The report as pretty JSON (what `--json` prints).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        writeln!(f, "LoopPay ledger audit, snapshot at {}", self.snapshot_at.to_rfc3339())?;
        writeln!(f, "  wallets checked   {} ({} events)", self.wallets, self.wallet_events)?;
        writeln!(f, "  payments checked  {} ({} events)", self.payments, self.payment_events)?;
        writeln!(f, "  entries           {} ({} top-ups)", self.entries, self.top_ups)?;
        writeln!(
            f,
            "  totals            circulation {} (available {}, held {}), escrow {}, funding {}, imbalance {}",
            t.circulation, t.available, t.held, t.escrow, t.funding, t.imbalance
        )?;
        let r = &self.read_models;
        match r.status {
            ReadModelStatus::Compared => {
                let at = r.position.map_or_else(|| "the end of the log".to_owned(), |p| p.to_string());
                let payments = r
                    .payment_rows
                    .map_or_else(|| "no payment table".to_owned(), |n| format!("{n} payment rows"));
                writeln!(
                    f,
                    "  read models       {} at {at}: {} wallet rows and {payments} compared, {} ledger events not yet projected",
                    r.projection, r.wallet_rows, r.events_not_projected
                )?;
            }
            ReadModelStatus::Absent => writeln!(f, "  read models       absent")?,
            ReadModelStatus::Skipped => writeln!(f, "  read models       not compared")?,
        }
        for warning in &self.warnings {
            writeln!(f, "WARNING {warning}")?;
        }
        for mismatch in &self.mismatches {
            writeln!(f, "{mismatch}")?;
        }
        if self.mismatches_truncated {
            writeln!(
                f,
                "... {} more mismatches not shown",
                self.mismatch_count - self.mismatches.len() as u64
            )?;
        }
        if self.clean {
            writeln!(
                f,
                "CLEAN: every chain intact, every entry balanced, money conserved, payments and read models agree"
            )
        } else {
            writeln!(f, "FAILED: {} mismatches", self.mismatch_count)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One wallet's chain, event by event
// ---------------------------------------------------------------------------------------------

/// [`looppay::verify_chain`], one event at a time: the same checks in the same order, so that
/// a wallet's chain can be verified while it streams by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerifier {
    available: i64,
    held: i64,
    sequence: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { available: 0, held: 0, sequence: 0, last_hash: GENESIS_HASH.to_owned() }
    }
}

impl ChainVerifier {
    /// Checks the wallet's next event and, when it holds, moves on past it. After a break the
    /// verifier stays where it was.
    pub fn check(&mut self, event: &WalletEvent) -> Result<(), ChainBreak> {
        let entry = event.entry();
        if entry.sequence != self.sequence + 1 {
            return Err(ChainBreak::Sequence { expected: self.sequence + 1, found: entry.sequence });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak::PrevHash);
        }
        if entry.hash != entry.expected_hash(event.event_type()) {
            return Err(ChainBreak::Hash);
        }
        let available = self.available.checked_add(entry.available_delta);
        let held = self.held.checked_add(entry.held_delta);
        if available != Some(entry.available_after) || held != Some(entry.held_after) {
            return Err(ChainBreak::Balance);
        }
        if entry.available_after < 0 || entry.held_after < 0 {
            return Err(ChainBreak::Negative);
        }
        self.available = entry.available_after;
        self.held = entry.held_after;
        self.sequence = entry.sequence;
        self.last_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Events verified so far.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }
}

// ---------------------------------------------------------------------------------------------
// Legs and entries
// ---------------------------------------------------------------------------------------------

const KINDS: [WalletEventKind; 12] = WalletEventKind::ALL;

fn bit(kind: WalletEventKind) -> u16 {
    let index = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    1 << index
}

fn bits(kinds: &[WalletEventKind]) -> u16 {
    kinds.iter().fold(0, |mask, kind| mask | bit(*kind))
}

fn name(kind: WalletEventKind) -> &'static str {
    kind.event_type().trim_start_matches("wallet.")
}

fn names(mask: u16) -> String {
    let names: Vec<&str> = KINDS.iter().filter(|k| mask & bit(**k) != 0).map(|k| name(*k)).collect();
    names.join(" + ")
}

/// The complete movements: which kinds of leg an entry may have, all together.
fn complete_entries() -> [u16; 10] {
    use WalletEventKind as K;
    [
        bits(&[K::ToppedUp]),
        bits(&[K::TopUpRequested]),
        bits(&[K::TopUpRequested, K::ToppedUp]),
        bits(&[K::TopUpRequested, K::TopUpFailed]),
        bits(&[K::TransferSent, K::TransferReceived]),
        bits(&[K::PaymentSent, K::PaymentReceived]),
        bits(&[K::HoldPlaced]),
        bits(&[K::HoldPlaced, K::HoldReleased]),
        bits(&[K::HoldPlaced, K::HoldCaptured, K::PaymentReceived]),
        bits(&[K::RefundSent, K::RefundReceived]),
    ]
}

/// What a whole entry of the family of `mask` looks like, for messages.
fn expected_legs(mask: u16) -> &'static str {
    use WalletEventKind as K;
    if mask & bits(&[K::TransferSent, K::TransferReceived]) != 0 {
        "transfer_sent + transfer_received"
    } else if mask & bits(&[K::RefundSent, K::RefundReceived]) != 0 {
        "refund_sent + refund_received"
    } else if mask & bits(&[K::TopUpRequested, K::ToppedUp, K::TopUpFailed]) != 0 {
        "[top_up_requested +] topped_up, or top_up_requested [+ top_up_failed]"
    } else {
        "payment_sent + payment_received, or hold_placed [+ hold_released | hold_captured + payment_received]"
    }
}

/// The leg that takes credits out of a wallet to the other side of a two-sided entry.
fn is_debit(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TransferSent | K::PaymentSent | K::HoldCaptured | K::RefundSent)
}

/// The leg that brings them in.
fn is_credit(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TransferReceived | K::PaymentReceived | K::RefundReceived)
}

fn is_top_up(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TopUpRequested | K::ToppedUp | K::TopUpFailed)
}

/// Whether the deltas, amount and ids of a leg fit its kind; why not otherwise.
fn leg_shape(kind: WalletEventKind, e: &WalletEntry) -> Result<(), String> {
    use WalletEventKind as K;
    if e.amount <= 0 {
        return Err(format!("{} with amount {}: amounts are positive", name(kind), e.amount));
    }
    let (a, h, amount) = (e.available_delta, e.held_delta, e.amount);
    let deltas_ok = match kind {
        K::TopUpRequested | K::TopUpFailed => a == 0 && h == 0,
        K::ToppedUp | K::TransferReceived | K::PaymentReceived | K::RefundReceived => a == amount && h == 0,
        K::TransferSent | K::PaymentSent | K::RefundSent => a == -amount && h == 0,
        K::HoldPlaced => a == -amount && h == amount,
        K::HoldReleased => a == amount && h == -amount,
        // The captured amount leaves held; the rest of the hold goes back to available.
        K::HoldCaptured => a >= 0 && h < 0 && i128::from(a) + i128::from(h) == -i128::from(amount),
    };
    if !deltas_ok {
        return Err(format!(
            "{} of amount {amount} moves available {a:+} and held {h:+}, which does not fit its kind",
            name(kind)
        ));
    }
    let funding = e.counterparty.as_deref() == Some(LedgerAccount::FUNDING);
    if is_top_up(kind) {
        if !funding {
            return Err(format!(
                "{} whose counterparty is {:?}, not system.funding",
                name(kind),
                e.counterparty
            ));
        }
        if e.top_up_id != Some(e.entry_id) {
            return Err(format!("{} whose topUpId {:?} is not its entryId", name(kind), e.top_up_id));
        }
        return Ok(());
    }
    match e.counterparty.as_deref().and_then(LedgerAccount::parse) {
        Some(other) if other.has_stream() && other.to_string() != e.account => {}
        _ => {
            return Err(format!(
                "{} whose counterparty {:?} is not another wallet",
                name(kind),
                e.counterparty
            ));
        }
    }
    let payment_leg = matches!(
        kind,
        K::PaymentSent | K::PaymentReceived | K::HoldPlaced | K::HoldCaptured | K::HoldReleased
    );
    if payment_leg && e.payment_id != Some(e.entry_id) {
        return Err(format!("{} whose paymentId {:?} is not its entryId", name(kind), e.payment_id));
    }
    if matches!(kind, K::RefundSent | K::RefundReceived) && e.payment_id.is_none() {
        return Err(format!("{} without a paymentId", name(kind)));
    }
    Ok(())
}

/// Where a leg is, to report it.
#[derive(Debug, Clone, Copy)]
struct LegRef {
    wallet: u32,
    version: i64,
    position: i64,
}

/// One side of a two-sided entry: whose wallet, and whom it names as the other side.
#[derive(Debug, Clone, Copy)]
struct Side {
    account: u32,
    counterparty: Option<u32>,
}

/// An entry as its legs add up so far (see the module documentation for its size).
#[derive(Debug, Clone)]
struct EntryTally {
    sum: i128,
    kinds: u16,
    debit: Option<Side>,
    credit: Option<Side>,
    first: LegRef,
}

// ---------------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------------

/// Sums of the amounts of a payment's wallet legs, by kind (and the part of captured holds
/// released back to the payer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LegSums([i64; 8]);

const LEG_SLOTS: [&str; 8] = [
    "payment_sent",
    "payment_received",
    "hold_placed",
    "hold_captured",
    "hold_captured (released part)",
    "hold_released",
    "refund_sent",
    "refund_received",
];

impl LegSums {
    fn add(&mut self, slot: usize, amount: i64) {
        if let Some(sum) = self.0.get_mut(slot) {
            *sum = sum.saturating_add(amount);
        }
    }
}

/// The slot of a payment leg, and whether it belongs in the payer's wallet (else the payee's).
fn payment_slot(kind: WalletEventKind) -> Option<(usize, bool)> {
    use WalletEventKind as K;
    match kind {
        K::PaymentSent => Some((0, true)),
        K::PaymentReceived => Some((1, false)),
        K::HoldPlaced => Some((2, true)),
        K::HoldCaptured => Some((3, true)),
        K::HoldReleased => Some((5, true)),
        K::RefundSent => Some((6, false)),
        K::RefundReceived => Some((7, true)),
        _ => None,
    }
}

/// A payment as replayed from its stream, and its wallet legs as they turn up.
#[derive(Debug, Clone)]
struct PaymentCheck {
    stream: String,
    last_version: i64,
    last_position: i64,
    payer: Option<u32>,
    payee: Option<u32>,
    expected: LegSums,
    actual: LegSums,
    /// Status, amount and refunded as of the projection's checkpoint.
    projected: Option<(PaymentStatus, i64, i64)>,
    broken: bool,
    compared: bool,
}

// ---------------------------------------------------------------------------------------------
// The audit
// ---------------------------------------------------------------------------------------------

/// A wallet as of the projection's checkpoint: what its read-model row must say.
#[derive(Debug, Clone, Default)]
struct Head {
    available: i64,
    held: i64,
    sequence: i64,
    last_hash: String,
    position: i64,
}

#[derive(Debug, Clone)]
struct WalletFinal {
    projected: Option<Head>,
    broken: bool,
    compared: bool,
}

/// The wallet being streamed.
struct WalletScan {
    account: u32,
    stream: String,
    chain: ChainVerifier,
    broken: bool,
    available: i128,
    held: i128,
    projected: Option<Head>,
    prefix_open: bool,
}

/// The payment being streamed.
struct PaymentScan {
    id: Option<Uuid>,
    check: PaymentCheck,
    state: Payment,
    prefix_open: bool,
}

/// Each distinct account name once.
#[derive(Default)]
struct Accounts {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Accounts {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }
}

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

struct Auditor {
    options: AuditOptions,
    /// The projection's checkpoint; `None`: compare with the whole log.
    checkpoint: Option<Position>,
    accounts: Accounts,
    wallets: HashMap<u32, WalletFinal>,
    entries: HashMap<Uuid, EntryTally>,
    payments: HashMap<Uuid, PaymentCheck>,
    totals: Totals,
    wallet_events: u64,
    payment_events: u64,
    top_ups: u64,
    events_not_projected: u64,
    warnings: Vec<String>,
    mismatch_count: u64,
    mismatches: Vec<Mismatch>,
}

/// Where a mismatch is: borrowed while scanning, owned only once something is reported.
#[derive(Debug, Clone, Copy, Default)]
struct Loc<'a> {
    stream: Option<&'a str>,
    version: Option<i64>,
    position: Option<i64>,
}

/// An event.
fn at(stream: &str, version: i64, position: i64) -> Loc<'_> {
    Loc { stream: Some(stream), version: Some(version), position: Some(position) }
}

/// A stream as a whole.
fn on(stream: &str) -> Loc<'_> {
    Loc { stream: Some(stream), ..Loc::default() }
}

/// The ledger as a whole.
const NOWHERE: Loc<'static> = Loc { stream: None, version: None, position: None };

impl Auditor {
    fn new(options: AuditOptions, checkpoint: Option<Position>) -> Self {
        Self {
            options,
            checkpoint,
            accounts: Accounts::default(),
            wallets: HashMap::new(),
            entries: HashMap::new(),
            payments: HashMap::new(),
            totals: Totals::default(),
            wallet_events: 0,
            payment_events: 0,
            top_ups: 0,
            events_not_projected: 0,
            warnings: Vec::new(),
            mismatch_count: 0,
            mismatches: Vec::new(),
        }
    }

    fn report(&mut self, kind: MismatchKind, location: Loc<'_>, reason: String) {
        self.report_entry(kind, location, None, reason);
    }

    fn report_entry(
        &mut self,
        kind: MismatchKind,
        Loc { stream, version, position }: Loc<'_>,
        entry_id: Option<Uuid>,
        reason: String,
    ) {
        self.mismatch_count += 1;
        if self.mismatches.len() < self.options.max_mismatches {
            let stream = stream.map(str::to_owned);
            self.mismatches.push(Mismatch { kind, stream, version, position, entry_id, reason });
        }
    }

    /// Whether the projection has applied the event at `position`.
    fn projected(&self, position: Position) -> bool {
        self.checkpoint.is_none_or(|checkpoint| position <= checkpoint)
    }

    // -- payments ------------------------------------------------------------------------------

    fn start_payment(&mut self, stream: &str) -> PaymentScan {
        let id = stream.strip_prefix("payment-").and_then(|id| Uuid::parse_str(id).ok());
        if id.is_none_or(|id| format!("payment-{id}") != stream) {
            self.report(
                MismatchKind::StreamName,
                on(stream),
                "a payment stream's id must be a lowercase hyphenated UUID".to_owned(),
            );
        }
        PaymentScan {
            id,
            check: PaymentCheck {
                stream: stream.to_owned(),
                last_version: 0,
                last_position: 0,
                payer: None,
                payee: None,
                expected: LegSums::default(),
                actual: LegSums::default(),
                projected: None,
                broken: false,
                compared: false,
            },
            state: Payment::default(),
            prefix_open: true,
        }
    }

    fn payment_event(&mut self, scan: &mut PaymentScan, recorded: &RecordedEvent) {
        self.payment_events += 1;
        let (version, position) = (recorded.stream_version, recorded.position.global_position);
        let here = at(&scan.check.stream, version, position);
        let projected = self.projected(recorded.position);
        if !projected {
            self.events_not_projected += 1;
        }
        if version != scan.check.last_version + 1 {
            scan.check.broken = true;
            self.report(
                MismatchKind::Sequence,
                here,
                format!(
                    "version {version} where {} was expected (an event is missing)",
                    scan.check.last_version + 1
                ),
            );
        }
        scan.check.last_version = version;
        scan.check.last_position = position;
        let event = match recorded.decode::<PaymentEvent>() {
            Ok(event) => event,
            Err(error) => {
                scan.check.broken = true;
                scan.prefix_open = false;
                self.report(MismatchKind::Undecodable, here, error.to_string());
                return;
            }
        };
        if let Err(why) = self.payment_rule(scan, &event) {
            self.report(MismatchKind::PaymentState, here, why);
        }
        let expected = &mut scan.check.expected;
        match &event {
            PaymentEvent::Paid(e) => {
                expected.add(0, e.amount);
                expected.add(1, e.amount);
            }
            PaymentEvent::Authorized(e) => expected.add(2, e.amount),
            PaymentEvent::Captured(e) => {
                expected.add(3, e.amount);
                expected.add(4, e.released);
                expected.add(1, e.amount);
            }
            PaymentEvent::Voided(e) | PaymentEvent::Expired(e) => expected.add(5, e.amount),
            PaymentEvent::Refunded(e) => {
                expected.add(6, e.amount);
                expected.add(7, e.amount);
            }
        }
        if let PaymentEvent::Paid(looppay::PaymentPaid { payer, payee, .. })
        | PaymentEvent::Authorized(looppay::PaymentAuthorized { payer, payee, .. }) = &event
            && scan.check.payer.is_none()
        {
            scan.check.payer = Some(self.accounts.intern(payer));
            scan.check.payee = Some(self.accounts.intern(payee));
        }
        scan.state.apply(&event);
        if scan.prefix_open && projected {
            scan.check.projected = Some((scan.state.status, scan.state.amount, scan.state.refunded));
        } else {
            scan.prefix_open = false;
        }
    }

    /// The payment's rules, checked against its state before `event`.
    fn payment_rule(&self, scan: &PaymentScan, event: &PaymentEvent) -> Result<(), String> {
        let state = &scan.state;
        let positive = |amount: i64, what: &str| {
            if amount > 0 { Ok(()) } else { Err(format!("{what} of {amount}: amounts are positive")) }
        };
        let opens = |payer: &str, payee: &str, amount: i64, what: &str| {
            if state.status != PaymentStatus::None {
                return Err(format!("{what} of a payment that is already {}", state.status.as_str()));
            }
            let wallet = |a: &str| LedgerAccount::parse(a).is_some_and(|a| a.has_stream());
            if !wallet(payer) || !wallet(payee) || payer == payee {
                return Err(format!("{what} from {payer} to {payee}: both must be distinct wallets"));
            }
            positive(amount, what)
        };
        let held = |what: &str| {
            if state.status == PaymentStatus::Held {
                Ok(())
            } else {
                Err(format!("{what} of a payment that is {}, not held", state.status.as_str()))
            }
        };
        match event {
            PaymentEvent::Paid(e) => opens(&e.payer, &e.payee, e.amount, "payment.paid"),
            PaymentEvent::Authorized(e) => opens(&e.payer, &e.payee, e.amount, "payment.authorized"),
            PaymentEvent::Captured(e) => {
                held("payment.captured")?;
                positive(e.amount, "payment.captured")?;
                if e.released < 0 || i128::from(e.amount) + i128::from(e.released) != i128::from(state.amount)
                {
                    return Err(format!(
                        "payment.captured of {} releasing {} from a hold of {}",
                        e.amount, e.released, state.amount
                    ));
                }
                Ok(())
            }
            PaymentEvent::Voided(e) | PaymentEvent::Expired(e) => {
                held("hold release")?;
                if e.amount != state.amount {
                    return Err(format!("hold release of {} from a hold of {}", e.amount, state.amount));
                }
                Ok(())
            }
            PaymentEvent::Refunded(e) => {
                if state.status != PaymentStatus::Paid {
                    return Err(format!("payment.refunded of a payment that is {}", state.status.as_str()));
                }
                positive(e.amount, "payment.refunded")?;
                let refunded = i128::from(state.refunded) + i128::from(e.amount);
                if refunded > i128::from(state.amount) {
                    return Err(format!("refunds of {refunded} exceed the {} paid", state.amount));
                }
                Ok(())
            }
        }
    }

    fn finish_payment(&mut self, scan: PaymentScan) {
        if let Some(id) = scan.id
            && let Some(old) = self.payments.insert(id, scan.check)
        {
            // Two streams for one payment id (differently spelled): keep both reported.
            self.report(
                MismatchKind::StreamName,
                on(&old.stream),
                format!("another stream also holds payment {id}"),
            );
        }
    }

    // -- wallets -------------------------------------------------------------------------------

    fn start_wallet(&mut self, stream: &str) -> WalletScan {
        let id = stream.strip_prefix("wallet-").unwrap_or(stream);
        let is_wallet = LedgerAccount::parse(id).is_some_and(|a| a.has_stream() && a.to_string() == id);
        if !is_wallet {
            self.report(
                MismatchKind::StreamName,
                on(stream),
                format!("`{id}` is not a wallet account (a lowercase user id or system.escrow)"),
            );
        }
        WalletScan {
            account: self.accounts.intern(id),
            stream: stream.to_owned(),
            chain: ChainVerifier::default(),
            broken: false,
            available: 0,
            held: 0,
            projected: None,
            prefix_open: true,
        }
    }

    fn wallet_event(&mut self, scan: &mut WalletScan, recorded: &RecordedEvent) {
        self.wallet_events += 1;
        let (version, position) = (recorded.stream_version, recorded.position.global_position);
        let here = at(&scan.stream, version, position);
        let projected = self.projected(recorded.position);
        if !projected {
            self.events_not_projected += 1;
        }
        let event = match recorded.decode::<WalletEvent>() {
            Ok(event) => event,
            Err(error) => {
                if !scan.broken {
                    scan.broken = true;
                    self.report(MismatchKind::Undecodable, here, error.to_string());
                }
                scan.prefix_open = false;
                return;
            }
        };
        let entry = event.entry();
        let kind = event.kind();

        // 1. The chain: the first break of each wallet.
        if !scan.broken {
            let account = self.accounts.name(scan.account);
            let broken = match scan.chain.check(&event) {
                Err(why) => Some((MismatchKind::of_break(why), why.to_string())),
                Ok(()) if entry.account != account => Some((
                    MismatchKind::Account,
                    format!("the event names account {:?}, not its stream's", entry.account),
                )),
                Ok(()) if entry.sequence != version => Some((
                    MismatchKind::Sequence,
                    format!("sequence {} stored at stream version {version}", entry.sequence),
                )),
                Ok(()) => None,
            };
            if let Some((kind, reason)) = broken {
                scan.broken = true;
                self.report(kind, here, reason);
            }
        }

        // 2. The leg itself.
        if let Err(why) = leg_shape(kind, entry) {
            self.report(MismatchKind::LegShape, here, why);
        }

        // 3. Money: the wallet's recomputed balances, the funding account, the entry.
        scan.available += i128::from(entry.available_delta);
        scan.held += i128::from(entry.held_delta);
        let mut leg_sum = i128::from(entry.available_delta) + i128::from(entry.held_delta);
        if kind == WalletEventKind::ToppedUp {
            self.top_ups += 1;
            self.totals.funding -= i128::from(entry.amount);
            leg_sum -= i128::from(entry.amount);
        }
        let counterparty = entry.counterparty.as_deref().map(|c| self.accounts.intern(c));
        let side = Side { account: scan.account, counterparty };
        let leg = LegRef { wallet: scan.account, version, position };
        let tally = self.entries.entry(entry.entry_id).or_insert(EntryTally {
            sum: 0,
            kinds: 0,
            debit: None,
            credit: None,
            first: leg,
        });
        tally.sum += leg_sum;
        let duplicate = tally.kinds & bit(kind) != 0;
        tally.kinds |= bit(kind);
        if is_debit(kind) && tally.debit.is_none() {
            tally.debit = Some(side);
        } else if is_credit(kind) && tally.credit.is_none() {
            tally.credit = Some(side);
        }
        if duplicate {
            self.report_entry(
                MismatchKind::DuplicateLeg,
                here,
                Some(entry.entry_id),
                format!("a second {} leg in entry {}", name(kind), entry.entry_id),
            );
        }

        // 4. The payment the leg belongs to.
        if let (Some((slot, payer_side)), Some(payment_id)) = (payment_slot(kind), entry.payment_id) {
            self.payment_leg(scan.account, payment_id, slot, payer_side, &event, here);
        }

        // 5. The wallet as the projection must have it.
        if scan.prefix_open && projected && !scan.broken {
            let head = scan.projected.get_or_insert_with(Head::default);
            head.available = entry.available_after;
            head.held = entry.held_after;
            head.sequence = entry.sequence;
            head.last_hash.clone_from(&entry.hash);
            head.position = position;
        } else {
            scan.prefix_open = false;
        }
    }

    fn payment_leg(
        &mut self,
        account: u32,
        payment_id: Uuid,
        slot: usize,
        payer_side: bool,
        event: &WalletEvent,
        here: Loc<'_>,
    ) {
        let entry = event.entry();
        let kind = name(event.kind());
        let Some(payment) = self.payments.get_mut(&payment_id) else {
            self.report(
                MismatchKind::PaymentLegs,
                here,
                format!("a {kind} leg of payment {payment_id}, which has no payment stream"),
            );
            return;
        };
        payment.actual.add(slot, entry.amount);
        if event.kind() == WalletEventKind::HoldCaptured {
            payment.actual.add(4, entry.available_delta);
        }
        let (party, other) =
            if payer_side { (payment.payer, payment.payee) } else { (payment.payee, payment.payer) };
        let counterparty = entry.counterparty.as_deref().map(|c| self.accounts.intern(c));
        let role = if payer_side { "payer" } else { "payee" };
        if party.is_some() && party != Some(account) {
            let expected = party.map_or("?", |p| self.accounts.name(p)).to_owned();
            self.report(
                MismatchKind::PaymentLegs,
                here,
                format!("a {kind} leg of payment {payment_id} in this wallet, but the payment's {role} is {expected}"),
            );
        } else if other.is_some() && other != counterparty {
            let expected = other.map_or("?", |p| self.accounts.name(p)).to_owned();
            self.report(
                MismatchKind::Counterparty,
                here,
                format!(
                    "a {kind} leg of payment {payment_id} names {:?} as the other side, but the payment says {expected}",
                    entry.counterparty
                ),
            );
        }
    }

    fn finish_wallet(&mut self, scan: WalletScan) {
        self.totals.available += scan.available;
        self.totals.held += scan.held;
        if self.accounts.name(scan.account) == LedgerAccount::ESCROW {
            self.totals.escrow += scan.available + scan.held;
        }
        let last = WalletFinal { projected: scan.projected, broken: scan.broken, compared: false };
        if self.wallets.insert(scan.account, last).is_some() {
            self.report(
                MismatchKind::StreamName,
                on(&scan.stream),
                "this account's events are in two streams".to_owned(),
            );
        }
    }

    // -- after the scans -----------------------------------------------------------------------

    fn check_entries(&mut self) {
        let complete = complete_entries();
        let mut found: Vec<(i64, Mismatch)> = Vec::new();
        let mut extra = 0u64;
        let keep = self.options.max_mismatches;
        for (id, tally) in &self.entries {
            let stream = format!("wallet-{}", self.accounts.name(tally.first.wallet));
            let mut push = |kind, reason: String| {
                if found.len() < keep {
                    let mismatch = Mismatch {
                        kind,
                        stream: Some(stream.clone()),
                        version: Some(tally.first.version),
                        position: Some(tally.first.position),
                        entry_id: Some(*id),
                        reason,
                    };
                    found.push((tally.first.position, mismatch));
                } else {
                    extra += 1;
                }
            };
            if tally.sum != 0 {
                push(
                    MismatchKind::UnbalancedEntry,
                    format!(
                        "entry {id} ({}) does not balance: its legs sum to {:+}{}",
                        names(tally.kinds),
                        tally.sum,
                        if tally.kinds & bit(WalletEventKind::ToppedUp) != 0 {
                            " with the implied system.funding leg"
                        } else {
                            ""
                        }
                    ),
                );
            }
            if !complete.contains(&tally.kinds) {
                push(
                    MismatchKind::IncompleteEntry,
                    format!(
                        "entry {id} has legs {} and is not a whole movement (expected {})",
                        names(tally.kinds),
                        expected_legs(tally.kinds)
                    ),
                );
            }
            if let (Some(debit), Some(credit)) = (tally.debit, tally.credit)
                && (debit.counterparty != Some(credit.account) || credit.counterparty != Some(debit.account))
            {
                let show = |id: Option<u32>| id.map_or("(none)", |id| self.accounts.name(id)).to_owned();
                push(
                    MismatchKind::Counterparty,
                    format!(
                        "entry {id}: {} pays {} naming {} as its counterparty, and {} names {}",
                        show(Some(debit.account)),
                        show(Some(credit.account)),
                        show(debit.counterparty),
                        show(Some(credit.account)),
                        show(credit.counterparty)
                    ),
                );
            }
        }
        found.sort_by_key(|(position, m)| (*position, m.kind.as_str()));
        for (_, mismatch) in found {
            self.mismatch_count += 1;
            if self.mismatches.len() < self.options.max_mismatches {
                self.mismatches.push(mismatch);
            }
        }
        self.mismatch_count += extra;
    }

    fn check_payments(&mut self) {
        let mut payments: Vec<(&Uuid, &PaymentCheck)> = self.payments.iter().collect();
        payments.sort_by(|a, b| a.1.stream.cmp(&b.1.stream));
        let mut found = Vec::new();
        for (id, payment) in payments {
            if payment.expected == payment.actual {
                continue;
            }
            for (slot, what) in LEG_SLOTS.iter().enumerate() {
                let (expected, actual) = (payment.expected.0[slot], payment.actual.0[slot]);
                if expected != actual {
                    found.push((
                        (payment.stream.clone(), payment.last_version, payment.last_position),
                        format!("payment {id}: its {what} legs total {actual}, its events say {expected}"),
                    ));
                }
            }
        }
        for ((stream, version, position), reason) in found {
            self.report(MismatchKind::PaymentLegs, at(&stream, version, position), reason);
        }
    }

    fn check_conservation(&mut self) {
        let t = &mut self.totals;
        t.circulation = t.available + t.held;
        t.imbalance = t.circulation + t.funding;
        if t.imbalance != 0 {
            let reason = format!(
                "the wallets hold {} in total but {} entered through system.funding: {:+} unaccounted for",
                t.circulation, -t.funding, t.imbalance
            );
            self.report(MismatchKind::Conservation, NOWHERE, reason);
        }
    }

    /// Compares `read_models.wallet_balances` (and `ledger_payments`) with the replay.
    async fn compare_read_models(
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
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT c.transaction_id::text::bigint, c.global_position FROM projections p \
         JOIN projection_checkpoints c ON c.projection = p.name AND c.generation = p.active_generation \
         WHERE p.name = $1",
    )
    .bind(projection)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|(t, p)| Position::new(t, p)))
}

/// Waits until `projection`'s checkpoint has reached the last committed event, for at most
/// `timeout`. Returns whether it did.
pub async fn wait_for_projection(
    pool: &PgPool,
    projection: &str,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let started = Instant::now();
    loop {
        let last: Option<(i64, i64)> = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM events \
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        let Some((t, p)) = last else { return Ok(true) };
        if projection_checkpoint(pool, projection).await?.is_some_and(|c| c >= Position::new(t, p)) {
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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

    // Payments first ('payment-' < 'wallet-' anyway): their legs are checked as wallets stream by.
    {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'payment-%' ORDER BY stream_name, stream_version"
        );
        let mut rows = sqlx::query_as::<_, EventRow>(&sql).fetch(&mut *tx);
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
    }
    {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'wallet-%' ORDER BY stream_name, stream_version"
        );
        let mut rows = sqlx::query_as::<_, EventRow>(&sql).fetch(&mut *tx);
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
    }

    auditor.check_entries();
    auditor.check_payments();
    auditor.check_conservation();

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
    })
}
