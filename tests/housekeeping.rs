//! Idempotency keys live at least their retention, and are forgotten after it; so do durable
//! live updates.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use loopync_commands::CommandContext;
use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
use loopync_projections::live::{self, LiveUpdate};
use loopync_testkit::node_pipeline;
use loopync_workers::housekeeping::{expire_idempotency_keys, expire_live_updates};
use serde_json::json;
use sqlx::PgPool;
use sqlx::types::Uuid;
use std::time::Duration;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn keys_are_kept_for_their_retention_then_forgotten(pool: PgPool) {
    let pipeline = node_pipeline(&pool, false);
    for key in ["old", "recent"] {
        let ctx = CommandContext::actor("alice").with_idempotency_key(key);
        pipeline.execute::<SampleWallet>("w", SampleWalletCommand::TopUp { amount: 1 }, &ctx).await.unwrap();
    }
    sqlx::query(
        "UPDATE command_log SET recorded_at = now() - interval '25 hours' WHERE idempotency_key = 'old'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE command_log SET recorded_at = now() - interval '23 hours' WHERE idempotency_key = 'recent'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let expired = expire_idempotency_keys(&pool, Duration::from_secs(24 * 3600)).await.unwrap();
    assert_eq!(expired, 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM command_log").fetch_all(&pool).await.unwrap();
    assert_eq!(left, vec!["recent".to_owned()]);

    // The recent key still protects its command; the expired one is a new command again.
    let recent = CommandContext::actor("alice").with_idempotency_key("recent");
    let repeat = pipeline
        .execute::<SampleWallet>("w", SampleWalletCommand::TopUp { amount: 1 }, &recent)
        .await
        .unwrap();
    assert!(repeat.replayed);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn live_updates_past_retention_go_and_cursors_are_never_reused(pool: PgPool) {
    let user_id = Uuid::now_v7();
    let mut tx = pool.begin().await.expect("begin");
    let updates =
        (0..3).map(|n| LiveUpdate { user_id, kind: "profile_updated", data: json!({ "n": n }) }).collect();
    live::append(&mut tx, updates).await.expect("append");
    tx.commit().await.expect("commit");
    sqlx::query("UPDATE live_updates SET created_at = now() - interval '8 days' WHERE seq < 3")
        .execute(&pool)
        .await
        .expect("age");

    let pruned = expire_live_updates(&pool, Duration::from_secs(7 * 24 * 3600)).await.expect("expire");
    assert_eq!(pruned, 2);
    let left = live::after(&pool, user_id, 0, 10).await.expect("after");
    assert_eq!(left.iter().map(|u| u.seq).collect::<Vec<_>>(), [3]);
    // The numbering goes on from the head, never reusing a pruned cursor.
    assert_eq!(live::head(&pool, user_id).await.expect("head"), 3);
}
