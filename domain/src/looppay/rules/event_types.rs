//! Event types: the stored names of wallet events never change.

use super::*;

/// Every kind of wallet event, with the type name it is stored under (never to change).
pub(super) const ALL_KINDS: [(WalletEventKind, &str); 13] = [
    (WalletEventKind::TopUpRequested, "wallet.top_up_requested"),
    (WalletEventKind::ToppedUp, "wallet.topped_up"),
    (WalletEventKind::TopUpFailed, "wallet.top_up_failed"),
    (WalletEventKind::TopUpExpired, "wallet.top_up_expired"),
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
        WalletEventKind::TopUpExpired => 3,
        WalletEventKind::TransferSent => 4,
        WalletEventKind::TransferReceived => 5,
        WalletEventKind::PaymentSent => 6,
        WalletEventKind::PaymentReceived => 7,
        WalletEventKind::HoldPlaced => 8,
        WalletEventKind::HoldCaptured => 9,
        WalletEventKind::HoldReleased => 10,
        WalletEventKind::RefundSent => 11,
        WalletEventKind::RefundReceived => 12,
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
    assert_eq!(Credits::new(1).map(Credits::minor_units), Ok(1));
    assert_eq!(Credits::new(0), Err(LedgerError::InvalidAmount(0)));
    assert_eq!(check_note(None), Ok(()));
    assert_eq!(check_note(Some(&"x".repeat(MAX_NOTE_CHARS))), Ok(()));
    assert_eq!(check_note(Some(&"x".repeat(MAX_NOTE_CHARS + 1))), Err(LedgerError::NoteTooLong));
}
