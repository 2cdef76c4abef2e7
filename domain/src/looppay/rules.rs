use super::*;
use crate::given::given;
use chrono::{Duration, TimeZone};
use std::collections::BTreeSet;

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

const LIMITS: TopUpLimits = TopUpLimits { per_top_up: 10_000, daily: 25_000 };
const UNLIMITED: TopUpLimits = TopUpLimits { per_top_up: i64::MAX, daily: i64::MAX };

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
    WalletCommand::RequestTopUp { account: ADA, top_up_id: id(top_up), amount, confirmed, limits, now }
}

fn confirm_top_up(top_up: u128, now: DateTime<Utc>) -> WalletCommand {
    WalletCommand::ConfirmTopUp { account: ADA, top_up_id: id(top_up), now }
}

fn fail_top_up(top_up: u128, now: DateTime<Utc>) -> WalletCommand {
    WalletCommand::FailTopUp { account: ADA, top_up_id: id(top_up), now }
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

#[derive(Default)]
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
            amount,
            confirmed: true,
            limits: UNLIMITED,
            now: now(),
        };
        accepted(self.decide(account, &command));
    }

    fn transfer(&mut self, command: &Transfer) -> Result<TwoWallets, LedgerError> {
        let (sent, received) =
            super::transfer(&self.wallet(command.from), &self.wallet(command.to), command)?;
        self.append(command.from, &sent);
        self.append(command.to, &received);
        Ok((sent, received))
    }

    fn pay(&mut self, command: &Pay) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (sent, received, paid) =
            super::pay(&self.wallet(command.payer), &self.wallet(command.payee), &payment, command)?;
        self.append(command.payer, &sent);
        self.append(command.payee, &received);
        self.append_payment(command.payment_id, &paid);
        Ok((sent, received, paid))
    }

    fn place_hold(&mut self, command: &PlaceHold) -> Result<WalletAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (placed, authorized) = super::place_hold(&self.wallet(command.payer), &payment, command)?;
        self.append(command.payer, &placed);
        self.append_payment(command.payment_id, &authorized);
        Ok((placed, authorized))
    }

    /// The accounts of a payment; for an unknown payment, Ada's and the escrow's, so that the
    /// decision functions themselves answer.
    fn accounts(payment: &Payment) -> (LedgerAccount, LedgerAccount) {
        payment_accounts(payment).unwrap_or((ADA, ESCROW))
    }

    fn capture(&mut self, command: &CaptureHold) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, payee) = Self::accounts(&payment);
        let (captured, received, event) =
            capture_hold(&self.wallet(payer), &self.wallet(payee), &payment, (payer, payee), command)?;
        self.append(payer, &captured);
        self.append(payee, &received);
        self.append_payment(command.payment_id, &event);
        Ok((captured, received, event))
    }

    fn release(&mut self, command: &ReleaseHold) -> Result<WalletAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, _) = Self::accounts(&payment);
        let (released, event) = release_hold(&self.wallet(payer), &payment, payer, command)?;
        self.append(payer, &released);
        self.append_payment(command.payment_id, &event);
        Ok((released, event))
    }

    fn refund(&mut self, command: &Refund) -> Result<TwoWalletsAndPayment, LedgerError> {
        let payment = self.payment(command.payment_id);
        let (payer, payee) = Self::accounts(&payment);
        let (sent, received, event) =
            super::refund(&self.wallet(payee), &self.wallet(payer), &payment, (payer, payee), command)?;
        self.append(payee, &sent);
        self.append(payer, &received);
        self.append_payment(command.payment_id, &event);
        Ok((sent, received, event))
    }
}

fn transfer_of(entry: u128, amount: i64, from: LedgerAccount, to: LedgerAccount) -> Transfer {
    Transfer { entry_id: id(entry), from, to, amount, note: Some("for the tickets".into()), now: now() }
}

fn payment_of(payment_id: Uuid, amount: i64, payer: LedgerAccount, payee: LedgerAccount) -> Pay {
    Pay {
        payment_id,
        payer,
        payee,
        amount,
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
        amount,
        reference: "event:42".into(),
        expires_at: hold_expiry(),
        now: now(),
    }
}

fn capture(payment_id: Uuid, amount: Option<i64>, now: DateTime<Utc>) -> CaptureHold {
    CaptureHold { payment_id, amount, now }
}

fn void(payment_id: Uuid, now: DateTime<Utc>) -> ReleaseHold {
    ReleaseHold { payment_id, why: Release::Void, now }
}

fn expire(payment_id: Uuid, now: DateTime<Utc>) -> ReleaseHold {
    ReleaseHold { payment_id, why: Release::Expire, now }
}

fn refund_of(payment_id: Uuid, refund: u128, amount: Option<i64>) -> Refund {
    Refund { payment_id, refund_id: id(refund), amount, reason: Some("cancelled".into()), now: now() }
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

// ---------------------------------------------------------------------------------------------
// Top-ups
// ---------------------------------------------------------------------------------------------

#[test]
fn a_top_up_confirmed_at_once_credits_the_wallet_from_funding() {
    given::<Wallet>([]).when(request_top_up(1, 500, true, LIMITS, now())).then([sealed(
        WalletEventKind::ToppedUp,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            available_delta: 500,
            available_after: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    )]);

    let wallet = Wallet::default().fold(&decided([request_top_up(1, 500, true, LIMITS, now())]));
    assert_eq!((wallet.available, wallet.held, wallet.sequence), (500, 0, 1));
    assert!(wallet.pending_top_ups.is_empty());
    assert_eq!(wallet.settled_top_ups, [SettledTopUp { id: id(1), confirmed: true }]);
}

#[test]
fn a_requested_top_up_moves_nothing_until_it_is_confirmed() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    let request = sealed(
        WalletEventKind::TopUpRequested,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    );
    assert_eq!(requested, std::slice::from_ref(&request));
    let wallet = Wallet::default().fold(&requested);
    assert_eq!((wallet.available, wallet.held), (0, 0));
    assert_eq!(wallet.pending_top_ups.get(&id(1)).map(|p| p.amount), Some(500));

    given::<Wallet>(requested).when(confirm_top_up(1, soon())).then([sealed(
        WalletEventKind::ToppedUp,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            available_delta: 500,
            available_after: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            occurred_at: soon(),
            ..entry(ADA, 2, &request.entry().hash)
        },
    )]);
}

#[test]
fn a_top_up_confirmed_twice_is_credited_once() {
    let history = decided([request_top_up(1, 500, false, LIMITS, now()), confirm_top_up(1, soon())]);
    assert_eq!(Wallet::default().fold(&history).available, 500);
    given::<Wallet>(history).when(confirm_top_up(1, soon())).then([]);
}

#[test]
fn confirming_or_failing_an_unknown_top_up_is_refused() {
    let history = decided([request_top_up(1, 500, false, LIMITS, now())]);
    given::<Wallet>(history.clone()).when(confirm_top_up(2, soon())).then_error(LedgerError::TopUpNotFound);
    given::<Wallet>(history).when(fail_top_up(2, soon())).then_error(LedgerError::TopUpNotFound);
    given::<Wallet>([]).when(confirm_top_up(1, soon())).then_error(LedgerError::TopUpNotFound);
}

