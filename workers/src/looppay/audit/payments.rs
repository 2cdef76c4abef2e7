//! Payments: every payment stream (`payment-<uuid>`) replayed against its rules, and the
//! wallet legs that reference it held against its events.
//!
//! A payment opens once, a hold is settled once and by no more than it holds, refunds never
//! exceed what was paid ([`Auditor::payment_rule`]). Payments stream before wallets, so each
//! payment leg is checked as its wallet streams by: it must be in the payer's (or payee's)
//! wallet and name the other party ([`Auditor::payment_leg`]); its amount is added to the
//! payment's sums by kind, which [`Auditor::check_payments`] compares with what the payment's
//! events say once every wallet has been read.

use super::auditor::{Auditor, Loc, at, on};
use super::double_entry::name;
use super::report::MismatchKind;
use loopync_domain::Aggregate;
use loopync_domain::looppay::{
    self, LedgerAccount, Payment, PaymentEvent, PaymentStatus, WalletEvent, WalletEventKind,
};
use loopync_schemas::RecordedEvent;
use uuid::Uuid;

/// Sums of the amounts of a payment's wallet legs, by kind (and the part of captured holds
/// released back to the payer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LegSums([i64; 8]);

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
pub(super) fn payment_slot(kind: WalletEventKind) -> Option<(usize, bool)> {
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
pub(super) struct PaymentCheck {
    pub(super) stream: String,
    pub(super) last_version: i64,
    pub(super) last_position: i64,
    pub(super) payer: Option<u32>,
    pub(super) payee: Option<u32>,
    pub(super) expected: LegSums,
    pub(super) actual: LegSums,
    /// Status, amount and refunded as of the projection's checkpoint.
    pub(super) projected: Option<(PaymentStatus, i64, i64)>,
    pub(super) broken: bool,
    pub(super) compared: bool,
}

/// The payment being streamed.
pub(super) struct PaymentScan {
    pub(super) id: Option<Uuid>,
    pub(super) check: PaymentCheck,
    pub(super) state: Payment,
    pub(super) prefix_open: bool,
}

impl Auditor {
    pub(super) fn start_payment(&mut self, stream: &str) -> PaymentScan {
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

    pub(super) fn payment_event(&mut self, scan: &mut PaymentScan, recorded: &RecordedEvent) {
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

    pub(super) fn finish_payment(&mut self, scan: PaymentScan) {
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

    pub(super) fn payment_leg(
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

    pub(super) fn check_payments(&mut self) {
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
}
