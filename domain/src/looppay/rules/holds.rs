//! Holds: placed, captured in whole or part, voided, expired — settled once.

use super::*;

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
    // A capture holds `Credits`: a non-positive amount cannot even be asked for.
    for amount in [0, -1] {
        assert_eq!(Credits::new(amount), Err(LedgerError::InvalidAmount(amount)));
    }
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

    assert_eq!(released, [hold_released("voided", soon(), &before.last_hash)]);
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

    assert_eq!(released, [hold_released("expired", hold_expiry(), &before.last_hash)]);
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
            lasting(duration).decide((&wallet, &Payment::default())),
            Err(LedgerError::InvalidHoldDuration),
            "a hold of {duration}"
        );
    }
    assert_eq!(
        lasting(seven_days + Duration::seconds(1)).decide((&wallet, &Payment::default())),
        Err(LedgerError::InvalidHoldDuration)
    );
    for duration in [Duration::seconds(1), Duration::days(7), seven_days] {
        let (placed, _) = accepted(lasting(duration).decide((&wallet, &Payment::default())));
        assert_eq!(placed[0].entry().held_after, 100, "a hold of {duration}");
    }
}

/// Ada's 400 held credits back in her available balance, as her third entry.
fn hold_released(note: &str, at: DateTime<Utc>, previous_hash: &str) -> WalletEvent {
    sealed(
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
            note: Some(note.into()),
            occurred_at: at,
            ..entry(ADA, 3, previous_hash)
        },
    )
}
