//! A clean ledger: it audits clean with the right totals, and the streaming chain verifier
//! agrees with the domain's `verify_chain` on every chain and every single-field tampering.

use crate::store::{build_balances, build_payments, event_of, wallet_events};
use crate::world::{wallet, world};
use crate::{audit, ok};
use loopync_domain::DomainEvent;
use loopync_domain::looppay::{self, LedgerAccount, WalletEntry, WalletEvent};
use loopync_workers::looppay::audit::{ChainVerifier, ReadModelStatus};
use sqlx::PgPool;

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_clean_ledger_audits_clean_with_the_right_totals(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.exit_code(), 0);
    assert!(report.mismatches.is_empty());

    // Ada, Bob, Carol, Dave and escrow; 5 payments (1 paid, 4 holds).
    assert_eq!(report.wallets, 5);
    assert_eq!(report.payments, 5);
    assert_eq!(report.top_ups, 3);
    let wallet_events: i64 =
        ok(sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%'")
            .fetch_one(&pool)
            .await);
    assert_eq!(report.wallet_events as i64, wallet_events);
    // 4 top-ups, 3 transfers, 1 payment, 2 refunds, 4 holds.
    assert_eq!(report.entries, 14);

    let t = report.totals;
    assert_eq!(t.funding, -17_000);
    assert_eq!(t.circulation, 17_000);
    assert_eq!(t.held, 100);
    assert_eq!(t.available, 16_900);
    assert_eq!(t.escrow, 1_500);
    assert_eq!(t.imbalance, 0);

    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.read_models.wallet_rows, 5);
    assert_eq!(report.read_models.payment_rows, Some(5));
    assert_eq!(report.read_models.position, None, "no checkpoint: compared with the whole log");

    // Every wallet's balances match what the domain folds.
    for account in [w.ada, w.bob, w.carol, w.dave, LedgerAccount::Escrow] {
        let wallet = wallet(&w.ledger, account).await;
        let (available, held): (i64, i64) =
            ok(sqlx::query_as("SELECT available, held FROM read_models.wallet_balances WHERE account = $1")
                .bind(account.to_string())
                .fetch_one(&pool)
                .await);
        assert_eq!((available, held), (wallet.available, wallet.held));
    }

    let text = report.to_string();
    assert!(text.contains("wallets checked   5"), "{text}");
    assert!(text.contains("imbalance 0"), "{text}");
    assert!(text.contains("CLEAN"), "{text}");
    let json: serde_json::Value = ok(serde_json::from_str(&ok(report.to_json())));
    assert_eq!(json["clean"], true);
    assert_eq!(json["totals"]["funding"], -17_000);
    assert_eq!(json["readModels"]["status"], "compared");
}

/// `ChainVerifier` is `verify_chain` one event at a time: on real chains and on every
/// single-field tampering of them, both find the same first break.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn the_streaming_verifier_agrees_with_verify_chain(pool: PgPool) {
    let w = world(&pool).await;
    for account in [w.ada, w.bob, w.carol, w.dave, LedgerAccount::Escrow] {
        let stored = wallet_events(&pool, account).await;
        let events: Vec<WalletEvent> =
            stored.iter().map(|s| event_of(&s.event_type, s.entry.clone())).collect();
        let edits: [fn(&mut WalletEntry); 6] = [
            |e| e.sequence += 1,
            |e| e.prev_hash = "00".repeat(32).replacen('0', "1", 1),
            |e| e.amount += 1,
            |e| e.available_after += 1,
            |e| e.held_after -= 1,
            |e| {
                // Below zero, sealed properly: only the negative check can refuse it.
                e.available_delta -= e.available_after + 1;
                e.available_after = -1;
            },
        ];
        for index in 0..events.len() {
            for (n, edit) in edits.iter().enumerate() {
                let mut tampered = events.clone();
                let mut entry = tampered[index].entry().clone();
                edit(&mut entry);
                if n == 5 {
                    entry.hash = entry.expected_hash(tampered[index].event_type());
                }
                tampered[index] = event_of(tampered[index].event_type(), entry);
                let expected = looppay::verify_chain(&tampered).err();
                let mut verifier = ChainVerifier::default();
                let found =
                    tampered.iter().enumerate().find_map(|(i, e)| verifier.check(e).err().map(|b| (i, b)));
                assert_eq!(found, expected, "wallet-{account} event {index}");
            }
        }
        let mut verifier = ChainVerifier::default();
        assert!(events.iter().all(|e| verifier.check(e).is_ok()));
        assert_eq!(looppay::verify_chain(&events).map(|wallet| wallet.sequence), Ok(verifier.sequence()));
    }
}
