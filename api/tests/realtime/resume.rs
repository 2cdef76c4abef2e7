//! Resume: a client that drops mid-stream and reconnects with `since=<its last cursor>` gets
//! exactly the durable frames it missed, in order, then the live ones, with no gap and no
//! duplicate at the switch-over, while transfers keep being made the whole time. What it gets
//! is checked against the `live_updates` table.

use crate::client::{Client, QUIET, cursor, head, node, stored, stored_seqs};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Reads the next durable frame, which must follow `last` directly and match the store.
async fn next_durable(client: &mut Client, pool: &PgPool, user_id: uuid::Uuid, last: &mut i64) -> Value {
    let frame = client.next_frame().await;
    assert_eq!(frame["type"], "balance_updated", "{frame}");
    assert_eq!(cursor(&frame), *last + 1, "a gap or a duplicate after {last}: {frame}");
    let (kind, data) = stored(pool, user_id, *last + 1).await;
    assert_eq!((kind.as_str(), &data), ("balance_updated", &frame["data"]), "{frame}");
    *last += 1;
    frame
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_drops_mid_stream_resumes_with_exactly_what_it_missed(pool: PgPool) {
    const TRANSFERS: i64 = 30;
    let app = Arc::new(node(&pool).await);
    let (ada, _) = app.funded(50_000).await;
    let bob = app.signup().await;
    app.caught_up().await;

    let (mut client, ready) = Client::ready(&app, &bob.token, None).await;
    let start = cursor(&ready);
    let mut last = start;
    let mut received = Vec::new();

    // Transfers keep coming in the background, through every disconnect and reconnect.
    let sender = {
        let (app, ada, bob_id) = (app.clone(), ada.clone(), bob.id);
        tokio::spawn(async move {
            for amount in 1..=TRANSFERS {
                app.transfer(&ada, bob_id, amount, None, None).await.created();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut replayed = 0;
    for round in 0..3 {
        for _ in 0..2 {
            received.push(cursor(&next_durable(&mut client, &pool, bob.id, &mut last).await));
        }
        // Round 0 vanishes without a close frame; the others close cleanly.
        if round == 0 {
            drop(client);
        } else {
            client.close().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let since = last.to_string();
        let (again, ready) = Client::ready(&app, &bob.token, Some(&since)).await;
        client = again;
        assert_eq!(ready["cursor"], since.as_str(), "{ready}");
        assert_eq!(ready["data"]["resumed"], true, "{ready}");
        replayed += head(&pool, bob.id).await - last;
    }

    sender.await.expect("the transfers failed");
    app.caught_up().await;
    let end = head(&pool, bob.id).await;
    let mut final_frame = Value::Null;
    while last < end {
        final_frame = next_durable(&mut client, &pool, bob.id, &mut last).await;
        received.push(last);
    }
    client.silent(QUIET, "nothing after the head").await;

    assert!(replayed > 0, "no update was made while the client was away: the test proved nothing");
    let stored: Vec<i64> = stored_seqs(&pool, bob.id).await.into_iter().filter(|seq| *seq > start).collect();
    assert_eq!(received, stored, "the client got exactly the stored updates, in order");
    assert_eq!(final_frame["data"]["available"], (1..=TRANSFERS).sum::<i64>(), "{final_frame}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn since_in_the_auth_frame_resumes_too(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    app.caught_up().await;
    let since = head(&pool, bob.id).await;

    app.transfer(&ada, bob.id, 10, None, None).await.created();
    app.caught_up().await;
    app.transfer(&ada, bob.id, 20, None, None).await.created();
    app.caught_up().await;
    assert_eq!(head(&pool, bob.id).await, since + 2);

    let mut client = Client::connect(&app, "").await;
    client
        .send_json(&json!({"type": "auth", "data": {"token": bob.token, "since": since.to_string()}}))
        .await;
    let ready = client.expect("ready").await;
    assert_eq!(cursor(&ready), since, "{ready}");
    assert_eq!(ready["data"]["resumed"], true, "{ready}");
    let mut last = since;
    let first = next_durable(&mut client, &pool, bob.id, &mut last).await;
    let second = next_durable(&mut client, &pool, bob.id, &mut last).await;
    assert_eq!(
        (first["data"]["available"].clone(), second["data"]["available"].clone()),
        (json!(10), json!(30))
    );
    client.silent(QUIET, "nothing more").await;

    // Live after the replay.
    app.transfer(&ada, bob.id, 5, None, None).await.created();
    let live = next_durable(&mut client, &pool, bob.id, &mut last).await;
    assert_eq!(live["data"]["available"], 35, "{live}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn since_at_the_head_resumes_with_nothing_to_replay(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    app.transfer(&ada, bob.id, 10, None, None).await.created();
    app.caught_up().await;
    let at = head(&pool, bob.id).await;

    let (mut client, ready) = Client::ready(&app, &bob.token, Some(&at.to_string())).await;
    assert_eq!(cursor(&ready), at, "{ready}");
    assert_eq!(ready["data"]["resumed"], true, "{ready}");
    client.silent(QUIET, "nothing was missed").await;
    app.transfer(&ada, bob.id, 1, None, None).await.created();
    let mut last = at;
    let live = next_durable(&mut client, &pool, bob.id, &mut last).await;
    assert_eq!(live["data"]["available"], 11, "{live}");
}
