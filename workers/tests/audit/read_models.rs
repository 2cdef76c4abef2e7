//! The read models against the replay: rows that differ, are missing or extra; a lagging
//! projection compared at its checkpoint; absent read models.

use crate::store::{
    before_the_transfer_to_dave, build_balances, build_payments, checkpoint, end_of_log, head,
};
use crate::world::{user, wallet, world};
use crate::{audit, kinds, ok, only, set, stream};
use loopync_domain::looppay::LedgerAccount;
use loopync_workers::looppay::audit::{Mismatch, MismatchKind, ReadModelStatus};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_read_model_row_that_differs_from_the_replay_is_found_and_named(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let edit = |sql: &'static str, account: LedgerAccount| {
        let pool = pool.clone();
        async move {
            let updated = ok(sqlx::query(sql).bind(account.to_string()).execute(&pool).await);
            assert_eq!(updated.rows_affected(), 1);
        }
    };
    edit("UPDATE read_models.wallet_balances SET available = available + 1 WHERE account = $1", w.ada).await;
    edit("UPDATE read_models.wallet_balances SET held = 7 WHERE account = $1", w.bob).await;
    edit("UPDATE read_models.wallet_balances SET sequence = sequence - 1 WHERE account = $1", w.carol).await;
    edit("UPDATE read_models.wallet_balances SET last_hash = repeat('ab', 32) WHERE account = $1", w.dave)
        .await;
    ok(sqlx::query(
        "UPDATE read_models.ledger_payments SET status = 'held', refunded = 0 WHERE payment_id = $1",
    )
    .bind(w.paid)
    .execute(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]), "{report}");
    assert_eq!(report.mismatch_count, 5, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, Some(5)));
    assert!(
        report.warnings.iter().any(|warning| warning.contains("looppay_ledger has no checkpoint")),
        "{:?}",
        report.warnings
    );

    let of = |stream: Option<String>| -> Mismatch {
        let found: Vec<&Mismatch> =
            report.of_kind(MismatchKind::ReadModelDiffers).filter(|m| m.stream == stream).collect();
        match found.as_slice() {
            [one] => (*one).clone(),
            _ => panic!("expected one read_model_differs on {stream:?}: {found:#?}"),
        }
    };
    let ada = head(&pool, w.ada).await;
    let differs = of(stream(w.ada));
    assert_eq!((differs.version, differs.position), (Some(ada.version), Some(ada.position)));
    assert!(differs.reason.contains(&format!("wallet_balances row of {}", w.ada)), "{}", differs.reason);
    let available = ada.entry.available_after;
    assert!(
        differs.reason.contains(&format!("available {} (replay {available})", available + 1)),
        "{}",
        differs.reason
    );
    let bob = of(stream(w.bob));
    assert!(bob.reason.contains("held 7 (replay 0)"), "{}", bob.reason);
    let carol = head(&pool, w.carol).await;
    let differs = of(stream(w.carol));
    assert!(
        differs.reason.contains(&format!("sequence {} (replay {})", carol.version - 1, carol.version)),
        "{}",
        differs.reason
    );
    let dave = head(&pool, w.dave).await;
    let differs = of(stream(w.dave));
    assert!(
        differs.reason.contains(&format!("last_hash {} (replay {})", "ab".repeat(32), dave.entry.hash)),
        "{}",
        differs.reason
    );
    // Only the columns that differ are named.
    assert!(!differs.reason.contains("available"), "{}", differs.reason);
    let payment = of(Some(format!("payment-{}", w.paid)));
    assert_eq!(payment.version, Some(2));
    assert!(payment.reason.contains("status held (replay paid)"), "{}", payment.reason);
    assert!(payment.reason.contains("refunded 0 (replay 500)"), "{}", payment.reason);
    assert!(
        report.to_string().contains(&format!(
            "MISMATCH read_model_differs stream=wallet-{} version={} position={}",
            w.ada, ada.version, ada.position
        )),
        "{report}"
    );
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn missing_and_extra_read_model_rows_are_mismatches(pool: PgPool) {
    let w = world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    let stranger = user();
    let phantom = Uuid::now_v7();
    ok(sqlx::query("DELETE FROM read_models.wallet_balances WHERE account = $1")
        .bind(w.carol.to_string())
        .execute(&pool)
        .await);
    ok(sqlx::query(
        "INSERT INTO read_models.wallet_balances VALUES ($1, 100, 0, 1, repeat('0', 64), 1, now())",
    )
    .bind(stranger.to_string())
    .execute(&pool)
    .await);
    ok(sqlx::query("DELETE FROM read_models.ledger_payments WHERE payment_id = $1")
        .bind(w.paid)
        .execute(&pool)
        .await);
    ok(sqlx::query("INSERT INTO read_models.ledger_payments VALUES ($1, $2, $3, 'paid', 10, 0)")
        .bind(phantom)
        .bind(w.ada.to_string())
        .bind(w.bob.to_string())
        .execute(&pool)
        .await);

    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::ReadModelMissing, MismatchKind::ReadModelExtra]),
        "{report}"
    );
    assert_eq!(report.mismatch_count, 4, "{report}");
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, Some(5)));

    let carol = head(&pool, w.carol).await;
    let missing: Vec<&Mismatch> = report.of_kind(MismatchKind::ReadModelMissing).collect();
    let [wallet, payment] = missing.as_slice() else { panic!("two missing rows: {missing:#?}") };
    assert_eq!(
        (&wallet.stream, wallet.version, wallet.position),
        (&stream(w.carol), Some(carol.version), Some(carol.position))
    );
    assert!(wallet.reason.contains(&format!("no wallet_balances row for {}", w.carol)), "{}", wallet.reason);
    assert_eq!((&payment.stream, payment.version), (&Some(format!("payment-{}", w.paid)), Some(2)));
    assert!(payment.reason.contains("no ledger_payments row"), "{}", payment.reason);

    let extra: Vec<&Mismatch> = report.of_kind(MismatchKind::ReadModelExtra).collect();
    let [wallet, payment] = extra.as_slice() else { panic!("two extra rows: {extra:#?}") };
    assert_eq!((&wallet.stream, wallet.version, wallet.position), (&stream(stranger), None, None));
    assert!(wallet.reason.contains("which has no wallet events"), "{}", wallet.reason);
    assert_eq!((&payment.stream, payment.version), (&Some(format!("payment-{phantom}")), None));
    assert!(payment.reason.contains("which has no payment events"), "{}", payment.reason);
}

