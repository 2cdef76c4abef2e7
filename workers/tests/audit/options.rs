//! The audit's options: waiting for the projection, capping the mismatches kept, skipping the
//! read models.

use crate::store::{before_the_transfer_to_dave, build_balances, build_payments, checkpoint, end_of_log};
use crate::world::world;
use crate::{audit, audit_with, kinds, ok, set};
use loopync_workers::looppay::audit::{AuditOptions, MismatchKind, ReadModelStatus};
use sqlx::PgPool;

#[sqlx::test(migrations = "../schemas/migrations")]
async fn wait_for_projection_waits_for_the_checkpoint_then_compares(pool: PgPool) {
    let w = world(&pool).await;
    let lag = before_the_transfer_to_dave(&pool, &w).await;
    let end = end_of_log(&pool).await;
    build_balances(&pool, Some(lag.global_position)).await;
    build_payments(&pool).await;
    checkpoint(&pool, lag).await;

    // Nobody moves the projection: the wait gives up after its timeout, and the rows are
    // compared at the checkpoint.
    let options = |wait_ms| AuditOptions {
        wait_for_projection: Some(std::time::Duration::from_millis(wait_ms)),
        ..AuditOptions::default()
    };
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(300)).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.position, Some(lag));
    assert_eq!(report.read_models.events_not_projected, 2);
    assert!(
        report
            .warnings
            .iter()
            .any(|warning| warning.contains("looppay_ledger did not reach the end of the log within 0.3s")),
        "{:?}",
        report.warnings
    );

    // The projection catches up while the audit waits: the audit compares once it has.
    let projector = tokio::spawn({
        let pool = pool.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            build_balances(&pool, None).await;
            checkpoint(&pool, end).await;
        }
    });
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(30_000)).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(400), "it waited");
    ok(projector.await);
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.position, Some(end));
    assert_eq!(report.read_models.events_not_projected, 0);
    assert_eq!(report.read_models.wallet_rows, 5, "Dave's row, projected meanwhile, is compared");
    assert!(
        report
            .warnings
            .iter()
            .all(|warning| !warning.contains("did not reach") && !warning.contains("after")),
        "{:?}",
        report.warnings
    );

    // Already there: no wait at all.
    let started = std::time::Instant::now();
    let report = audit_with(&pool, options(30_000)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(report.clean, "{report}");
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn max_mismatches_caps_the_list_but_counts_every_mismatch(pool: PgPool) {
    world(&pool).await;
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    ok(sqlx::query("UPDATE read_models.wallet_balances SET available = available + 1").execute(&pool).await);
    ok(sqlx::query("UPDATE read_models.ledger_payments SET amount = amount + 1").execute(&pool).await);

    let report = audit(&pool).await;
    assert_eq!(report.mismatch_count, 10, "{report}");
    assert_eq!(report.mismatches.len(), 10);
    assert!(!report.mismatches_truncated);

    let capped = |max_mismatches| AuditOptions { max_mismatches, ..AuditOptions::default() };
    let report = audit_with(&pool, capped(3)).await;
    assert!(!report.clean);
    assert_eq!(report.mismatch_count, 10);
    assert_eq!(report.mismatches.len(), 3);
    assert!(report.mismatches_truncated);
    assert_eq!(kinds(&report), set(&[MismatchKind::ReadModelDiffers]));
    let text = report.to_string();
    assert!(text.contains("... 7 more mismatches not shown"), "{text}");
    assert!(text.contains("FAILED: 10 mismatches"), "{text}");
    let json: serde_json::Value = ok(serde_json::from_str(&ok(report.to_json())));
    assert_eq!(json["mismatchCount"], 10);
    assert_eq!(json["mismatchesTruncated"], true);

    let report = audit_with(&pool, capped(0)).await;
    assert!(!report.clean);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.mismatch_count, 10);
    assert!(report.mismatches.is_empty());
    assert!(report.mismatches_truncated);
}

#[sqlx::test(migrations = "../schemas/migrations")]
async fn compare_read_models_false_skips_the_comparison(pool: PgPool) {
    let w = world(&pool).await;
    let skip = |wait: Option<std::time::Duration>| AuditOptions {
        compare_read_models: false,
        wait_for_projection: wait,
        ..AuditOptions::default()
    };

    // No read models at all: not a failure when they are not compared.
    let report = audit_with(&pool, skip(None)).await;
    assert!(report.clean, "{report}");
    assert_eq!(report.read_models.status, ReadModelStatus::Skipped);
    assert!(
        report.warnings.iter().any(|warning| warning.contains("read models not compared")),
        "{:?}",
        report.warnings
    );
    assert!(report.to_string().contains("read models       not compared"), "{report}");

    // Wrong rows and a lagging checkpoint: neither compared nor waited for.
    build_balances(&pool, None).await;
    build_payments(&pool).await;
    ok(sqlx::query("UPDATE read_models.wallet_balances SET held = held + 1").execute(&pool).await);
    ok(sqlx::query("DELETE FROM read_models.ledger_payments").execute(&pool).await);
    checkpoint(&pool, before_the_transfer_to_dave(&pool, &w).await).await;
    assert!(!audit(&pool).await.clean, "compared, the rows are wrong");

    let started = std::time::Instant::now();
    let report = audit_with(&pool, skip(Some(std::time::Duration::from_secs(30)))).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "no wait");
    assert!(report.clean, "{report}");
    let r = &report.read_models;
    assert_eq!(r.status, ReadModelStatus::Skipped);
    assert_eq!((r.position, r.wallet_rows, r.payment_rows, r.events_not_projected), (None, 0, None, 0));
    assert!(
        report.warnings.iter().all(|warning| !warning.contains("did not reach")),
        "{:?}",
        report.warnings
    );
}