#[test]
fn a_failed_top_up_moves_nothing_and_is_failed_once() {
    let requested = decided([request_top_up(1, 500, false, LIMITS, now())]);
    let expected = sealed(
        WalletEventKind::TopUpFailed,
        WalletEntry {
            entry_id: id(1),
            amount: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(1)),
            occurred_at: soon(),
            ..entry(ADA, 2, &requested[0].entry().hash)
        },
    );
    given::<Wallet>(requested.clone()).when(fail_top_up(1, soon())).then([expected.clone()]);

    let failed: Vec<WalletEvent> = requested.into_iter().chain([expected]).collect();
    let wallet = Wallet::default().fold(&failed);
    assert_eq!((wallet.available, wallet.held), (0, 0));
    assert!(wallet.pending_top_ups.is_empty());
    given::<Wallet>(failed).when(fail_top_up(1, soon())).then([]);
}

#[test]
fn a_top_up_settled_one_way_cannot_be_settled_the_other() {
    given::<Wallet>(decided([request_top_up(1, 500, false, LIMITS, now()), confirm_top_up(1, soon())]))
        .when(fail_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
    given::<Wallet>(decided([request_top_up(1, 500, true, LIMITS, now())]))
        .when(fail_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
    given::<Wallet>(decided([request_top_up(1, 500, false, LIMITS, now()), fail_top_up(1, soon())]))
        .when(confirm_top_up(1, soon()))
        .then_error(LedgerError::TopUpAlreadySettled);
}

#[test]
fn a_repeated_top_up_request_is_a_no_op() {
    let request = || request_top_up(1, 500, false, LIMITS, now());
    let at_once = || request_top_up(1, 500, true, LIMITS, now());
    given::<Wallet>(decided([request()])).when(request()).then([]);
    given::<Wallet>(decided([request()])).when(at_once()).then([]);
    given::<Wallet>(decided([request(), confirm_top_up(1, soon())])).when(request()).then([]);
    given::<Wallet>(decided([request(), fail_top_up(1, soon())])).when(request()).then([]);
    given::<Wallet>(decided([at_once()])).when(at_once()).then([]);
}

#[test]
fn a_single_top_up_is_at_most_the_per_top_up_limit() {
    given::<Wallet>([])
        .when(request_top_up(1, 10_001, true, LIMITS, now()))
        .then_error(LedgerError::TopUpLimitExceeded { limit: 10_000 });
    given::<Wallet>([])
        .when(request_top_up(1, 10_001, false, LIMITS, now()))
        .then_error(LedgerError::TopUpLimitExceeded { limit: 10_000 });
    let wallet = Wallet::default().fold(&decided([request_top_up(1, 10_000, true, LIMITS, now())]));
    assert_eq!(wallet.available, 10_000);
}

#[test]
fn top_up_amounts_are_positive() {
    for amount in [0, -1, i64::MIN] {
        given::<Wallet>([])
            .when(request_top_up(1, amount, true, LIMITS, now()))
            .then_error(LedgerError::InvalidAmount(amount));
        given::<Wallet>([])
            .when(request_top_up(1, amount, false, LIMITS, now()))
            .then_error(LedgerError::InvalidAmount(amount));
    }
}

#[test]
fn the_daily_limit_counts_pending_requests() {
    // 10 000 credited and 10 000 pending: 5 000 of the 25 000 are left today.
    let history = decided([
        request_top_up(1, 10_000, true, LIMITS, now()),
        request_top_up(2, 10_000, false, LIMITS, now()),
    ]);
    given::<Wallet>(history.clone())
        .when(request_top_up(3, 5_001, true, LIMITS, soon()))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
    let wallet = Wallet::default().fold(&history);
    assert_eq!(accepted(wallet.decide(&request_top_up(3, 5_000, true, LIMITS, soon()))).len(), 1);
}

#[test]
fn the_daily_limit_ignores_failed_requests() {
    let history = decided([
        request_top_up(1, 10_000, true, LIMITS, now()),
        request_top_up(2, 10_000, false, LIMITS, now()),
        fail_top_up(2, now()),
        // Only allowed because the failed request no longer counts.
        request_top_up(3, 10_000, true, LIMITS, soon()),
    ]);
    assert_eq!(Wallet::default().fold(&history).available, 20_000);
    given::<Wallet>(history)
        .when(request_top_up(4, 5_001, true, LIMITS, soon()))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn the_daily_limit_resets_on_the_next_utc_day() {
    let late = at(21, 23, 0, 0);
    let full_day = decided([
        request_top_up(1, 10_000, true, LIMITS, late),
        request_top_up(2, 10_000, true, LIMITS, late),
        request_top_up(3, 5_000, false, LIMITS, late),
    ]);
    given::<Wallet>(full_day.clone())
        .when(request_top_up(4, 1, true, LIMITS, at(21, 23, 59, 59)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 0 });

    let next_day = at(22, 0, 0, 0);
    let history: Vec<WalletEvent> = full_day
        .iter()
        .cloned()
        .chain(decided_after(&full_day, [request_top_up(4, 10_000, true, LIMITS, next_day)]))
        .collect();
    assert_eq!(Wallet::default().fold(&history).available, 30_000);
    given::<Wallet>(history)
        .when(request_top_up(5, 15_001, true, TopUpLimits { per_top_up: 25_000, ..LIMITS }, next_day))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 15_000 });
}

/// The events these commands add to `history`.
fn decided_after(
    history: &[WalletEvent],
    commands: impl IntoIterator<Item = WalletCommand>,
) -> Vec<WalletEvent> {
    let mut wallet = Wallet::default().fold(history);
    let mut events = Vec::new();
    for command in commands {
        for event in accepted(wallet.decide(&command)) {
            wallet.apply(&event);
            events.push(event);
        }
    }
    events
}

#[test]
fn a_confirmed_request_counts_on_the_day_it_was_requested() {
    let history = decided([
        request_top_up(1, 10_000, false, LIMITS, at(21, 23, 0, 0)),
        confirm_top_up(1, at(22, 9, 0, 0)),
        request_top_up(2, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        request_top_up(3, 10_000, true, LIMITS, at(22, 9, 0, 0)),
    ]);
    assert_eq!(Wallet::default().fold(&history).available, 30_000);
    given::<Wallet>(history)
        .when(request_top_up(4, 5_001, true, LIMITS, at(22, 10, 0, 0)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn a_request_failed_on_a_later_day_does_not_free_that_days_limit() {
    let history = decided([
        request_top_up(1, 10_000, false, LIMITS, at(21, 23, 0, 0)),
        request_top_up(2, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        request_top_up(3, 10_000, true, LIMITS, at(22, 9, 0, 0)),
        fail_top_up(1, at(22, 10, 0, 0)),
    ]);
    // 20 000 requested on the 22nd: 5 000 left, whatever happened to the 21st's request.
    given::<Wallet>(history)
        .when(request_top_up(4, 10_000, true, LIMITS, at(22, 11, 0, 0)))
        .then_error(LedgerError::DailyLimitExceeded { limit: 25_000, remaining: 5_000 });
}

#[test]
fn a_wallet_remembers_a_bounded_number_of_settled_top_ups() {
    let count = u128::try_from(SETTLED_TOP_UPS_KEPT).unwrap_or_default() + 1;
    let history = decided((1..=count).map(|n| request_top_up(n, 1, true, UNLIMITED, now())));
    let wallet = Wallet::default().fold(&history);
    assert_eq!(wallet.settled_top_ups.len(), SETTLED_TOP_UPS_KEPT);
    assert_eq!(wallet.available, i64::try_from(count).unwrap_or_default());
    // The newest is still answered as already applied; the forgotten oldest is refused, not applied.
    assert_eq!(wallet.decide(&confirm_top_up(count, soon())), Ok(vec![]));
    assert_eq!(wallet.decide(&confirm_top_up(1, soon())), Err(LedgerError::TopUpNotFound));
}

#[test]
fn a_top_up_never_overflows_the_balance() {
    let history = decided([request_top_up(1, i64::MAX, true, UNLIMITED, now())]);
    assert_eq!(Wallet::default().fold(&history).available, i64::MAX);
    given::<Wallet>(history)
        .when(request_top_up(2, 1, true, UNLIMITED, now()))
        .then_error(LedgerError::Overflow);
}

// ---------------------------------------------------------------------------------------------
// Transfers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_transfer_debits_the_sender_and_credits_the_recipient_in_one_entry() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    let ada_before = ledger.wallet(ADA);

    let (sent, received) = accepted(ledger.transfer(&transfer_of(0x7e, 300, ADA, BOB)));

    assert_eq!(
        sent,
        [sealed(
            WalletEventKind::TransferSent,
            WalletEntry {
                entry_id: id(0x7e),
                amount: 300,
                available_delta: -300,
                available_after: 700,
                counterparty: Some(BOB.to_string()),
                note: Some("for the tickets".into()),
                ..entry(ADA, 2, &ada_before.last_hash)
            },
        )]
    );
    assert_eq!(
        received,
        [sealed(
            WalletEventKind::TransferReceived,
            WalletEntry {
                entry_id: id(0x7e),
                amount: 300,
                available_delta: 300,
                available_after: 300,
                counterparty: Some(ADA.to_string()),
                note: Some("for the tickets".into()),
                ..entry(BOB, 1, GENESIS_HASH)
            },
        )]
    );
    let legs: Vec<&WalletEntry> = sent.iter().chain(&received).map(WalletEvent::entry).collect();
    assert_eq!(legs.iter().map(|leg| leg.total_delta()).sum::<i64>(), 0, "the legs of an entry sum to zero");
    assert!(legs.iter().all(|leg| leg.entry_id == id(0x7e)));
    assert_eq!(ledger.wallet(ADA).available, 700);
    assert_eq!(ledger.wallet(BOB).available, 300);
}

#[test]
fn a_transfer_cannot_overdraw_the_sender() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    assert_eq!(
        ledger.transfer(&transfer_of(0x7e, 1_001, ADA, BOB)),
        Err(LedgerError::InsufficientFunds { available: 1_000, requested: 1_001 })
    );
    assert_eq!(
        ledger.transfer(&transfer_of(0x7f, 1, BOB, ADA)),
        Err(LedgerError::InsufficientFunds { available: 0, requested: 1 })
    );
    assert_eq!(ledger.history(ADA).len(), 1, "nothing was decided");
    assert!(ledger.history(BOB).is_empty(), "nothing was decided");
}

#[test]
fn a_wallet_cannot_transfer_to_itself() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 100, ADA, ADA)), Err(LedgerError::SameAccount));
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 100, ESCROW, ESCROW)), Err(LedgerError::SameAccount));
    assert_eq!(ledger.history(ADA).len(), 1);
}

