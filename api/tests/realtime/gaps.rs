//! A durable update whose NATS message never came is read from the store: the node sees the
//! jump in the user's cursors and fills the gap, in order, before the frame that revealed it.
//! (The projection's publish is simulated: the rows are stored the way the runner stores them,
//! and only the later one is published.)

use crate::client::{Client, cursor, node};
use loopync_projections::Subjects;
use loopync_projections::live::{self, CURSOR_HEADER, LiveUpdate};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_lost_message_is_filled_from_the_store_when_the_next_one_arrives(pool: PgPool) {
    let app = node(&pool).await;
    let bob = app.signup().await;
    app.caught_up().await;
    let (mut bobs, ready) = Client::ready(&app, &bob.token, None).await;
    let start = cursor(&ready);
    // `ready` comes before the connection's first read of the store: answering a ping means
    // that read is over, so the rows stored below can only reach the client through NATS.
    bobs.ping_pong().await;

    // Two updates committed; only the second one's message reaches NATS.
    let update = |available: i64| LiveUpdate {
        user_id: bob.id,
        kind: "balance_updated",
        data: json!({"available": available, "held": 0, "currency": "LOOP", "sequence": available}),
    };
    let mut tx = pool.begin().await.expect("begin");
    let stored = live::append(&mut tx, vec![update(1), update(2)]).await.expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(stored.iter().map(|u| u.seq).collect::<Vec<_>>(), [start + 1, start + 2]);

    // Nothing published yet: nothing arrives (the gateway does not poll).
    bobs.silent(Duration::from_millis(300), "before any message").await;

    let nats = crate::client::nats().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(CURSOR_HEADER, stored[1].seq.to_string().as_str());
    nats.publish_with_headers(Subjects::default().live_durable(bob.id), headers, stored[1].frame().into())
        .await
        .expect("publish");
    nats.flush().await.expect("flush");

    let first = bobs.expect("balance_updated").await;
    let second = bobs.expect("balance_updated").await;
    assert_eq!((cursor(&first), cursor(&second)), (start + 1, start + 2));
    assert_eq!(
        (first["data"]["available"].as_i64(), second["data"]["available"].as_i64()),
        (Some(1), Some(2))
    );

    // The first one's message turning up late changes nothing: no duplicate.
    headers = async_nats::HeaderMap::new();
    headers.insert(CURSOR_HEADER, stored[0].seq.to_string().as_str());
    nats.publish_with_headers(Subjects::default().live_durable(bob.id), headers, stored[0].frame().into())
        .await
        .expect("publish");
    bobs.silent(Duration::from_millis(500), "after a late duplicate").await;
}
