//! Cursors that cannot be honoured: past the head or malformed (`unknown_cursor`), or pointing
//! before what retention left (`cursor_expired`). The client gets `ready` at the head, then
//! `resync_required`, then live frames from the head on; a cursor still covered by the store
//! is honoured even after older rows were pruned.

use crate::client::{Client, QUIET, cursor, head, node};
use loopync_testkit::{TestApp, User};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;

/// Bob with `transfers` balance updates from Ada (each in a batch of its own); returns
/// (Ada, Bob).
async fn with_updates(app: &TestApp, transfers: i64) -> (User, User) {
    let (ada, _) = app.funded(100_000).await;
    let bob = app.signup().await;
    app.caught_up().await;
    for amount in 1..=transfers {
        app.transfer(&ada, bob.id, amount, None, None).await.created();
        app.caught_up().await;
    }
    (ada, bob)
}

/// Connects with `since` and expects `ready` at the head then `resync_required` for `reason`.
async fn refused(app: &TestApp, bob: &User, since: &str, reason: &str) -> Client {
    let at = head(&app.pool, bob.id).await;
    let query = format!("token={}&since={}", bob.token, urlencode(since));
    let mut client = Client::connect(app, &query).await;
    let ready = client.expect("ready").await;
    assert_eq!(cursor(&ready), at, "since={since}: ready starts at the head: {ready}");
    assert_eq!(ready["data"]["resumed"], false, "since={since}: {ready}");
    let resync = client.expect("resync_required").await;
    assert_eq!(resync["cursor"], at.to_string(), "since={since}: {resync}");
    assert_eq!(resync["data"]["reason"], reason, "since={since}: {resync}");
    assert_eq!(resync["data"]["cursor"], at.to_string(), "since={since}: {resync}");
    client
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// After a resync the client carries on from the head: the next update is head + 1.
async fn live_from_head(app: &TestApp, ada: &User, bob: &User, client: &mut Client) {
    let at = head(&app.pool, bob.id).await;
    client.silent(Duration::from_millis(300), "nothing is replayed after resync_required").await;
    app.transfer(ada, bob.id, 1000, None, None).await.created();
    let frame: Value = client.expect("balance_updated").await;
    assert_eq!(cursor(&frame), at + 1, "{frame}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_cursor_past_the_head_is_unknown(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, bob) = with_updates(&app, 2).await;
    let at = head(&pool, bob.id).await;
    assert!(at >= 2, "{at}");

    let mut client = refused(&app, &bob, &(at + 1).to_string(), "unknown_cursor").await;
    live_from_head(&app, &ada, &bob, &mut client).await;
    let at = head(&pool, bob.id).await;
    refused(&app, &bob, &(at + 1000).to_string(), "unknown_cursor").await;
    refused(&app, &bob, &i64::MAX.to_string(), "unknown_cursor").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_malformed_cursor_is_unknown(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, bob) = with_updates(&app, 1).await;
    for since in ["abc", "-1", "1.5", "", "99999999999999999999999"] {
        let mut client = refused(&app, &bob, since, "unknown_cursor").await;
        client.ping_pong().await;
    }
    let mut client = refused(&app, &bob, "x", "unknown_cursor").await;
    live_from_head(&app, &ada, &bob, &mut client).await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_cursor_before_pruned_updates_has_expired(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, bob) = with_updates(&app, 3).await;
    let at = head(&pool, bob.id).await;
    assert!(at >= 3, "{at}");

    // Retention zero: everything stored so far goes.
    let pruned =
        loopync_workers::housekeeping::expire_live_updates(&pool, Duration::ZERO).await.expect("prune");
    assert!(pruned >= at as u64, "pruned {pruned}");
    for since in ["0", "1", &(at - 1).to_string()] {
        refused(&app, &bob, since, "cursor_expired").await;
    }
    // The head itself needs nothing from the store: it is honoured.
    let (mut current, ready) = Client::ready(&app, &bob.token, Some(&at.to_string())).await;
    assert_eq!(ready["data"]["resumed"], true, "{ready}");
    current.silent(Duration::from_millis(300), "nothing to replay").await;

    let mut client = refused(&app, &bob, "1", "cursor_expired").await;
    live_from_head(&app, &ada, &bob, &mut client).await;
    let frame = current.expect("balance_updated").await;
    assert_eq!(cursor(&frame), at + 1, "{frame}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_cursor_still_covered_after_a_partial_prune_is_honoured(pool: PgPool) {
    let app = node(&pool).await;
    let (_, bob) = with_updates(&app, 4).await;
    let at = head(&pool, bob.id).await;
    let cut = at - 2;
    sqlx::query("DELETE FROM live_updates WHERE user_id = $1 AND seq <= $2")
        .bind(bob.id)
        .bind(cut)
        .execute(&pool)
        .await
        .expect("delete");

    // Before the cut: the update after it is gone.
    refused(&app, &bob, &(cut - 1).to_string(), "cursor_expired").await;
    // At the cut: everything after it is still there.
    let (mut client, ready) = Client::ready(&app, &bob.token, Some(&cut.to_string())).await;
    assert_eq!(cursor(&ready), cut, "{ready}");
    assert_eq!(ready["data"]["resumed"], true, "{ready}");
    for expected in cut + 1..=at {
        let frame = client.expect("balance_updated").await;
        assert_eq!(cursor(&frame), expected, "{frame}");
    }
    client.silent(QUIET, "nothing after the head").await;
}
