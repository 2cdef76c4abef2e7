//! Tampering with the events, found by the ledger's own checks: edited, deleted and forged
//! wallet events (chains, double entry, conservation), a forged counterparty, a refund beyond
//! its payment, a top-up credited twice, and garbage where a payload should be.

use crate::store::{build_balances, build_payments, event_of, forge, wallet_events};
use crate::world::{top_up_of, world};
use crate::{audit, audit_events, audit_with, disarm_append_only, kinds, ok, only, set, stream};
use loopync_commands::CommandContext;
use loopync_domain::looppay::{self, WalletEvent};
use loopync_workers::looppay::audit::{AuditOptions, Mismatch, MismatchKind, ReadModelStatus};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_edited_amount_breaks_the_hash_chain(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let sent = wallet_events(&pool, w.ada).await.remove(1);
    assert_eq!(sent.event_type, "wallet.transfer_sent");
    disarm_append_only(&pool).await;
    ok(sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{amount}', '9999') WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.ada))
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(kinds(&report), set(&[MismatchKind::Hash, MismatchKind::LegShape]), "{report}");
    let hash = only(&report, MismatchKind::Hash);
    assert_eq!((hash.stream, hash.version, hash.position), (stream(w.ada), Some(2), Some(sent.position)));
    assert!(hash.reason.contains("altered"), "{}", hash.reason);
    assert!(only(&report, MismatchKind::LegShape).reason.contains("amount 9999"));
    assert!(
        report
            .to_string()
            .contains(&format!("MISMATCH hash stream=wallet-{} version=2 position={}", w.ada, sent.position))
    );
}

/// The amount, deltas and balances edited together, the hash left alone: the money of the
/// wallet looks right, its hash does not; and the entry no longer balances.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_amount_edited_with_its_balances_but_not_its_hash_is_found(pool: PgPool) {
    let w = world(&pool).await;
    let received = wallet_events(&pool, w.bob).await.remove(1);
    assert_eq!(received.event_type, "wallet.transfer_received");
    disarm_append_only(&pool).await;
    ok(sqlx::query(
        "UPDATE events SET payload = payload || jsonb_build_object('amount', 1600, 'availableDelta', 1600, \
         'availableAfter', (payload->>'availableAfter')::bigint + 100) WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.bob))
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    let hash = only(&report, MismatchKind::Hash);
    assert_eq!((hash.stream, hash.version, hash.position), (stream(w.bob), Some(2), Some(received.position)));
    // Only the first break of the wallet: Bob's later events are not reported again.
    let chain =
        [MismatchKind::Sequence, MismatchKind::PrevHash, MismatchKind::Balance, MismatchKind::Negative];
    assert!(report.mismatches.iter().all(|m| !chain.contains(&m.kind)), "{report}");
    let unbalanced = only(&report, MismatchKind::UnbalancedEntry);
    assert_eq!(unbalanced.entry_id, Some(received.entry.entry_id));
    assert!(unbalanced.reason.contains("+100"), "{}", unbalanced.reason);
    assert!(only(&report, MismatchKind::Conservation).reason.contains("+100"));
    assert_eq!(report.totals.imbalance, 100);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_deleted_event_breaks_the_sequence(pool: PgPool) {
    let w = world(&pool).await;
    let events = wallet_events(&pool, w.ada).await;
    let (deleted, next) = (&events[2], &events[3]);
    assert_eq!(deleted.event_type, "wallet.payment_sent");
    disarm_append_only(&pool).await;
    ok(sqlx::query("DELETE FROM events WHERE stream_name = $1 AND stream_version = 3")
        .bind(format!("wallet-{}", w.ada))
        .execute(&pool)
        .await);

    let report = audit(&pool).await;
    let sequence = only(&report, MismatchKind::Sequence);
    assert_eq!(
        (sequence.stream, sequence.version, sequence.position),
        (stream(w.ada), Some(4), Some(next.position))
    );
    assert!(sequence.reason.contains("sequence 4 where 3 was expected"), "{}", sequence.reason);
    // The payment's other leg is now alone, the money is not conserved, the payment's legs
    // disagree with it.
    let incomplete = only(&report, MismatchKind::IncompleteEntry);
    assert_eq!(incomplete.entry_id, Some(w.paid));
    assert!(incomplete.reason.contains("has legs payment_received"), "{}", incomplete.reason);
    assert_eq!(only(&report, MismatchKind::UnbalancedEntry).entry_id, Some(w.paid));
    assert!(report.has(MismatchKind::Conservation));
    assert!(
        only(&report, MismatchKind::PaymentLegs)
            .reason
            .contains("payment_sent legs total 0, its events say 2000")
    );
}

/// The last event of a wallet deleted: every chain is still intact; double entry finds it.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_deleted_leg_of_a_transfer_unbalances_its_entry(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let sent = wallet_events(&pool, w.ada).await.pop().expect("Ada has events");
    assert_eq!(sent.entry.entry_id, w.to_dave);
    disarm_append_only(&pool).await;
    let deleted = ok(sqlx::query("DELETE FROM events WHERE stream_name = $1")
        .bind(format!("wallet-{}", w.dave))
        .execute(&pool)
        .await);
    assert_eq!(deleted.rows_affected(), 1);

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[
            MismatchKind::IncompleteEntry,
            MismatchKind::UnbalancedEntry,
            MismatchKind::Conservation,
            MismatchKind::ReadModelExtra,
        ]),
        "{report}"
    );
    let incomplete = only(&report, MismatchKind::IncompleteEntry);
    assert_eq!(incomplete.entry_id, Some(w.to_dave));
    assert_eq!(
        (incomplete.stream, incomplete.version, incomplete.position),
        (stream(w.ada), Some(sent.version), Some(sent.position))
    );
    assert!(incomplete.reason.contains("transfer_sent + transfer_received"), "{}", incomplete.reason);
    assert!(only(&report, MismatchKind::UnbalancedEntry).reason.contains("-250"));
    assert_eq!(report.totals.imbalance, -250);
    assert_eq!(only(&report, MismatchKind::ReadModelExtra).stream, stream(w.dave));
}

