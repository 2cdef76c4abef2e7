//! The hash chain: any edit, removal, insertion or reordering is detected.

use super::*;

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
    accepted(ledger.decide(ADA, &request_top_up(4, 200, false, LIMITS, now())));
    accepted(ledger.decide(ADA, &expire_top_up(4, now() + pending_window())));
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