#[test]
fn the_funding_account_is_not_a_wallet() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    let not_a_wallet = LedgerError::NotAWallet("system.funding".into());
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 100, ADA, FUNDING)), Err(not_a_wallet.clone()));
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 100, FUNDING, ADA)), Err(not_a_wallet.clone()));
    assert_eq!(ledger.pay(&payment_of(PAYMENT, 100, ADA, FUNDING)), Err(not_a_wallet.clone()));
    assert_eq!(ledger.place_hold(&PlaceHold { payee: FUNDING, ..hold_of(HOLD, 100) }), Err(not_a_wallet));
    assert_eq!(ledger.history(ADA).len(), 1);
}

#[test]
fn escrow_is_a_wallet_like_any_other() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    accepted(ledger.transfer(&transfer_of(0x7e, 400, ADA, ESCROW)));
    accepted(ledger.transfer(&transfer_of(0x7f, 100, ESCROW, BOB)));
    assert_eq!(ledger.wallet(ESCROW).available, 300);
    assert_eq!(ledger.history(ESCROW)[0].entry().account, "system.escrow");
    assert_eq!(
        ledger.transfer(&transfer_of(0x80, 301, ESCROW, BOB)),
        Err(LedgerError::InsufficientFunds { available: 300, requested: 301 })
    );
}

#[test]
fn transfer_amounts_are_positive() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    for amount in [0, -5] {
        assert_eq!(
            ledger.transfer(&transfer_of(0x7e, amount, ADA, BOB)),
            Err(LedgerError::InvalidAmount(amount))
        );
    }
    assert!(ledger.history(BOB).is_empty());
}

#[test]
fn a_transfer_note_is_at_most_280_characters() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    // Characters, not bytes: 280 two-byte characters are fine.
    let longest = "é".repeat(MAX_NOTE_CHARS);
    let (sent, _) = accepted(
        ledger.transfer(&Transfer { note: Some(longest.clone()), ..transfer_of(0x7e, 1, ADA, BOB) }),
    );
    assert_eq!(sent[0].entry().note.as_deref(), Some(longest.as_str()));
    assert_eq!(
        ledger.transfer(&Transfer { note: Some(format!("{longest}!")), ..transfer_of(0x7f, 1, ADA, BOB) }),
        Err(LedgerError::NoteTooLong)
    );
    assert_eq!(
        ledger.pay(&Pay { note: Some(format!("{longest}!")), ..payment_of(PAYMENT, 1, ADA, BOB) }),
        Err(LedgerError::NoteTooLong)
    );
}

#[test]
fn a_transfer_never_overflows_the_recipients_balance() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1);
    ledger.fund(BOB, i64::MAX);
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 1, ADA, BOB)), Err(LedgerError::Overflow));
    assert_eq!(ledger.history(ADA).len(), 1, "nothing was decided");
}

#[test]
fn a_wallets_total_of_available_and_held_never_overflows() {
    let mut ledger = Ledger::default();
    ledger.fund(BOB, 1);
    ledger.fund(ADA, i64::MAX);
    accepted(ledger.place_hold(&hold_of(HOLD, 10)));
    assert_eq!(ledger.wallet(ADA).total(), i64::MAX);
    assert_eq!(ledger.transfer(&transfer_of(0x7e, 1, BOB, ADA)), Err(LedgerError::Overflow));
}

// ---------------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------------

#[test]
fn a_payment_debits_the_payer_credits_the_payee_and_records_the_payment() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    let ada_before = ledger.wallet(ADA);

    let (sent, received, paid) = accepted(ledger.pay(&payment_of(PAYMENT, 250, ADA, ESCROW)));

    let leg = |delta: i64, after: i64, counterparty: LedgerAccount, base: WalletEntry| WalletEntry {
        entry_id: PAYMENT,
        amount: 250,
        available_delta: delta,
        available_after: after,
        counterparty: Some(counterparty.to_string()),
        payment_id: Some(PAYMENT),
        reference: Some("order:17".into()),
        note: Some("two tickets".into()),
        ..base
    };
    assert_eq!(
        sent,
        [sealed(WalletEventKind::PaymentSent, leg(-250, 750, ESCROW, entry(ADA, 2, &ada_before.last_hash)))]
    );
    assert_eq!(
        received,
        [sealed(WalletEventKind::PaymentReceived, leg(250, 250, ADA, entry(ESCROW, 1, GENESIS_HASH)))]
    );
    assert_eq!(
        paid,
        [PaymentEvent::Paid(PaymentPaid {
            payer: ADA.to_string(),
            payee: "system.escrow".into(),
            amount: 250,
            reference: "order:17".into(),
            note: Some("two tickets".into()),
            paid_at: now(),
        })]
    );
    let payment = ledger.payment(PAYMENT);
    assert_eq!(payment.status, PaymentStatus::Paid);
    assert_eq!(payment_accounts(&payment), Some((ADA, ESCROW)));
    assert_eq!((payment.amount, payment.refunded, payment.refundable()), (250, 0, 250));
    assert_eq!(ledger.wallet(ADA).available, 750);
    assert_eq!(ledger.wallet(ESCROW).available, 250);
}

