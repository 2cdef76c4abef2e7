//! LoopPay's rules, one group per file, on a shared in-memory ledger that grows only by what
//! the decisions accept.

mod chain;
mod event_types;
mod holds;
mod payments;
mod refunds;
mod top_ups;
mod transfers;

use super::*;
use crate::given::{credits, given, given_streams};
use crate::{Aggregate, Decision, DomainEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};
use event_types::ALL_KINDS;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Time, ids, accounts and limits
// ---------------------------------------------------------------------------------------------

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2026, 11, day, hour, minute, second).single() {
        Some(time) => time,
        None => panic!("2026-11-{day} {hour}:{minute}:{second} is not a UTC time"),
    }
}

/// When every rule happens unless it says otherwise.
fn now() -> DateTime<Utc> {
    at(21, 12, 0, 0)
}

/// A little later the same day.
fn soon() -> DateTime<Utc> {
    now() + Duration::minutes(5)
}

/// When the holds of these rules expire: they last 15 minutes.
fn hold_expiry() -> DateTime<Utc> {
    now() + Duration::minutes(15)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

const ADA: LedgerAccount = LedgerAccount::User(Uuid::from_u128(0xada));
const BOB: LedgerAccount = LedgerAccount::User(Uuid::from_u128(0xb0b));
const ESCROW: LedgerAccount = LedgerAccount::Escrow;
const FUNDING: LedgerAccount = LedgerAccount::Funding;

const PAYMENT: Uuid = Uuid::from_u128(0x9a1);
const HOLD: Uuid = Uuid::from_u128(0x401);

const LIMITS: TopUpLimits = TopUpLimits { per_top_up: 10_000, daily: 25_000, pending: 3 };
const UNLIMITED: TopUpLimits = TopUpLimits { per_top_up: i64::MAX, daily: i64::MAX, pending: usize::MAX };

/// How long a requested top-up may stay pending in these rules.
fn pending_window() -> Duration {
    Duration::minutes(60)
}

#[track_caller]
fn accepted<T, E: fmt::Debug>(outcome: Result<T, E>) -> T {
    match outcome {
        Ok(value) => value,
        Err(error) => panic!("expected it to be accepted, but it was refused: {error:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Wallet commands and expected events
// ---------------------------------------------------------------------------------------------

fn request_top_up(
    top_up: u128,
    amount: i64,
    confirmed: bool,
    limits: TopUpLimits,
    now: DateTime<Utc>,
) -> WalletCommand {
    WalletCommand::RequestTopUp {
        account: ADA,
        top_up_id: id(top_up),
        amount: credits(amount),
        confirmed,
        limits,
        now,
    }
}

fn confirm_top_up(top_up: u128, now: DateTime<Utc>) -> WalletCommand {
    WalletCommand::ConfirmTopUp { account: ADA, top_up_id: id(top_up), now }
}

fn fail_top_up(top_up: u128, now: DateTime<Utc>) -> WalletCommand {
    WalletCommand::FailTopUp { account: ADA, top_up_id: id(top_up), now }
}

fn expire_top_up(top_up: u128, now: DateTime<Utc>) -> WalletCommand {
    WalletCommand::ExpireTopUp { account: ADA, top_up_id: id(top_up), window: pending_window(), now }
}

/// Ada's history after these commands, each decided against the state the previous ones left.
fn decided(commands: impl IntoIterator<Item = WalletCommand>) -> Vec<WalletEvent> {
    let mut wallet = Wallet::default();
    let mut events = Vec::new();
    for command in commands {
        for event in accepted(wallet.decide(&command)) {
            wallet.apply(&event);
            events.push(event);
        }
    }
    events
}

/// An entry of `account` that moves nothing, at `now()`, to be completed by the rule.
fn entry(account: LedgerAccount, sequence: i64, prev_hash: &str) -> WalletEntry {
    WalletEntry {
        account: account.to_string(),
        sequence,
        entry_id: Uuid::nil(),
        amount: 0,
        available_delta: 0,
        held_delta: 0,
        available_after: 0,
        held_after: 0,
        counterparty: None,
        payment_id: None,
        top_up_id: None,
        reference: None,
        note: None,
        occurred_at: now(),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    }
}

/// The event of `kind` carrying `entry` with the hash it must have.
fn sealed(kind: WalletEventKind, mut entry: WalletEntry) -> WalletEvent {
    entry.hash = entry.expected_hash(kind.event_type());
    kind.wrap(entry)
}

/// The same event with its entry edited, and its hash left as it was.
fn edited(event: &WalletEvent, edit: impl FnOnce(&mut WalletEntry)) -> WalletEvent {
    let mut entry = event.entry().clone();
    edit(&mut entry);
    event.kind().wrap(entry)
}

/// The same event with its hash recomputed from its (edited) contents.
fn rehashed(event: &WalletEvent) -> WalletEvent {
    sealed(event.kind(), event.entry().clone())
}

// ---------------------------------------------------------------------------------------------
// A ledger: every wallet's and payment's history, grown only by what the decision functions
// accept
// ---------------------------------------------------------------------------------------------

type TwoWallets = (Vec<WalletEvent>, Vec<WalletEvent>);
type TwoWalletsAndPayment = (Vec<WalletEvent>, Vec<WalletEvent>, Vec<PaymentEvent>);
type WalletAndPayment = (Vec<WalletEvent>, Vec<PaymentEvent>);

#[derive(Default, Clone)]
struct Ledger {
    wallets: BTreeMap<LedgerAccount, Vec<WalletEvent>>,
    payments: BTreeMap<Uuid, Vec<PaymentEvent>>,
    top_ups: u128,
}

impl Ledger {
    fn history(&self, account: LedgerAccount) -> &[WalletEvent] {
        self.wallets.get(&account).map(Vec::as_slice).unwrap_or_default()
    }

    fn wallet(&self, account: LedgerAccount) -> Wallet {
        Wallet::default().fold(self.history(account))
    }

    fn payment(&self, payment_id: Uuid) -> Payment {
        Payment::default().fold(self.payments.get(&payment_id).map(Vec::as_slice).unwrap_or_default())
    }

    fn append(&mut self, account: LedgerAccount, events: &[WalletEvent]) {
        self.wallets.entry(account).or_default().extend_from_slice(events);
    }

    fn append_payment(&mut self, payment_id: Uuid, events: &[PaymentEvent]) {
        self.payments.entry(payment_id).or_default().extend_from_slice(events);
    }

    fn decide(
        &mut self,
        account: LedgerAccount,
        command: &WalletCommand,
    ) -> Result<Vec<WalletEvent>, LedgerError> {
        let events = self.wallet(account).decide(command)?;
        self.append(account, &events);
        Ok(events)
    }

    /// Credits `amount` through a top-up its provider confirmed at once.
    fn fund(&mut self, account: LedgerAccount, amount: i64) {
        self.top_ups += 1;
        let command = WalletCommand::RequestTopUp {
            account,
            top_up_id: id(0xf00d_0000 + self.top_ups),
            amount: credits(amount),
            confirmed: true,
            limits: UNLIMITED,
            now: now(),
        };
        accepted(self.decide(account, &command));
    }

    fn transfer(&mut self, command: &Transfer) -> Result<TwoWallets, LedgerError> {
        let (sent, received) = command.decide((&self.wallet(command.from), &self.wallet(command.to)))?;
        self.append(command.from, &sent);
        self.append(command.to, &received);
        Ok((sent, received))
    }

    fn pay(&mut self, command: &Pay) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (sent, received, paid) =
            command.decide((&self.wallet(command.payer), &self.wallet(command.payee), &payment))?;
        self.append(command.payer, &sent);
        self.append(command.payee, &received);
        self.append_payment(command.payment_id, &paid);
        Ok((sent, received, paid))
    }

    fn place_hold(&mut self, command: &PlaceHold) -> Result<WalletAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (placed, authorized) = command.decide((&self.wallet(command.payer), &payment))?;
        self.append(command.payer, &placed);
        self.append_payment(command.payment_id, &authorized);
        Ok((placed, authorized))
    }

    /// The accounts of a payment, as the server looks them up before a capture, release or
    /// refund; for an unknown payment, Ada's and the escrow's, so that the decisions
    /// themselves answer.
    fn accounts(payment: &Payment) -> (LedgerAccount, LedgerAccount) {
        payment_accounts(payment).unwrap_or((ADA, ESCROW))
    }

    fn capture(&mut self, command: &CaptureHold) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, payee) = Self::accounts(&payment);
        let command = CaptureHold { accounts: (payer, payee), ..command.clone() };
        let (captured, received, event) =
            command.decide((&self.wallet(payer), &self.wallet(payee), &payment))?;
        self.append(payer, &captured);
        self.append(payee, &received);
        self.append_payment(command.payment_id, &event);
        Ok((captured, received, event))
    }

    fn release(&mut self, command: &ReleaseHold) -> Result<WalletAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, _) = Self::accounts(&payment);
        let command = ReleaseHold { payer, ..command.clone() };
        let (released, event) = command.decide((&self.wallet(payer), &payment))?;
        self.append(payer, &released);
        self.append_payment(command.payment_id, &event);
        Ok((released, event))
    }

    fn refund(&mut self, command: &Refund) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, payee) = Self::accounts(&payment);
        let command = Refund { accounts: (payer, payee), ..command.clone() };
        let (sent, received, event) = command.decide((&self.wallet(payee), &self.wallet(payer), &payment))?;
        self.append(payee, &sent);
        self.append(payer, &received);
        self.append_payment(command.payment_id, &event);
        Ok((sent, received, event))
    }
}

