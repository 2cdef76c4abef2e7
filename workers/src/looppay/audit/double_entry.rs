//! Double entry and conservation: the money checks, which catch what a chain re-sealed with
//! the domain's own hash hides.
//!
//! Every wallet leg is checked against its kind ([`leg_shape`]) and tallied into its entry
//! (grouped by `entryId` across all wallets) as the wallets stream by; once they all have,
//! [`Auditor::check_entries`] proves each entry sums to zero (a top-up's implied
//! `system.funding` leg included), forms a whole movement and has its sides name each other,
//! and [`Auditor::check_conservation`] proves that all the wallets plus the funding account sum
//! to zero. An entry is a few bits and two interned accounts, never its legs: the tallies stay
//! small however many events the ledger has.

use super::auditor::{Auditor, NOWHERE};
use super::report::{Mismatch, MismatchKind};
use loopync_domain::looppay::{LedgerAccount, WalletEntry, WalletEventKind};

const KINDS: [WalletEventKind; 13] = WalletEventKind::ALL;

pub(super) fn bit(kind: WalletEventKind) -> u16 {
    let index = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    1 << index
}

fn bits(kinds: &[WalletEventKind]) -> u16 {
    kinds.iter().fold(0, |mask, kind| mask | bit(*kind))
}

pub(super) fn name(kind: WalletEventKind) -> &'static str {
    kind.event_type().trim_start_matches("wallet.")
}

fn names(mask: u16) -> String {
    let names: Vec<&str> = KINDS.iter().filter(|k| mask & bit(**k) != 0).map(|k| name(*k)).collect();
    names.join(" + ")
}

/// The complete movements: which kinds of leg an entry may have, all together.
fn complete_entries() -> [u16; 11] {
    use WalletEventKind as K;
    [
        bits(&[K::ToppedUp]),
        bits(&[K::TopUpRequested]),
        bits(&[K::TopUpRequested, K::ToppedUp]),
        bits(&[K::TopUpRequested, K::TopUpFailed]),
        bits(&[K::TopUpRequested, K::TopUpExpired]),
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
    } else if mask & bits(&[K::TopUpRequested, K::ToppedUp, K::TopUpFailed, K::TopUpExpired]) != 0 {
        "[top_up_requested +] topped_up, or top_up_requested [+ top_up_failed | top_up_expired]"
    } else {
        "payment_sent + payment_received, or hold_placed [+ hold_released | hold_captured + payment_received]"
    }
}

/// The leg that takes credits out of a wallet to the other side of a two-sided entry.
pub(super) fn is_debit(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TransferSent | K::PaymentSent | K::HoldCaptured | K::RefundSent)
}

/// The leg that brings them in.
pub(super) fn is_credit(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TransferReceived | K::PaymentReceived | K::RefundReceived)
}

fn is_top_up(kind: WalletEventKind) -> bool {
    use WalletEventKind as K;
    matches!(kind, K::TopUpRequested | K::ToppedUp | K::TopUpFailed | K::TopUpExpired)
}

/// Whether the deltas, amount and ids of a leg fit its kind; why not otherwise.
pub(super) fn leg_shape(kind: WalletEventKind, e: &WalletEntry) -> Result<(), String> {
    use WalletEventKind as K;
    if e.amount <= 0 {
        return Err(format!("{} with amount {}: amounts are positive", name(kind), e.amount));
    }
    let (a, h, amount) = (e.available_delta, e.held_delta, e.amount);
    let deltas_ok = match kind {
        K::TopUpRequested | K::TopUpFailed | K::TopUpExpired => a == 0 && h == 0,
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
pub(super) struct LegRef {
    pub(super) wallet: u32,
    pub(super) version: i64,
    pub(super) position: i64,
}

/// One side of a two-sided entry: whose wallet, and whom it names as the other side.
#[derive(Debug, Clone, Copy)]
pub(super) struct Side {
    pub(super) account: u32,
    pub(super) counterparty: Option<u32>,
}

/// An entry as its legs add up so far (see the audit's module documentation for its size).
#[derive(Debug, Clone)]
pub(super) struct EntryTally {
    pub(super) sum: i128,
    pub(super) kinds: u16,
    pub(super) debit: Option<Side>,
    pub(super) credit: Option<Side>,
    pub(super) first: LegRef,
}

impl Auditor {
    pub(super) fn check_entries(&mut self) {
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

    pub(super) fn check_conservation(&mut self) {
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
}