/// Balances after forged with valid hashes (the whole chain re-sealed with the domain's
/// hash): the balances no longer follow from the deltas.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn forged_balances_with_recomputed_hashes_break_the_balance_check(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let forged = forge(&pool, w.ada, 4, true, |e| e.available_after += 1_000).await;

    let report = audit(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::Balance]), "{report}");
    let balance = only(&report, MismatchKind::Balance);
    assert_eq!(
        (balance.stream, balance.version, balance.position),
        (stream(w.ada), Some(4), Some(forged.position))
    );
}

/// The amount, deltas and balances forged consistently through the whole chain, every hash
/// recomputed with the domain: every chain is valid. Only the money checks can catch it: the
/// entry does not balance, money is not conserved (and the read model disagrees).
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_consistently_forged_leg_is_caught_by_double_entry_and_conservation(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    let forged = forge(&pool, w.dave, 1, true, |e| {
        e.amount = 2_500;
        e.available_delta = 2_500;
        e.available_after = 2_500;
    })
    .await;
    let chain = wallet_events(&pool, w.dave).await;
    let events: Vec<WalletEvent> = chain.iter().map(|s| event_of(&s.event_type, s.entry.clone())).collect();
    assert!(looppay::verify_chain(&events).is_ok(), "the forged chain verifies");

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::UnbalancedEntry, MismatchKind::Conservation, MismatchKind::ReadModelDiffers]),
        "{report}"
    );
    let unbalanced = only(&report, MismatchKind::UnbalancedEntry);
    assert_eq!(unbalanced.entry_id, Some(w.to_dave));
    assert!(unbalanced.reason.contains("+2250"), "{}", unbalanced.reason);
    assert_eq!(report.totals.imbalance, 2_250);
    let differs = only(&report, MismatchKind::ReadModelDiffers);
    assert_eq!((differs.stream, differs.position), (stream(w.dave), Some(forged.position)));
    assert!(differs.reason.contains("available 250 (replay 2500)"), "{}", differs.reason);
}

/// A top-up forged the same way balances itself (its funding leg is implied by the event):
/// neither double entry nor conservation can see it. Only the read model (built before the
/// forgery) and the provider's own records can. This documents the limit.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_consistently_forged_top_up_is_only_visible_in_the_read_model(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    forge(&pool, w.bob, 1, true, |e| {
        e.amount += 1_000_000;
        e.available_delta += 1_000_000;
        e.available_after += 1_000_000;
    })
    .await;

    let report = audit(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]), "{report}");
    assert_eq!(only(&report, MismatchKind::ReadModelDiffers).stream, stream(w.bob));
    assert_eq!(report.totals.funding, -1_017_000);
    assert_eq!(report.totals.imbalance, 0);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_forged_counterparty_is_found(pool: PgPool) {
    let w = world(&pool).await;
    let carol = w.carol.to_string();
    forge(&pool, w.dave, 1, false, |e| e.counterparty = Some(carol.clone())).await;

    let report = audit_events(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::Counterparty]), "{report}");
    let counterparty = only(&report, MismatchKind::Counterparty);
    assert_eq!(counterparty.entry_id, Some(w.to_dave));
    assert!(counterparty.reason.contains(&w.carol.to_string()), "{}", counterparty.reason);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_refund_beyond_the_payment_is_found_in_its_stream(pool: PgPool) {
    let w = world(&pool).await;
    // The payment streams have no hash chain: their wallet legs are their witnesses.
    disarm_append_only(&pool).await;
    ok(sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{amount}', '5000') \
         WHERE stream_name = $1 AND event_type = 'payment.refunded'",
    )
    .bind(format!("payment-{}", w.paid))
    .execute(&pool)
    .await);

    let report = audit_events(&pool).await;
    assert_eq!(kinds(&report), set(&[MismatchKind::PaymentState, MismatchKind::PaymentLegs]), "{report}");
    let state = only(&report, MismatchKind::PaymentState);
    assert_eq!((state.stream, state.version), (Some(format!("payment-{}", w.paid)), Some(2)));
    assert!(state.reason.contains("refunds of 5000 exceed the 2000 paid"), "{}", state.reason);
    let legs: Vec<&Mismatch> = report.of_kind(MismatchKind::PaymentLegs).collect();
    assert_eq!(legs.len(), 2, "refund_sent and refund_received: {legs:#?}");
    assert!(legs.iter().all(|m| m.reason.contains("legs total 500, its events say 5000")));
}

