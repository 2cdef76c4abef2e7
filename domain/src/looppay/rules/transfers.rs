//! Transfers: wallet to wallet, in one entry.

use super::*;

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
fn a_transfer_is_decided_on_both_wallets_histories() {
    let mut ledger = Ledger::default();
    ledger.fund(ADA, 1_000);
    let ada = ledger.history(ADA).to_vec();
    let expected = accepted(ledger.clone().transfer(&transfer_of(0x7e, 300, ADA, BOB)));
    given_streams((ada.clone(), vec![])).when(transfer_of(0x7e, 300, ADA, BOB)).then(expected);
    given_streams((vec![], ada))
        .when(transfer_of(0x7e, 300, BOB, ADA))
        .then_error(LedgerError::InsufficientFunds { available: 0, requested: 300 });
}

#[test]
fn a_wallet_cannot_transfer_to_itself() {
    // The one place this rule lives: the decision, whatever loaded the (same) stream twice.
    given_streams((vec![], vec![]))
        .when(transfer_of(0x7e, 100, ADA, ADA))
        .then_error(LedgerError::SameAccount);
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
    // A transfer holds `Credits`: a non-positive amount cannot even be asked for.
    for amount in [0, -5] {
        assert_eq!(Credits::new(amount), Err(LedgerError::InvalidAmount(amount)));
    }
    accepted(ledger.transfer(&transfer_of(0x7e, 1, ADA, BOB)));
    assert_eq!(ledger.wallet(BOB).available, 1);
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
