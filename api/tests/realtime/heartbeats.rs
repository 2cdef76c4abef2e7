//! Heartbeats: the server pings; a client that answers (any WebSocket library does, while it
//! reads) stays connected however long it is quiet, and one from which nothing arrives for the
//! idle timeout is closed with 4004.

use crate::client::{Client, Ended, node_with, test_config};
use futures::StreamExt;
use loopync_api::realtime::RealtimeConfig;
use sqlx::PgPool;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn config() -> RealtimeConfig {
    RealtimeConfig {
        heartbeat_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1000),
        ..test_config()
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_answers_pings_outlives_the_idle_timeout(pool: PgPool) {
    let app = node_with(&pool, config(), true).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let (mut client, _) = Client::ready(&app, &ada.token, None).await;

    // Read (and so answer pings) for three idle timeouts, sending nothing of our own.
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(message) = tokio::time::timeout_at(deadline, client.socket.next()).await {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected only pings while idle, got {other:?}"),
        }
    }
    assert!(pings >= 10, "the server pinged {pings} times in 3 s at a 200 ms heartbeat");
    client.ping_pong().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_stops_answering_is_closed_with_4004(pool: PgPool) {
    let app = node_with(&pool, config(), true).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let (mut client, _) = Client::ready(&app, &ada.token, None).await;

    // Not reading means not answering pings: the server hears nothing.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(client.ended().await, Ended::Closed(4004));
    let connections = app.state.realtime.hub().map(|hub| hub.connections());
    assert_eq!(connections, Some(0), "the idle connection is gone from the hub");
}
