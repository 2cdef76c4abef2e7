//! The audit's state: what it keeps while the log streams by (each account name once, each
//! wallet's and payment's outcome, each entry's tally, the totals and counts), and where every
//! mismatch is recorded.
//!
//! Every mismatch is counted; only the first `max_mismatches` ([`AuditOptions`]) are kept.

use super::AuditOptions;
use super::double_entry::EntryTally;
use super::heads::ChainHead;
use super::payments::PaymentCheck;
use super::report::{Mismatch, MismatchKind, Totals};
use super::wallets::WalletFinal;
use loopync_schemas::Position;
use std::collections::HashMap;
use uuid::Uuid;

/// Each distinct account name once.
#[derive(Default)]
pub(super) struct Accounts {
    pub(super) ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
}

impl Accounts {
    pub(super) fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    pub(super) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }
}

/// Everything the audit has learnt so far; turned into the [`AuditReport`](super::AuditReport) at the end.
pub(super) struct Auditor {
    pub(super) options: AuditOptions,
    /// The projection's checkpoint; `None`: compare with the whole log.
    pub(super) checkpoint: Option<Position>,
    pub(super) accounts: Accounts,
    pub(super) wallets: HashMap<u32, WalletFinal>,
    pub(super) entries: HashMap<Uuid, EntryTally>,
    pub(super) payments: HashMap<Uuid, PaymentCheck>,
    pub(super) totals: Totals,
    pub(super) wallet_events: u64,
    pub(super) payment_events: u64,
    pub(super) top_ups: u64,
    pub(super) events_not_projected: u64,
    pub(super) warnings: Vec<String>,
    pub(super) mismatch_count: u64,
    pub(super) mismatches: Vec<Mismatch>,
    /// Each unbroken wallet's chain head, when the heads are to be exported.
    pub(super) heads: Option<Vec<ChainHead>>,
}

/// Where a mismatch is: borrowed while scanning, owned only once something is reported.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Loc<'a> {
    pub(super) stream: Option<&'a str>,
    pub(super) version: Option<i64>,
    pub(super) position: Option<i64>,
}

/// An event.
pub(super) fn at(stream: &str, version: i64, position: i64) -> Loc<'_> {
    Loc { stream: Some(stream), version: Some(version), position: Some(position) }
}

/// A stream as a whole.
pub(super) fn on(stream: &str) -> Loc<'_> {
    Loc { stream: Some(stream), ..Loc::default() }
}

/// The ledger as a whole.
pub(super) const NOWHERE: Loc<'static> = Loc { stream: None, version: None, position: None };

impl Auditor {
    pub(super) fn new(options: AuditOptions, checkpoint: Option<Position>) -> Self {
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
            heads: None,
        }
    }

    pub(super) fn report(&mut self, kind: MismatchKind, location: Loc<'_>, reason: String) {
        self.report_entry(kind, location, None, reason);
    }

    pub(super) fn report_entry(
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
    pub(super) fn projected(&self, position: Position) -> bool {
        self.checkpoint.is_none_or(|checkpoint| position <= checkpoint)
    }
}