#[test]
fn a_payment_id_is_used_once() {
    let mut ledger = paid_ledger(ESCROW);
    assert_eq!(ledger.pay(&payment_of(PAYMENT, 100, ADA, ESCROW)), Err(LedgerError::PaymentExists));
    assert_eq!(ledger.place_hold(&hold_of(PAYMENT, 100)), Err(LedgerError::PaymentExists));

    let mut ledger = held_ledger();
    assert_eq!(ledger.pay(&payment_of(HOLD, 100, ADA, ESCROW)), Err(LedgerError::PaymentExists));
    assert_eq!(ledger.place_hold(&hold_of(HOLD, 100)), Err(LedgerError::PaymentExists));
    assert_eq!(ledger.wallet(ADA).available, 600, "nothing was decided");
}

#[test]
fn a_payment_cannot_overdraw_the_payer() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    assert_eq!(
        ledger.pay(&payment_of(PAYMENT, 1_001, ADA, ESCROW)),
        Err(LedgerError::InsufficientFunds { available: 1_000, requested: 1_001 })
    );
    assert_eq!(ledger.payment(PAYMENT).status, PaymentStatus::None);
    assert!(ledger.history(ESCROW).is_empty());
}

#[test]
fn a_reference_is_a_lowercase_kind_a_colon_and_a_printable_id() {
    let longest = format!("event:{}", "x".repeat(MAX_REFERENCE_BYTES - "event:".len()));
    for good in ["event:1", "order:17", "market_listing:AbC-9_x/2", longest.as_str()] {
        assert_eq!(check_reference(good), Ok(()), "{good:?} is a reference");
    }
    let too_long = format!("{longest}x");
    for bad in [
        "Event:1",
        "event:",
        ":x",
        "event1",
        "",
        "event: 1",
        "event:1 2",
        "ev ent:1",
        "event:1\n",
        "évent:1",
        &too_long,
    ] {
        assert_eq!(check_reference(bad), Err(LedgerError::InvalidReference), "{bad:?} is not a reference");
    }

    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    assert_eq!(
        ledger.pay(&Pay { reference: "Event:1".into(), ..payment_of(PAYMENT, 1, ADA, ESCROW) }),
        Err(LedgerError::InvalidReference)
    );
    assert_eq!(
        ledger.place_hold(&PlaceHold { reference: "event:".into(), ..hold_of(HOLD, 1) }),
        Err(LedgerError::InvalidReference)
    );
}

// ---------------------------------------------------------------------------------------------
// Holds
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hold_moves_credits_from_available_to_held() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    let before = ledger.wallet(ADA);

    let (placed, authorized) = accepted(ledger.place_hold(&hold_of(HOLD, 400)));

    assert_eq!(
        placed,
        [sealed(
            WalletEventKind::HoldPlaced,
            WalletEntry {
                entry_id: HOLD,
                amount: 400,
                available_delta: -400,
                held_delta: 400,
                available_after: 600,
                held_after: 400,
                counterparty: Some("system.escrow".into()),
                payment_id: Some(HOLD),
                reference: Some("event:42".into()),
                ..entry(ADA, 2, &before.last_hash)
            },
        )]
    );
    assert_eq!(
        authorized,
        [PaymentEvent::Authorized(PaymentAuthorized {
            payer: ADA.to_string(),
            payee: "system.escrow".into(),
            amount: 400,
            reference: "event:42".into(),
            authorized_at: now(),
            expires_at: hold_expiry(),
        })]
    );
    let after = ledger.wallet(ADA);
    assert_eq!((after.available, after.held), (600, 400));
    assert_eq!(after.total(), before.total(), "a hold keeps the credits in the wallet");
    assert_eq!(ledger.payment(HOLD).status, PaymentStatus::Held);
    assert!(ledger.history(ESCROW).is_empty(), "the payee gets nothing until a capture");
}

#[test]
fn held_credits_cannot_be_spent_or_held_again() {
    let mut ledger = held_ledger();
    assert_eq!(
        ledger.transfer(&transfer_of(0x7e, 601, ADA, BOB)),
        Err(LedgerError::InsufficientFunds { available: 600, requested: 601 })
    );
    assert_eq!(
        ledger.place_hold(&hold_of(id(0x402), 601)),
        Err(LedgerError::InsufficientFunds { available: 600, requested: 601 })
    );
    assert_eq!(ledger.payment(id(0x402)).status, PaymentStatus::None);
    accepted(ledger.transfer(&transfer_of(0x7e, 600, ADA, BOB)));
    assert_eq!((ledger.wallet(ADA).available, ledger.wallet(ADA).held), (0, 400));
}

#[test]
fn capturing_a_whole_hold_pays_the_payee_out_of_held() {
    let mut ledger = held_ledger();
    let before = ledger.wallet(ADA);

    let (captured, received, event) = accepted(ledger.capture(&capture(HOLD, None, soon())));

    assert_eq!(
        captured,
        [sealed(
            WalletEventKind::HoldCaptured,
            WalletEntry {
                entry_id: HOLD,
                amount: 400,
                held_delta: -400,
                available_after: 600,
                counterparty: Some("system.escrow".into()),
                payment_id: Some(HOLD),
                reference: Some("event:42".into()),
                occurred_at: soon(),
                ..entry(ADA, 3, &before.last_hash)
            },
        )]
    );
    assert_eq!(
        received,
        [sealed(
            WalletEventKind::PaymentReceived,
            WalletEntry {
                entry_id: HOLD,
                amount: 400,
                available_delta: 400,
                available_after: 400,
                counterparty: Some(ADA.to_string()),
                payment_id: Some(HOLD),
                reference: Some("event:42".into()),
                occurred_at: soon(),
                ..entry(ESCROW, 1, GENESIS_HASH)
            },
        )]
    );
    assert_eq!(
        event,
        [PaymentEvent::Captured(PaymentCaptured { amount: 400, released: 0, captured_at: soon() })]
    );
    let after = ledger.wallet(ADA);
    assert_eq!((after.available, after.held), (600, 0));
    assert_eq!(after.total() - before.total(), -400);
    assert_eq!(ledger.wallet(ESCROW).available, 400);
    let payment = ledger.payment(HOLD);
    assert_eq!((payment.status, payment.amount, payment.refundable()), (PaymentStatus::Paid, 400, 400));
}