/// A top-up id credited to two wallets: each entry balances with its implied funding leg, but
/// one top-up (one payment from a provider) was credited twice.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_top_up_credited_twice_is_a_duplicate_leg(pool: PgPool) {
    let w = world(&pool).await;
    let cx = CommandContext::actor("audit-test");
    let top_up = Uuid::now_v7();
    ok(w.ledger.decide(&top_up_of(w.ada, top_up, 40, true, w.now), &cx).await);
    ok(w.ledger.decide(&top_up_of(w.bob, top_up, 40, true, w.now), &cx).await);

    let report = audit(&pool).await;
    assert!(kinds(&report).contains(MismatchKind::DuplicateLeg.as_str()), "{report}");
    let duplicate = only(&report, MismatchKind::DuplicateLeg);
    assert_eq!(duplicate.entry_id, Some(top_up));
    assert!(duplicate.reason.contains("second topped_up"), "{}", duplicate.reason);
}

/// Garbage where a payload should be: a mismatch at that event, not an error. The broken
/// wallet (payment) is not compared with its read-model row.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn an_undecodable_payload_is_a_mismatch_not_an_error(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let sent = wallet_events(&pool, w.ada).await.remove(1);
    assert_eq!(sent.event_type, "wallet.transfer_sent");
    disarm_append_only(&pool).await;
    let updated = ok(sqlx::query(
        "UPDATE events SET payload = '{\"garbage\": [1, 2, 3]}' WHERE stream_name = $1 AND stream_version = 2",
    )
    .bind(format!("wallet-{}", w.ada))
    .execute(&pool)
    .await);
    assert_eq!(updated.rows_affected(), 1);
    let refunded = ok(sqlx::query(
        "UPDATE events SET payload = '\"not an object\"' WHERE stream_name = $1 AND stream_version = 2 \
         RETURNING global_position",
    )
    .bind(format!("payment-{}", w.paid))
    .fetch_one(&pool)
    .await);
    let refunded: i64 = sqlx::Row::get(&refunded, 0);

    let report = audit_with(&pool, AuditOptions::default()).await;
    assert!(!report.clean);
    let undecodable: Vec<&Mismatch> = report.of_kind(MismatchKind::Undecodable).collect();
    let [payment, wallet] = undecodable.as_slice() else { panic!("two undecodable: {report}") };
    assert_eq!(
        (&payment.stream, payment.version, payment.position),
        (&Some(format!("payment-{}", w.paid)), Some(2), Some(refunded))
    );
    assert_eq!(
        (&wallet.stream, wallet.version, wallet.position),
        (&stream(w.ada), Some(2), Some(sent.position))
    );
    assert!(wallet.reason.contains("wallet.transfer_sent v1 does not decode"), "{}", wallet.reason);
    assert!(payment.reason.contains("payment.refunded v1 does not decode"), "{}", payment.reason);
    // Ada's row (her real balance) and the payment's row are not compared with a replay that
    // stopped at the garbage: no read-model mismatch. The missing legs are still felt by the
    // money checks: the transfer has only its received leg, the refund only its wallet legs.
    assert_eq!(
        kinds(&report),
        set(&[
            MismatchKind::Undecodable,
            MismatchKind::IncompleteEntry,
            MismatchKind::UnbalancedEntry,
            MismatchKind::PaymentLegs,
            MismatchKind::Conservation,
        ]),
        "{report}"
    );
    assert_eq!(only(&report, MismatchKind::IncompleteEntry).entry_id, Some(sent.entry.entry_id));
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.totals.imbalance, 1_500);
}
