//! Refunds: compensating entries, never more than was paid.

use super::*;

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
    // A refund holds `Credits`: a non-positive amount cannot even be asked for.
    for amount in [0, -1] {
        assert_eq!(Credits::new(amount), Err(LedgerError::InvalidAmount(amount)));
    }
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