#[test]
fn a_partial_capture_pays_part_of_a_hold_and_releases_the_rest() {
    let mut ledger = held_ledger();
    let before = ledger.wallet(ADA);

    let (captured, received, event) = accepted(ledger.capture(&capture(HOLD, Some(150), soon())));

    let leg = captured[0].entry();
    assert_eq!(captured[0].kind(), WalletEventKind::HoldCaptured);
    assert_eq!((leg.amount, leg.available_delta, leg.held_delta), (150, 250, -400));
    assert_eq!((leg.available_after, leg.held_after), (850, 0));
    assert_eq!(leg.total_delta(), -150, "the payer's total loses exactly what was captured");
    let paid = received[0].entry();
    assert_eq!((paid.amount, paid.available_delta, paid.available_after), (150, 150, 150));
    assert_eq!(leg.total_delta() + paid.total_delta(), 0, "the legs sum to zero");
    assert_eq!(
        event,
        [PaymentEvent::Captured(PaymentCaptured { amount: 150, released: 250, captured_at: soon() })]
    );

    let after = ledger.wallet(ADA);
    assert_eq!((after.available, after.held), (850, 0));
    assert_eq!(after.total() - before.total(), -150);
    assert_eq!(ledger.wallet(ESCROW).available, 150);
    let payment = ledger.payment(HOLD);
    assert_eq!((payment.status, payment.amount), (PaymentStatus::Paid, 150));
}

#[test]
fn a_capture_is_at_most_the_hold_and_positive() {
    let mut ledger = held_ledger();
    assert_eq!(
        ledger.capture(&capture(HOLD, Some(401), soon())),
        Err(LedgerError::CaptureExceedsHold { held: 400, requested: 401 })
    );
    assert_eq!(ledger.capture(&capture(HOLD, Some(0), soon())), Err(LedgerError::InvalidAmount(0)));
    assert_eq!(ledger.capture(&capture(HOLD, Some(-1), soon())), Err(LedgerError::InvalidAmount(-1)));
    assert_eq!(ledger.payment(HOLD).status, PaymentStatus::Held);
    assert!(ledger.history(ESCROW).is_empty());
}

#[test]
fn a_hold_cannot_be_captured_or_voided_at_or_after_its_expiry() {
    let mut ledger = held_ledger();
    for when in [hold_expiry(), hold_expiry() + Duration::hours(1)] {
        assert_eq!(ledger.capture(&capture(HOLD, None, when)), Err(LedgerError::HoldExpired(hold_expiry())));
        assert_eq!(ledger.release(&void(HOLD, when)), Err(LedgerError::HoldExpired(hold_expiry())));
    }
    assert_eq!(ledger.payment(HOLD).status, PaymentStatus::Held);
    accepted(ledger.capture(&capture(HOLD, None, hold_expiry() - Duration::seconds(1))));
}

#[test]
fn a_voided_hold_gives_the_credits_back_and_cannot_be_captured() {
    let mut ledger = held_ledger();
    let before = ledger.wallet(ADA);

    let (released, event) = accepted(ledger.release(&void(HOLD, soon())));

    assert_eq!(
        released,
        [sealed(
            WalletEventKind::HoldReleased,
            WalletEntry {
                entry_id: HOLD,
                amount: 400,
                available_delta: 400,
                held_delta: -400,
                available_after: 1_000,
                counterparty: Some("system.escrow".into()),
                payment_id: Some(HOLD),
                reference: Some("event:42".into()),
                note: Some("voided".into()),
                occurred_at: soon(),
                ..entry(ADA, 3, &before.last_hash)
            },
        )]
    );
    assert_eq!(event, [PaymentEvent::Voided(HoldReleased { amount: 400, released_at: soon() })]);
    assert_eq!(ledger.capture(&capture(HOLD, None, soon())), Err(LedgerError::HoldNotActive("voided")));
    assert_eq!(ledger.release(&void(HOLD, soon())), Err(LedgerError::HoldNotActive("voided")));
    assert_eq!(ledger.release(&expire(HOLD, hold_expiry())), Ok((vec![], vec![])));
    assert_eq!((ledger.wallet(ADA).available, ledger.wallet(ADA).held), (1_000, 0));
    assert!(ledger.history(ESCROW).is_empty());
}

#[test]
fn a_hold_settles_once() {
    let mut ledger = held_ledger();
    accepted(ledger.capture(&capture(HOLD, Some(150), soon())));
    assert_eq!(ledger.capture(&capture(HOLD, None, soon())), Err(LedgerError::HoldNotActive("paid")));
    assert_eq!(ledger.release(&void(HOLD, soon())), Err(LedgerError::HoldNotActive("paid")));
    assert_eq!(ledger.release(&expire(HOLD, hold_expiry())), Ok((vec![], vec![])));
    assert_eq!((ledger.wallet(ADA).available, ledger.wallet(ADA).held), (850, 0));
    assert_eq!(ledger.wallet(ESCROW).available, 150);
}

#[test]
fn an_expiry_before_the_hold_is_due_decides_nothing() {
    let mut ledger = held_ledger();
    assert_eq!(ledger.release(&expire(HOLD, hold_expiry() - Duration::seconds(1))), Ok((vec![], vec![])));
    assert_eq!(ledger.payment(HOLD).status, PaymentStatus::Held);
    assert_eq!((ledger.wallet(ADA).available, ledger.wallet(ADA).held), (600, 400));
}

#[test]
fn a_due_expiry_releases_the_hold_once() {
    let mut ledger = held_ledger();
    let before = ledger.wallet(ADA);

    let (released, event) = accepted(ledger.release(&expire(HOLD, hold_expiry())));

    assert_eq!(
        released,
        [sealed(
            WalletEventKind::HoldReleased,
            WalletEntry {
                entry_id: HOLD,
                amount: 400,
                available_delta: 400,
                held_delta: -400,
                available_after: 1_000,
                counterparty: Some("system.escrow".into()),
                payment_id: Some(HOLD),
                reference: Some("event:42".into()),
                note: Some("expired".into()),
                occurred_at: hold_expiry(),
                ..entry(ADA, 3, &before.last_hash)
            },
        )]
    );
    assert_eq!(event, [PaymentEvent::Expired(HoldReleased { amount: 400, released_at: hold_expiry() })]);
    assert_eq!(ledger.payment(HOLD).status, PaymentStatus::Expired);
    // A second expiry worker, on the state the first one left, decides nothing.
    assert_eq!(ledger.release(&expire(HOLD, hold_expiry() + Duration::seconds(1))), Ok((vec![], vec![])));
    assert_eq!((ledger.wallet(ADA).available, ledger.wallet(ADA).held), (1_000, 0));
}

#[test]
fn an_expired_hold_cannot_be_captured_or_voided() {
    let mut ledger = held_ledger();
    accepted(ledger.release(&expire(HOLD, hold_expiry())));
    assert_eq!(ledger.capture(&capture(HOLD, None, soon())), Err(LedgerError::HoldNotActive("expired")));
    assert_eq!(ledger.release(&void(HOLD, soon())), Err(LedgerError::HoldNotActive("expired")));
    assert!(ledger.history(ESCROW).is_empty());
}

#[test]
fn an_unknown_hold_cannot_be_captured_voided_or_expired() {
    let mut ledger = held_ledger();
    let unknown = id(0xdead);
    assert_eq!(ledger.capture(&capture(unknown, None, soon())), Err(LedgerError::PaymentNotFound));
    assert_eq!(ledger.release(&void(unknown, soon())), Err(LedgerError::PaymentNotFound));
    assert_eq!(ledger.release(&expire(unknown, hold_expiry())), Ok((vec![], vec![])));
    assert_eq!(ledger.history(ADA).len(), 2);
}

