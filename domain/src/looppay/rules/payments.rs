//! Payments: paid at once, with a reference, once per payment id.

use super::*;

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
