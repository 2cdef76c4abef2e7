//! Live balances: the ledger read model publishes each user's new balance on NATS
//! (`live.user.<id>.durable`, the frame the gateway forwards) after the batch that changed it
//! commits.

use futures::StreamExt;
use loopync_projections::{Subjects, live};
use loopync_testkit::{Options, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// A user's live updates on NATS from a cursor on.
struct Listener {
    subscriber: async_nats::Subscriber,
    subject: String,
    /// Updates up to this cursor were committed before the test listened. The runner publishes
    /// them just after its checkpoint moves, so one may still turn up: it is skipped.
    after: i64,
}

impl Listener {
    async fn new(nats: &async_nats::Client, pool: &PgPool, user_id: uuid::Uuid) -> Self {
        let after = live::head(pool, user_id).await.expect("head");
        let subject = Subjects::default().live_durable(user_id);
        let subscriber = nats.subscribe(subject.clone()).await.expect("subscribe");
        Self { subscriber, subject, after }
    }

    /// The next update after `after` as JSON, or `None` when none comes within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.subscriber.next())
                .await
                .ok()?
                .unwrap_or_else(|| panic!("the subscription to {} ended", self.subject));
            assert_eq!(message.subject.as_str(), self.subject);
            let update: Value = serde_json::from_slice(&message.payload)
                .unwrap_or_else(|e| panic!("not JSON on {}: {e}", self.subject));
            let cursor = update["cursor"].as_str().and_then(|c| c.parse::<i64>().ok());
            if cursor.is_some_and(|cursor| cursor > self.after) {
                return Some(update);
            }
        }
    }

    /// The next update after `after`, or a panic after 10 s.
    async fn next(&mut self) -> Value {
        let wait = Duration::from_secs(10);
        self.within(wait).await.unwrap_or_else(|| panic!("no update on {} within 10 s", self.subject))
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_transfer_publishes_the_recipients_new_balance(pool: PgPool) {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let nats = async_nats::connect(&url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}"));
    let app = spawn_app(&pool, Options { nats: Some(nats.clone()), ..Options::default() }).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    let carol = app.signup().await;
    // Listen once Ada's top-up and the sign-ups are in the read models: only the transfer is
    // heard.
    app.caught_up().await;

    let mut bobs = Listener::new(&nats, &pool, bob.id).await;
    let mut adas = Listener::new(&nats, &pool, ada.id).await;
    let mut carols = Listener::new(&nats, &pool, carol.id).await;
    nats.flush().await.expect("flush");

    let reply = app.transfer(&ada, bob.id, 1250, Some("tickets"), None).await;
    reply.created();

    let message = bobs.next().await;
    assert_eq!(
        message,
        json!({
            "type": "balance_updated",
            // Bob's first update was the profile card of his sign-up.
            "cursor": "2",
            "data": {"available": 1250, "held": 0, "currency": "LOOP", "sequence": 1},
        })
    );
    let message = adas.next().await;
    assert_eq!(message["type"], "balance_updated");
    assert_eq!(message["data"]["available"], 3750);
    assert_eq!(message["data"]["sequence"], 2);

    // A second movement, a second update with the balance after it.
    app.transfer(&bob, ada.id, 250, None, None).await.created();
    let message = bobs.next().await;
    assert_eq!(message["data"], json!({"available": 1000, "held": 0, "currency": "LOOP", "sequence": 2}));

    // Nobody else hears about it.
    let heard = carols.within(Duration::from_millis(500)).await;
    assert_eq!(heard, None, "Carol was told about someone else's balance");
}