#[test]
fn holds_last_between_one_second_and_seven_days() {
    let wallet = {
        let mut ledger = Ledger::default();
        ledger.fund(ADA, 1_000);
        ledger.wallet(ADA)
    };
    let lasting = |duration: Duration| PlaceHold { expires_at: now() + duration, ..hold_of(HOLD, 100) };
    let seven_days = Duration::seconds(MAX_HOLD_SECONDS);
    for duration in [Duration::zero(), Duration::milliseconds(999), Duration::seconds(-1), Duration::days(-8)]
    {
        assert_eq!(
            place_hold(&wallet, &Payment::default(), &lasting(duration)),
            Err(LedgerError::InvalidHoldDuration),
            "a hold of {duration}"
        );
    }
    assert_eq!(
        place_hold(&wallet, &Payment::default(), &lasting(seven_days + Duration::seconds(1))),
        Err(LedgerError::InvalidHoldDuration)
    );
    for duration in [Duration::seconds(1), Duration::days(7), seven_days] {
        let (placed, _) = accepted(place_hold(&wallet, &Payment::default(), &lasting(duration)));
        assert_eq!(placed[0].entry().held_after, 100, "a hold of {duration}");
    }
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

#[test]
fn a_payment_is_refunded_in_parts_up_to_what_was_paid() {
    let mut ledger = paid_ledger(ESCROW);
    let escrow_before = ledger.wallet(ESCROW);
    let ada_before = ledger.wallet(ADA);

    let (sent, received, event) = accepted(ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(200))));

    let leg = |delta: i64, after: i64, counterparty: LedgerAccount, base: WalletEntry| WalletEntry {
        entry_id: id(0x5e1),
        amount: 200,
        available_delta: delta,
        available_after: after,
        counterparty: Some(counterparty.to_string()),
        payment_id: Some(PAYMENT),
        reference: Some("order:17".into()),
        note: Some("cancelled".into()),
        ..base
    };
    assert_eq!(
        sent,
        [sealed(
            WalletEventKind::RefundSent,
            leg(-200, 300, ADA, entry(ESCROW, 2, &escrow_before.last_hash))
        )]
    );
    assert_eq!(
        received,
        [sealed(
            WalletEventKind::RefundReceived,
            leg(200, 700, ESCROW, entry(ADA, 3, &ada_before.last_hash))
        )]
    );
    assert_eq!(
        event,
        [PaymentEvent::Refunded(PaymentRefunded {
            refund_id: id(0x5e1),
            amount: 200,
            reason: Some("cancelled".into()),
            refunded_at: now(),
        })]
    );
    assert_eq!(ledger.payment(PAYMENT).refundable(), 300);

    // The rest.
    let (sent, _, _) = accepted(ledger.refund(&refund_of(PAYMENT, 0x5e2, None)));
    assert_eq!(sent[0].entry().amount, 300);
    let payment = ledger.payment(PAYMENT);
    assert_eq!((payment.refunded, payment.refundable()), (500, 0));
    assert_eq!(ledger.wallet(ADA).available, 1_000);
    assert_eq!(ledger.wallet(ESCROW).available, 0);

    assert_eq!(
        ledger.refund(&refund_of(PAYMENT, 0x5e3, None)),
        Err(LedgerError::RefundExceedsPayment { refundable: 0 })
    );
}

#[test]
fn a_refund_cannot_exceed_what_is_left_of_the_payment() {
    let mut ledger = paid_ledger(ESCROW);
    assert_eq!(
        ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(501))),
        Err(LedgerError::RefundExceedsPayment { refundable: 500 })
    );
    accepted(ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(200))));
    assert_eq!(
        ledger.refund(&refund_of(PAYMENT, 0x5e2, Some(301))),
        Err(LedgerError::RefundExceedsPayment { refundable: 300 })
    );
    assert_eq!(ledger.payment(PAYMENT).refunded, 200);
}

#[test]
fn a_refund_of_a_non_positive_amount_is_refused() {
    let mut ledger = paid_ledger(ESCROW);
    for amount in [0, -1] {
        assert_eq!(
            ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(amount))),
            Err(LedgerError::InvalidAmount(amount))
        );
    }
    assert_eq!(ledger.payment(PAYMENT).refunded, 0);
}

#[test]
fn only_paid_payments_are_refunded() {
    let mut ledger = held_ledger();
    assert_eq!(ledger.refund(&refund_of(HOLD, 0x5e1, None)), Err(LedgerError::NotRefundable("held")));
    assert_eq!(ledger.refund(&refund_of(HOLD, 0x5e1, Some(1))), Err(LedgerError::NotRefundable("held")));
    accepted(ledger.release(&void(HOLD, soon())));
    assert_eq!(ledger.refund(&refund_of(HOLD, 0x5e1, None)), Err(LedgerError::NotRefundable("voided")));

    let mut ledger = held_ledger();
    accepted(ledger.release(&expire(HOLD, hold_expiry())));
    assert_eq!(ledger.refund(&refund_of(HOLD, 0x5e1, None)), Err(LedgerError::NotRefundable("expired")));
}

#[test]
fn an_unknown_payment_cannot_be_refunded() {
    let mut ledger = paid_ledger(ESCROW);
    assert_eq!(ledger.refund(&refund_of(id(0xdead), 0x5e1, None)), Err(LedgerError::PaymentNotFound));
    assert_eq!(ledger.history(ESCROW).len(), 1);
}

#[test]
fn a_refund_needs_the_payees_available_credits() {
    let mut ledger = paid_ledger(BOB);
    accepted(ledger.transfer(&transfer_of(0x7e, 400, BOB, ADA)));
    assert_eq!(
        ledger.refund(&refund_of(PAYMENT, 0x5e1, None)),
        Err(LedgerError::InsufficientFunds { available: 100, requested: 500 })
    );
    assert_eq!(ledger.payment(PAYMENT).refunded, 0, "nothing was decided");
    assert_eq!(ledger.history(BOB).len(), 2);
    accepted(ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(100))));
    assert_eq!(ledger.payment(PAYMENT).refundable(), 400);
}

#[test]
fn a_refund_reason_is_at_most_280_characters() {
    let mut ledger = paid_ledger(ESCROW);
    let command = Refund { reason: Some("x".repeat(MAX_NOTE_CHARS + 1)), ..refund_of(PAYMENT, 0x5e1, None) };
    assert_eq!(ledger.refund(&command), Err(LedgerError::NoteTooLong));
}

#[test]
fn a_captured_hold_refunds_at_most_what_was_captured() {
    let mut ledger = held_ledger();
    accepted(ledger.capture(&capture(HOLD, Some(150), soon())));
    assert_eq!(
        ledger.refund(&refund_of(HOLD, 0x5e1, Some(151))),
        Err(LedgerError::RefundExceedsPayment { refundable: 150 })
    );
    let (sent, received, _) = accepted(ledger.refund(&refund_of(HOLD, 0x5e1, None)));
    assert_eq!(sent[0].entry().amount, 150);
    assert_eq!(received[0].entry().available_after, 1_000);
    assert_eq!(ledger.wallet(ESCROW).available, 0);
    assert_eq!(ledger.payment(HOLD).refundable(), 0);
}

// ---------------------------------------------------------------------------------------------
// The hash chain
// ---------------------------------------------------------------------------------------------

/// A day of LoopPay: Ada's wallet sees every kind of movement.
fn busy_ledger() -> Ledger {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    accepted(ledger.decide(ADA, &request_top_up(2, 500, false, LIMITS, now())));
    accepted(ledger.decide(ADA, &confirm_top_up(2, soon())));
    accepted(ledger.decide(ADA, &request_top_up(3, 300, false, LIMITS, now())));
    accepted(ledger.decide(ADA, &fail_top_up(3, soon())));
    accepted(ledger.transfer(&transfer_of(0x7e, 200, ADA, BOB)));
    accepted(ledger.transfer(&transfer_of(0x7f, 50, BOB, ADA)));
    accepted(ledger.pay(&payment_of(PAYMENT, 100, ADA, ESCROW)));
    accepted(ledger.place_hold(&hold_of(HOLD, 400)));
    accepted(ledger.capture(&capture(HOLD, Some(150), soon())));
    accepted(ledger.place_hold(&hold_of(id(0x402), 100)));
    accepted(ledger.release(&void(id(0x402), soon())));
    accepted(ledger.place_hold(&hold_of(id(0x403), 100)));
    accepted(ledger.release(&expire(id(0x403), hold_expiry())));
    accepted(ledger.refund(&refund_of(PAYMENT, 0x5e1, Some(60))));
    ledger
}