fn transfer_of(entry: u128, amount: i64, from: LedgerAccount, to: LedgerAccount) -> Transfer {
    Transfer {
        entry_id: id(entry),
        from,
        to,
        amount: credits(amount),
        note: Some("for the tickets".into()),
        now: now(),
    }
}

fn payment_of(payment_id: Uuid, amount: i64, payer: LedgerAccount, payee: LedgerAccount) -> Pay {
    Pay {
        payment_id,
        payer,
        payee,
        amount: credits(amount),
        reference: "order:17".into(),
        note: Some("two tickets".into()),
        now: now(),
    }
}

/// Ada holds `amount` for the escrow account, for 15 minutes.
fn hold_of(payment_id: Uuid, amount: i64) -> PlaceHold {
    PlaceHold {
        payment_id,
        payer: ADA,
        payee: ESCROW,
        amount: credits(amount),
        reference: "event:42".into(),
        expires_at: hold_expiry(),
        now: now(),
    }
}

fn capture(payment_id: Uuid, amount: Option<i64>, now: DateTime<Utc>) -> CaptureHold {
    CaptureHold { payment_id, accounts: (ADA, ESCROW), amount: amount.map(credits), now }
}

fn void(payment_id: Uuid, now: DateTime<Utc>) -> ReleaseHold {
    ReleaseHold { payment_id, payer: ADA, why: Release::Void, now }
}

fn expire(payment_id: Uuid, now: DateTime<Utc>) -> ReleaseHold {
    ReleaseHold { payment_id, payer: ADA, why: Release::Expire, now }
}

fn refund_of(payment_id: Uuid, refund: u128, amount: Option<i64>) -> Refund {
    Refund {
        payment_id,
        accounts: (ADA, ESCROW),
        refund_id: id(refund),
        amount: amount.map(credits),
        reason: Some("cancelled".into()),
        now: now(),
    }
}

/// Ada has 1 000 credits and 400 of them held for the escrow account ([`HOLD`]).
fn held_ledger() -> Ledger {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    accepted(ledger.place_hold(&hold_of(HOLD, 400)));
    ledger
}

/// Ada has 1 000 credits and paid 500 of them to `payee` ([`PAYMENT`]).
fn paid_ledger(payee: LedgerAccount) -> Ledger {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    accepted(ledger.pay(&payment_of(PAYMENT, 500, ADA, payee)));
    ledger
}
