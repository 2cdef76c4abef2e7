//! Durable frames: a command's update reaches the user's devices, on any node.

use crate::client::{Client, node};
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_transfer_reaches_the_recipients_socket(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    // Every projection, not only the ledger: Bob's signup `profile_updated` must be stored
    // before he connects, or it arrives after `ready` as his first frame.
    app.caught_up().await;

    let (mut bobs, ready) = Client::ready(&app, &bob.token, None).await;
    assert_eq!(ready["data"]["userId"], bob.id.to_string());
    app.transfer(&ada, bob.id, 1250, None, None).await.created();

    // Bob's sign-up card (`profile_updated`) may still be on its way when he connects.
    let frames = bobs.until("balance_updated").await;
    let Some(frame) = frames.last() else { panic!("no frames") };
    assert_eq!(frame["data"]["available"], 1250);
    let cursor = |frame: &serde_json::Value| -> i64 {
        frame["cursor"].as_str().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{frame}"))
    };
    let cursors: Vec<i64> = frames.iter().map(cursor).collect();
    let expected: Vec<i64> = (cursor(&ready) + 1..).take(frames.len()).collect();
    assert_eq!(cursors, expected, "{frames:?}");
}