/// Where Ada's `transfer_sent` is in the busy history.
const SENT: usize = 5;

fn ada_history() -> Vec<WalletEvent> {
    let history = busy_ledger().history(ADA).to_vec();
    assert_eq!(history[SENT].kind(), WalletEventKind::TransferSent);
    history
}

#[test]
fn a_history_decided_by_the_ledger_verifies() {
    let ledger = busy_ledger();
    for (account, balances) in [(ADA, (1_160, 0)), (BOB, (150, 0)), (ESCROW, (190, 0))] {
        let verified = accepted(verify_chain(ledger.history(account)));
        assert_eq!(verified, ledger.wallet(account), "{account}");
        assert_eq!((verified.available, verified.held), balances, "{account}");
    }
    let kinds: BTreeSet<&str> =
        ledger.wallets.values().flatten().map(|event| event.kind().event_type()).collect();
    assert_eq!(kinds.len(), ALL_KINDS.len(), "the history covers every kind of event: {kinds:?}");
    assert_eq!(verify_chain(&[]), Ok(Wallet::default()));
}

#[test]
fn an_altered_amount_breaks_the_hash() {
    let mut history = ada_history();
    history[SENT] = edited(&history[SENT], |entry| entry.amount = 2);
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Hash)));
}

#[test]
fn an_altered_event_type_breaks_the_hash() {
    let mut history = ada_history();
    history[SENT] = WalletEventKind::TransferReceived.wrap(history[SENT].entry().clone());
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Hash)));
}

#[test]
fn a_removed_event_breaks_the_sequence() {
    let mut history = ada_history();
    history.remove(SENT);
    let expected = i64::try_from(SENT).unwrap_or_default() + 1;
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Sequence { expected, found: expected + 1 })));
}

#[test]
fn an_inserted_event_breaks_the_sequence() {
    let mut history = ada_history();
    history.insert(SENT + 1, history[SENT].clone());
    let expected = i64::try_from(SENT).unwrap_or_default() + 2;
    assert_eq!(
        verify_chain(&history),
        Err((SENT + 1, ChainBreak::Sequence { expected, found: expected - 1 }))
    );
}

#[test]
fn reordered_events_break_the_chain() {
    let mut history = ada_history();
    history.swap(SENT, SENT + 1);
    let expected = i64::try_from(SENT).unwrap_or_default() + 1;
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Sequence { expected, found: expected + 1 })));

    // Renumbered and rehashed, they still do not follow each other.
    history[SENT] = rehashed(&edited(&history[SENT], |entry| entry.sequence = expected));
    history[SENT + 1] = rehashed(&edited(&history[SENT + 1], |entry| entry.sequence = expected + 1));
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::PrevHash)));
}

#[test]
fn a_forged_prev_hash_is_detected() {
    let mut history = ada_history();
    history[SENT] = rehashed(&edited(&history[SENT], |entry| entry.prev_hash = "f".repeat(64)));
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::PrevHash)));
}

#[test]
fn balances_that_do_not_follow_from_the_deltas_are_detected() {
    let mut history = ada_history();
    // Rehashed, so the hash holds and only the arithmetic is wrong.
    history[SENT] = rehashed(&edited(&history[SENT], |entry| entry.available_after += 1));
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Balance)));

    let mut history = ada_history();
    history[SENT] = rehashed(&edited(&history[SENT], |entry| entry.held_after = 1));
    assert_eq!(verify_chain(&history), Err((SENT, ChainBreak::Balance)));
}

