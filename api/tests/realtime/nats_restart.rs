//! A NATS restart while clients are connected: the node and its projection runner use a
//! private `nats-server`, which is killed while a client is connected. Transfers made while it
//! is down commit (their live publish cannot reach anyone); when it is back on the same port
//! the client gets every update it missed, from the store, exactly once and in order, and live
//! delivery carries on.

use crate::client::{Client, FRAME_TIMEOUT, cursor, head, stored, test_config};
use loopync_testkit::{NatsServer, Options, spawn_app};
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_gets_every_update_made_while_nats_was_down(pool: PgPool) {
    let mut server = NatsServer::start().await;
    let nats = server.client().await;
    let options = Options::default().with_nats(nats.clone()).with_realtime(test_config());
    let app = spawn_app(&pool, options).await;
    let (ada, _) = app.funded(100_000).await;
    let bob = app.signup().await;
    app.caught_up().await;

    let (mut client, ready) = Client::ready(&app, &bob.token, None).await;
    let mut last = cursor(&ready);
    app.transfer(&ada, bob.id, 1, None, None).await.created();
    let frame = client.expect("balance_updated").await;
    assert_eq!(cursor(&frame), last + 1, "live before the outage: {frame}");
    last += 1;

    server.kill();
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while matches!(nats.connection_state(), async_nats::connection::State::Connected) {
        assert!(tokio::time::Instant::now() < deadline, "the client did not notice NATS going away");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Transfers commit while NATS is down; the projections store their updates.
    for amount in [10, 20, 30] {
        app.transfer(&ada, bob.id, amount, None, None).await.created();
        app.caught_up().await;
    }
    let missed_until = head(&pool, bob.id).await;
    assert_eq!(missed_until, last + 3, "three updates stored while NATS was down");
    client.silent(Duration::from_millis(800), "nothing can be delivered while NATS is down").await;

    server.restart().await;
    for _ in 0..3 {
        let frame = client.expect("balance_updated").await;
        assert_eq!(cursor(&frame), last + 1, "missed updates in order, once: {frame}");
        last += 1;
        let (_, data) = stored(&pool, bob.id, last).await;
        assert_eq!(frame["data"], data, "{frame}");
    }
    assert_eq!(client_available(&pool, bob.id, last).await, 61);
    client.silent(Duration::from_millis(800), "no duplicates of the missed updates").await;

    // Live again: wait until the node is connected, then a new transfer arrives as the next cursor.
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while !matches!(nats.connection_state(), async_nats::connection::State::Connected) {
        assert!(tokio::time::Instant::now() < deadline, "the node did not reconnect to NATS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.transfer(&ada, bob.id, 100, None, None).await.created();
    let frame = client.expect("balance_updated").await;
    assert_eq!(cursor(&frame), last + 1, "live after the restart: {frame}");
    assert_eq!(frame["data"]["available"], 161, "{frame}");

    // A client connecting now works as usual.
    let (mut fresh, ready) = Client::ready(&app, &bob.token, None).await;
    assert_eq!(cursor(&ready), last + 1, "{ready}");
    fresh.ping_pong().await;
    drop(server);
}

async fn client_available(pool: &PgPool, user_id: uuid::Uuid, seq: i64) -> i64 {
    let (_, data) = stored(pool, user_id, seq).await;
    data["available"].as_i64().unwrap_or_else(|| panic!("{data}"))
}
