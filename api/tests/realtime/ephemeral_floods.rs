//! Ephemeral floods: a client that stops reading while other users' typing indicators and
//! signals pour in loses some of them (counted in `loopync_ws_dropped_total{kind}`) but keeps
//! its socket; when it reads again, its durable frames are there, after a bounded backlog.
//! Somebody else's typing is never a reason to close a socket.

use crate::client::{Client, FRAME_TIMEOUT, cursor, head, nats, node_with, test_config};
use loopync_api::realtime::RealtimeConfig;
use loopync_projections::Subjects;
use loopync_testkit::TestApp;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

/// Ephemeral frames published at the client: far more than every buffer on the way holds.
const FLOOD: usize = 2400;
/// The most frames the client may still read before its durable frame: what the kernel
/// buffers hold (the server's send buffer autotunes up to 4 MiB here: ~1000 frames of 4 KiB),
/// the 4 KiB client receive buffer and the two queues (16 each). Well below [`FLOOD`].
const BOUND: usize = 1200;

/// `loopync_ws_dropped_total` from the node's `/metrics`, summed over the kinds in `kinds`.
async fn dropped(app: &TestApp, kinds: &[&str]) -> u64 {
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .text
        .lines()
        .filter(|line| {
            kinds.iter().any(|kind| line.starts_with(&format!("loopync_ws_dropped_total{{kind=\"{kind}\"}}")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_stops_reading_keeps_its_socket_through_a_flood_of_typing(pool: PgPool) {
    let config = RealtimeConfig { outbound_queue: 16, ephemeral_queue: 16, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let hub = app.state.realtime.hub().expect("the node has no gateway");
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    app.caught_up().await;
    let start = head(&pool, bob.id).await;

    // Bob connects and then reads nothing.
    let mut bobs = Client::connect_small_buffer(&app, &format!("token={}", bob.token)).await;
    bobs.expect("ready").await;

    // Typing indicators and signals for Bob, as other nodes relay them, on his ephemeral
    // subject. Padded to ~4 KiB so that the kernel's buffers fill after a few hundred.
    let publisher = nats().await;
    let padding = "x".repeat(4000);
    for n in 0..FLOOD {
        let frame = if n.is_multiple_of(2) {
            json!({"type": "typing_indicator", "cursor": null, "data": {"from": ada.id, "isTyping": true, "n": n, "padding": padding}})
        } else {
            json!({"type": "signal", "cursor": null, "data": {"from": ada.id, "fromConnection": "1", "signal": {"n": n, "padding": padding}}})
        };
        publisher
            .publish(Subjects::default().live_ephemeral(bob.id), frame.to_string().into())
            .await
            .expect("publish");
        if n % 64 == 63 {
            publisher.flush().await.expect("flush");
        }
    }
    publisher.flush().await.expect("flush");

    // The node drops what Bob cannot take, of both kinds, and keeps his socket.
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while dropped(&app, &["typing_indicator", "signal"]).await < (FLOOD - BOUND) as u64 {
        assert_eq!(hub.connections(), 1, "Bob's socket was closed by somebody else's typing");
        assert!(tokio::time::Instant::now() < deadline, "the flood was not dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped(&app, &["typing_indicator"]).await > 0);
    assert!(dropped(&app, &["signal"]).await > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hub.connections(), 1, "Bob's socket was closed by somebody else's typing");

    // A durable frame for Bob meanwhile. When he reads again it comes after a bounded backlog
    // of ephemeral frames (the lossy queue's last few may follow it: the two paths are not
    // ordered).
    app.transfer(&ada, bob.id, 700, None, None).await.created();
    let mut ephemeral = 0;
    let balance = loop {
        let frame = bobs.next_frame().await;
        match frame["type"].as_str() {
            Some("typing_indicator" | "signal") => ephemeral += 1,
            Some("balance_updated") => break frame,
            _ => panic!("unexpected frame after {ephemeral} ephemeral ones: {frame}"),
        }
    };
    assert_eq!(cursor(&balance), start + 1, "{balance}");
    assert_eq!(balance["data"]["available"], 700, "{balance}");

    // Still served: a ping is answered, after what was still queued.
    bobs.send_json(&json!({"type": "ping", "data": {}})).await;
    loop {
        let frame = bobs.next_frame().await;
        match frame["type"].as_str() {
            Some("typing_indicator" | "signal") => ephemeral += 1,
            Some("pong") => break,
            _ => panic!("unexpected frame: {frame}"),
        }
    }
    assert!(
        ephemeral <= BOUND,
        "{ephemeral} ephemeral frames were still queued for a client that read nothing"
    );
    assert_eq!(hub.connections(), 1, "Bob is still connected");
}