#[test]
fn a_negative_balance_is_detected() {
    let overdrawn = sealed(
        WalletEventKind::TransferSent,
        WalletEntry {
            entry_id: id(0x7e),
            amount: 1,
            available_delta: -1,
            available_after: -1,
            counterparty: Some(BOB.to_string()),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    );
    assert_eq!(verify_chain(&[overdrawn]), Err((0, ChainBreak::Negative)));
}

#[test]
fn rewriting_history_changes_the_head_hash() {
    let original = ada_history();
    let mut rewritten = original.clone();
    // Ada sent 2 instead of 200, and every later event is re-chained and re-balanced.
    rewritten[SENT] = edited(&rewritten[SENT], |entry| {
        entry.amount = 2;
        entry.available_delta = -2;
    });
    let mut wallet = Wallet::default();
    for event in &mut rewritten {
        *event = rehashed(&edited(event, |entry| {
            entry.prev_hash.clone_from(&wallet.last_hash);
            entry.available_after = wallet.available + entry.available_delta;
            entry.held_after = wallet.held + entry.held_delta;
        }));
        wallet.apply(event);
    }
    let verified = accepted(verify_chain(&rewritten));
    assert_eq!(verified.available, 1_160 + 198);
    assert_ne!(verified.last_hash, accepted(verify_chain(&original)).last_hash);
}

#[test]
fn the_canonical_form_is_version_1_and_stable() {
    let top_up = sealed(
        WalletEventKind::ToppedUp,
        WalletEntry {
            entry_id: id(0x70),
            amount: 500,
            available_delta: 500,
            available_after: 500,
            counterparty: Some("system.funding".into()),
            top_up_id: Some(id(0x70)),
            ..entry(ADA, 1, GENESIS_HASH)
        },
    );
    assert_eq!(
        top_up.entry().canonical(top_up.event_type()),
        "loopync-ledger-v1\n\
         type=\"wallet.topped_up\"\n\
         account=\"00000000-0000-0000-0000-000000000ada\"\n\
         sequence=1\n\
         entry=00000000-0000-0000-0000-000000000070\n\
         amount=500\n\
         availableDelta=500\n\
         heldDelta=0\n\
         availableAfter=500\n\
         heldAfter=0\n\
         counterparty=\"system.funding\"\n\
         payment=-\n\
         topUp=00000000-0000-0000-0000-000000000070\n\
         reference=-\n\
         note=-\n\
         occurredAt=2026-11-21T12:00:00.000000Z\n"
    );
    // SHA-256 of the genesis hash, a newline and the text above, computed independently: a
    // change here breaks every chain already written.
    assert_eq!(top_up.entry().hash, "1945336898ada738e084544afd498cd8e0f4198165be68d8cd0605b1feae3f97");
}

#[test]
fn separators_inside_a_note_cannot_forge_another_field() {
    let forged = WalletEntry {
        note: Some("hi\"\nreference=\"event:1".into()),
        reference: None,
        ..entry(ADA, 1, GENESIS_HASH)
    };
    let canonical = forged.canonical("wallet.transfer_sent");
    assert_eq!(canonical.lines().count(), 16);
    assert!(canonical.contains("\nreference=-\n"));
    assert!(canonical.contains("\nnote=\"hi\\\"\\nreference=\\\"event:1\"\n"), "{canonical}");
}

#[test]
fn the_canonical_form_does_not_depend_on_json_key_order() {
    let history = ada_history();
    let sent = &history[SENT];
    let value = accepted(serde_json::to_value(sent.entry()));
    let serde_json::Value::Object(fields) = value else { panic!("an entry is a JSON object: {value}") };
    let reversed = format!(
        "{{{}}}",
        fields
            .iter()
            .rev()
            .map(|(key, value)| format!("{}:{value}", serde_json::Value::from(key.as_str())))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(reversed.starts_with("{\"topUpId\""), "{reversed}");
    assert_ne!(reversed, accepted(serde_json::to_string(sent.entry())));

    let read_back: WalletEntry = accepted(serde_json::from_str(&reversed));
    assert_eq!(&read_back, sent.entry());
    assert_eq!(read_back.canonical(sent.event_type()), sent.entry().canonical(sent.event_type()));
    assert_eq!(read_back.expected_hash(sent.event_type()), sent.entry().hash);

    let through_value: WalletEntry = accepted(serde_json::from_value(serde_json::Value::Object(fields)));
    assert_eq!(through_value.expected_hash(sent.event_type()), sent.entry().hash);
}

// ---------------------------------------------------------------------------------------------
// Event types
// ---------------------------------------------------------------------------------------------

/// Every kind of wallet event, with the type name it is stored under (never to change).
const ALL_KINDS: [(WalletEventKind, &str); 12] = [
    (WalletEventKind::TopUpRequested, "wallet.top_up_requested"),
    (WalletEventKind::ToppedUp, "wallet.topped_up"),
    (WalletEventKind::TopUpFailed, "wallet.top_up_failed"),
    (WalletEventKind::TransferSent, "wallet.transfer_sent"),
    (WalletEventKind::TransferReceived, "wallet.transfer_received"),
    (WalletEventKind::PaymentSent, "wallet.payment_sent"),
    (WalletEventKind::PaymentReceived, "wallet.payment_received"),
    (WalletEventKind::HoldPlaced, "wallet.hold_placed"),
    (WalletEventKind::HoldCaptured, "wallet.hold_captured"),
    (WalletEventKind::HoldReleased, "wallet.hold_released"),
    (WalletEventKind::RefundSent, "wallet.refund_sent"),
    (WalletEventKind::RefundReceived, "wallet.refund_received"),
];

/// The place of `kind` in [`ALL_KINDS`]; a new kind does not compile until it is listed there.
fn listed_at(kind: WalletEventKind) -> usize {
    match kind {
        WalletEventKind::TopUpRequested => 0,
        WalletEventKind::ToppedUp => 1,
        WalletEventKind::TopUpFailed => 2,
        WalletEventKind::TransferSent => 3,
        WalletEventKind::TransferReceived => 4,
        WalletEventKind::PaymentSent => 5,
        WalletEventKind::PaymentReceived => 6,
        WalletEventKind::HoldPlaced => 7,
        WalletEventKind::HoldCaptured => 8,
        WalletEventKind::HoldReleased => 9,
        WalletEventKind::RefundSent => 10,
        WalletEventKind::RefundReceived => 11,
    }
}

#[test]
fn every_wallet_event_round_trips_under_its_type_tag() {
    let payload = WalletEntry {
        entry_id: id(0x7e),
        amount: 5,
        available_delta: -5,
        available_after: 5,
        counterparty: Some(BOB.to_string()),
        payment_id: Some(PAYMENT),
        reference: Some("order:17".into()),
        note: Some("n".into()),
        hash: "ab".repeat(32),
        ..entry(ADA, 2, GENESIS_HASH)
    };
    for (index, (kind, type_name)) in ALL_KINDS.into_iter().enumerate() {
        assert_eq!(listed_at(kind), index);
        let event = kind.wrap(payload.clone());
        assert_eq!(event.kind(), kind);
        assert_eq!(event.event_type(), type_name);
        assert_eq!(kind.event_type(), type_name);
        let json = accepted(serde_json::to_value(&event));
        assert_eq!(json["type"], type_name, "{kind:?}");
        assert_eq!(json["data"], accepted(serde_json::to_value(&payload)), "{kind:?}");
        assert_eq!(json["data"]["entryId"], id(0x7e).to_string());
        assert_eq!(accepted(serde_json::from_value::<WalletEvent>(json)), event, "{kind:?}");
        assert_eq!(event.schema_version(), 1);
    }
    let names: BTreeSet<&str> = ALL_KINDS.iter().map(|(_, name)| *name).collect();
    assert_eq!(names.len(), ALL_KINDS.len(), "type names are distinct");
    assert!(names.iter().all(|name| name.starts_with("wallet.")));
}

#[test]
fn a_wallet_entry_refuses_unknown_fields() {
    let mut json = accepted(serde_json::to_value(entry(ADA, 1, GENESIS_HASH)));
    json["balance"] = serde_json::Value::from(1);
    assert!(serde_json::from_value::<WalletEntry>(json).is_err());
}

#[test]
fn every_payment_event_round_trips_under_its_type_tag() {
    let released = HoldReleased { amount: 400, released_at: soon() };
    let events = [
        (
            "payment.paid",
            PaymentEvent::Paid(PaymentPaid {
                payer: ADA.to_string(),
                payee: "system.escrow".into(),
                amount: 5,
                reference: "order:17".into(),
                note: None,
                paid_at: now(),
            }),
        ),
        (
            "payment.authorized",
            PaymentEvent::Authorized(PaymentAuthorized {
                payer: ADA.to_string(),
                payee: "system.escrow".into(),
                amount: 400,
                reference: "event:42".into(),
                authorized_at: now(),
                expires_at: hold_expiry(),
            }),
        ),
        (
            "payment.captured",
            PaymentEvent::Captured(PaymentCaptured { amount: 1, released: 2, captured_at: soon() }),
        ),
        ("payment.voided", PaymentEvent::Voided(released.clone())),
        ("payment.expired", PaymentEvent::Expired(released)),
        (
            "payment.refunded",
            PaymentEvent::Refunded(PaymentRefunded {
                refund_id: id(0x5e1),
                amount: 1,
                reason: Some("cancelled".into()),
                refunded_at: now(),
            }),
        ),
    ];
    for (type_name, event) in events {
        assert_eq!(event.event_type(), type_name);
        let json = accepted(serde_json::to_value(&event));
        assert_eq!(json["type"], type_name);
        assert_eq!(accepted(serde_json::from_value::<PaymentEvent>(json)), event);
    }
}

#[test]
fn accounts_are_named_by_user_id_or_system_name() {
    for account in [ADA, ESCROW, FUNDING] {
        assert_eq!(LedgerAccount::parse(&account.to_string()), Some(account));
    }
    assert_eq!(FUNDING.to_string(), "system.funding");
    assert_eq!(ESCROW.to_string(), "system.escrow");
    assert_eq!(accepted(serde_json::to_value(ADA)), "00000000-0000-0000-0000-000000000ada");
    assert_eq!(LedgerAccount::parse("system.bank"), None);
    assert_eq!((ADA.user(), ESCROW.user()), (Some(id(0xada)), None));
    assert!(ADA.has_stream() && ESCROW.has_stream() && !FUNDING.has_stream());
}

#[test]
fn amounts_are_checked_alone() {
    assert_eq!(check_amount(1), Ok(1));
    assert_eq!(check_amount(0), Err(LedgerError::InvalidAmount(0)));
    assert_eq!(check_note(None), Ok(()));
    assert_eq!(check_note(Some(&"x".repeat(MAX_NOTE_CHARS))), Ok(()));
    assert_eq!(check_note(Some(&"x".repeat(MAX_NOTE_CHARS + 1))), Err(LedgerError::NoteTooLong));
}
