//! What an audit finds: the [`AuditReport`] (counts, totals, warnings, read-model comparison)
//! and each [`Mismatch`] in it, named by its [`MismatchKind`] and located by stream, version
//! and global position. `loopync audit ledger` prints the report as text (its [`Display`]) or
//! JSON ([`AuditReport::to_json`]), each mismatch under its kind's name ([`MismatchKind::as_str`]).
//!
//! [`Display`]: fmt::Display

use super::heads::ChainHeads;
use chrono::{DateTime, Utc};
use loopync_domain::looppay::ChainBreak;
use loopync_schemas::Position;
use serde::Serialize;
use std::fmt;
use uuid::Uuid;

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
    /// An exported chain head (`--verify-heads`) whose event is no longer in its wallet.
    HeadMissing,
    /// An exported chain head whose event now carries another hash: history up to it was
    /// rewritten.
    HeadChanged,
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
            Self::HeadMissing => "head_missing",
            Self::HeadChanged => "head_changed",
        }
    }

    /// The chain break of [`looppay::verify_chain`] this kind reports.
    ///
    /// [`looppay::verify_chain`]: loopync_domain::looppay::verify_chain
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
    /// Exported chain heads checked against the log (`--verify-heads`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads_verified: Option<u64>,
    /// Chain heads written to a file (`--export-heads`), once they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads_exported: Option<u64>,
    /// The chain heads of this snapshot, when asked for and the ledger is clean: what
    /// `--export-heads` writes.
    #[serde(skip)]
    pub heads: Option<ChainHeads>,
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
        if let Some(verified) = self.heads_verified {
            writeln!(f, "  chain heads       {verified} exported heads checked")?;
        }
        if let Some(exported) = self.heads_exported {
            writeln!(f, "  chain heads       {exported} exported")?;
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