/// The projection lags: its checkpoint is before the transfer to Dave. Its rows are compared
/// with the replay at the checkpoint (Ada's row without the transfer, no row for Dave), and
/// the lag itself is only a warning. Rows ahead of their checkpoint are mismatches.
#[sqlx::test(migrations = "../schemas/migrations")]
async fn a_lagging_projection_is_compared_at_its_checkpoint(pool: PgPool) {
    let w = world(&pool).await;
    let lag = before_the_transfer_to_dave(&pool, &w).await;
    assert!(lag < end_of_log(&pool).await);
    build_balances(&pool, Some(lag.global_position)).await;
    build_payments(&pool).await;
    checkpoint(&pool, lag).await;
    // A rebuild's generation, far behind: not the active one, so not the checkpoint used.
    ok(sqlx::query(
        "INSERT INTO projection_checkpoints (projection, generation) VALUES ('looppay_ledger', 2)",
    )
    .execute(&pool)
    .await);

    let ada = wallet(&w.ledger, w.ada).await;
    let (available, sequence): (i64, i64) =
        ok(sqlx::query_as("SELECT available, sequence FROM read_models.wallet_balances WHERE account = $1")
            .bind(w.ada.to_string())
            .fetch_one(&pool)
            .await);
    assert_eq!(
        (available, sequence),
        (ada.available + 250, ada.sequence - 1),
        "Ada's row predates the transfer"
    );

    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!(report.read_models.position, Some(lag));
    assert_eq!(report.read_models.events_not_projected, 2, "the transfer's two legs");
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (4, Some(5)));
    assert!(
        report
            .warnings
            .iter()
            .any(|warning| warning.contains("2 ledger events are after looppay_ledger's position")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings.iter().all(|warning| !warning.contains("no checkpoint")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains(&format!("looppay_ledger at {lag}")), "{report}");
    // The ledger's own checks still cover every event.
    assert_eq!(report.wallets, 5);
    assert_eq!(report.totals.imbalance, 0);

    // Rows ahead of the checkpoint they claim: Ada's differs from the replay at the
    // checkpoint, Dave's is for a wallet whose events are all after it.
    build_balances(&pool, None).await;
    let report = audit(&pool).await;
    assert_eq!(
        kinds(&report),
        set(&[MismatchKind::ReadModelDiffers, MismatchKind::ReadModelExtra]),
        "{report}"
    );
    let differs = only(&report, MismatchKind::ReadModelDiffers);
    assert_eq!(differs.stream, stream(w.ada));
    assert_eq!(differs.version, Some(ada.sequence - 1));
    assert!(
        differs.reason.contains(&format!("available {} (replay {})", ada.available, ada.available + 250)),
        "{}",
        differs.reason
    );
    let extra = only(&report, MismatchKind::ReadModelExtra);
    assert_eq!(extra.stream, stream(w.dave));
    assert!(extra.reason.contains("all after the projection's position"), "{}", extra.reason);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn absent_read_models_are_a_warning_on_an_empty_ledger(pool: PgPool) {
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.read_models.status, ReadModelStatus::Absent);
    assert_eq!((report.wallets, report.payments, report.wallet_events), (0, 0, 0));
    let [warning] = report.warnings.as_slice() else { panic!("one warning: {:?}", report.warnings) };
    assert!(warning.contains("read models absent"), "{warning}");
    assert!(warning.contains("the ledger has no events either"), "{warning}");
    assert!(report.to_string().contains("read models       absent"), "{report}");
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn absent_read_models_are_a_failure_when_the_ledger_has_events(pool: PgPool) {
    world(&pool).await;
    let events: i64 = ok(sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%' OR stream_name LIKE 'payment-%'",
    )
    .fetch_one(&pool)
    .await);

    let report = audit(&pool).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.read_models.status, ReadModelStatus::Absent);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelsAbsent]), "{report}");
    let absent = only(&report, MismatchKind::ReadModelsAbsent);
    assert_eq!((absent.stream, absent.version, absent.position), (None, None, None));
    assert!(absent.reason.contains(&format!("but the ledger has {events} events")), "{}", absent.reason);

    // The wallets' table alone: compared, and the payments' absence is only a warning.
    build_balances(&pool, None).await;
    let report = audit(&pool).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Compared);
    assert_eq!((report.read_models.wallet_rows, report.read_models.payment_rows), (5, None));
    assert!(
        report.warnings.iter().any(|warning| warning.contains("read_models.ledger_payments does not exist")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains("no payment table"), "{report}");
}
