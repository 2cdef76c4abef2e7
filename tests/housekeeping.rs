//! Idempotency keys live at least their retention, and are forgotten after it.

mod common;

use loopync_commands::CommandContext;
use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
use loopync_workers::housekeeping::expire_idempotency_keys;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn keys_are_kept_for_their_retention_then_forgotten(pool: PgPool) {
    let pipeline = common::pipeline(&pool, false);
    for key in ["old", "recent"] {
        let ctx = CommandContext::actor("alice").with_idempotency_key(key);
        pipeline
            .execute::<SampleWallet>("w", SampleWalletCommand::TopUp { amount: 1 }, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    sqlx::query(
        "UPDATE command_log SET recorded_at = now() - interval '25 hours' WHERE idempotency_key = 'old'",
    )
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(
        "UPDATE command_log SET recorded_at = now() - interval '23 hours' WHERE idempotency_key = 'recent'",
    )
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let expired = expire_idempotency_keys(&pool, Duration::from_secs(24 * 3600))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(expired, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT idempotency_key FROM command_log")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    assert_eq!(left, vec!["recent".to_owned()]);

    // The recent key still protects its command; the expired one is a new command again.
    let recent = CommandContext::actor("alice").with_idempotency_key("recent");
    let repeat = pipeline
        .execute::<SampleWallet>("w", SampleWalletCommand::TopUp { amount: 1 }, &recent)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(repeat.replayed);
}
