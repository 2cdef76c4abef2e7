//! Live balances: the ledger read model publishes each user's new balance on NATS
//! (`live.user.<id>.durable`, the frame the gateway forwards) after the batch that changed it
//! commits.

use crate::support::{Options, spawn_with};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// The next message on `subscriber` as JSON, or a panic after 10 s.
async fn next_message(subscriber: &mut async_nats::Subscriber, subject: &str) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
        .await
        .unwrap_or_else(|_| panic!("no message on {subject} within 10 s"))
        .unwrap_or_else(|| panic!("the subscription to {subject} ended"));
    assert_eq!(message.subject.as_str(), subject);
    serde_json::from_slice(&message.payload).unwrap_or_else(|e| panic!("not JSON on {subject}: {e}"))
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_transfer_publishes_the_recipients_new_balance(pool: PgPool) {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let nats = async_nats::connect(&url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
    let app = spawn_with(&pool, Options { nats: Some(nats.clone()), ..Options::default() }).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    let carol = app.signup().await;
    // Wait for Ada's top-up to be published before listening, so only the transfer is heard.
    app.caught_up().await;

    let bob_subject = loopync_projections::live::durable_subject(bob.id);
    let ada_subject = loopync_projections::live::durable_subject(ada.id);
    let mut bobs = nats.subscribe(bob_subject.clone()).await.unwrap_or_else(|e| panic!("subscribe: {e}"));
    let mut adas = nats.subscribe(ada_subject.clone()).await.unwrap_or_else(|e| panic!("subscribe: {e}"));
    let mut carols = nats
        .subscribe(loopync_projections::live::durable_subject(carol.id))
        .await
        .unwrap_or_else(|e| panic!("subscribe: {e}"));
    nats.flush().await.unwrap_or_else(|e| panic!("flush: {e}"));

    let reply = app.transfer(&ada, bob.id, 1250, Some("tickets"), None).await;
    reply.created();

    let message = next_message(&mut bobs, &bob_subject).await;
    assert_eq!(
        message,
        json!({
            "type": "balance_updated",
            // Bob's first update was the profile card of his sign-up.
            "cursor": "2",
            "data": {"available": 1250, "held": 0, "currency": "LOOP", "sequence": 1},
        })
    );
    let message = next_message(&mut adas, &ada_subject).await;
    assert_eq!(message["type"], "balance_updated");
    assert_eq!(message["data"]["available"], 3750);
    assert_eq!(message["data"]["sequence"], 2);

    // A second movement, a second update with the balance after it.
    app.transfer(&bob, ada.id, 250, None, None).await.created();
    let message = next_message(&mut bobs, &bob_subject).await;
    assert_eq!(message["data"], json!({"available": 1000, "held": 0, "currency": "LOOP", "sequence": 2}));

    // Nobody else hears about it.
    let quiet = tokio::time::timeout(Duration::from_millis(500), carols.next()).await;
    assert!(quiet.is_err(), "Carol was told about someone else's balance: {quiet:?}");
}
