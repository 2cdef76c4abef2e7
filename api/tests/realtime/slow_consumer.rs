//! Slow consumers: a client that stops reading while durable frames keep coming is closed with
//! 4005 once its (small) outbound queue is full, after a bounded number of frames, instead of
//! the node buffering everything; a client that reads, sent the same flood at the same time,
//! gets all of it, in order, and stays connected; the node stays healthy for everyone.
//! (Ephemeral frames never close a socket: `ephemeral_floods.rs`.)
//!
//! The flood comes in small paced batches: a burst larger than the queue arriving at once
//! closes even a reading client (the relay queues frames faster than a socket write), which
//! is the queue doing its job rather than what is tested here.

use crate::client::{Client, Ended, FRAME_TIMEOUT, nats, node_with, test_config};
use futures::StreamExt;
use loopync_api::realtime::RealtimeConfig;
use loopync_projections::Subjects;
use loopync_projections::live::CURSOR_HEADER;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Frames published at each client.
const FLOOD: usize = 2400;
/// Frames per user between pauses: well under the queue of 16.
const BATCH: usize = 8;
/// The most frames the client may still read before the close: what the server's kernel send
/// buffer holds (it autotunes up to `tcp_wmem` max, 4 MiB here: ~1000 such frames; ~690 are
/// read in practice), the 4 KiB client receive buffer, the queue (16) and the frame in the
/// writer's hands. Well below [`FLOOD`]: the node did not buffer the flood for him.
const BOUND: usize = 1200;

/// Reads everything left on the socket: the text frames before the end, and how it ended.
async fn drain(client: &mut Client) -> (usize, Ended) {
    let mut frames = 0;
    loop {
        match tokio::time::timeout(FRAME_TIMEOUT, client.socket.next()).await {
            Err(_) => panic!("the connection did not end within {FRAME_TIMEOUT:?} ({frames} frames read)"),
            Ok(Some(Ok(Message::Text(_)))) => frames += 1,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (frames, Ended::Closed(frame.map_or(1005, |f| f.code.into())));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return (frames, Ended::Dropped),
        }
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_stops_reading_is_closed_with_4005(pool: PgPool) {
    let config = RealtimeConfig { outbound_queue: 16, ..test_config() };
    let app = node_with(&pool, config, false).await;
    let hub = app.state.realtime.hub().expect("the node has no gateway");
    let bob = app.signup().await;
    let carol = app.signup().await;

    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;
    let mut bobs = Client::connect_small_buffer(&app, &format!("token={}", bob.token)).await;
    bobs.expect("ready").await;
    assert_eq!(hub.connections(), 2);

    // Carol reads everything as it comes.
    let reader = tokio::spawn(async move {
        let mut numbers = Vec::new();
        while numbers.len() < FLOOD {
            let frame = carols.next_frame().await;
            numbers.push(frame["data"]["n"].as_u64().unwrap_or_else(|| panic!("{frame}")));
        }
        (carols, numbers)
    });

    // ~4 KiB durable frames, numbered on from both users' heads (0: no projections run here),
    // on their durable subjects (the gateway's input for their devices), in small paced
    // batches: a client that reads keeps up with them.
    let publisher = nats().await;
    let padding = "x".repeat(4000);
    for batch in 0..FLOOD / BATCH {
        for n in batch * BATCH..(batch + 1) * BATCH {
            let seq = n + 1;
            let frame = json!({"type": "balance_updated", "cursor": seq.to_string(), "data": {"n": n, "padding": padding}});
            for user in [bob.id, carol.id] {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(CURSOR_HEADER, seq.to_string().as_str());
                publisher
                    .publish_with_headers(
                        Subjects::default().live_durable(user),
                        headers,
                        frame.to_string().into(),
                    )
                    .await
                    .expect("publish");
            }
        }
        publisher.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Carol got every frame, in order, and is still connected.
    let (mut carols, numbers) = reader.await.expect("Carol, who reads, did not get every frame");
    assert_eq!(numbers, (0..FLOOD as u64).collect::<Vec<_>>());
    // The node gave up on Bob (who read nothing)...
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while hub.connections() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's connection was not dropped: {}",
            hub.connections()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...and what Bob finds when he reads again is a bounded backlog, then 4005.
    let (frames, ended) = drain(&mut bobs).await;
    assert_eq!(ended, Ended::Closed(4005), "after {frames} frames");
    assert!(frames <= BOUND, "{frames} frames were still queued for a client that read nothing");

    // Carol is unaffected, on the same node.
    carols.ping_pong().await;
    let hello = json!({"type": "signal", "cursor": null, "data": {"hello": "carol"}});
    publisher
        .publish(Subjects::default().live_ephemeral(carol.id), hello.to_string().into())
        .await
        .expect("publish");
    assert_eq!(carols.next_frame().await, hello);
    assert_eq!(hub.connections(), 1);

    // Bob can come back.
    let (mut again, _) = Client::ready(&app, &bob.token, None).await;
    again.ping_pong().await;
    assert_eq!(hub.connections(), 2);
}

/// A resume with a large backlog is paced by the client's reading; a client that stops reading
/// during it is closed once the queue has stayed full for the stall limit, instead of holding
/// its catch-up (and a connection) forever.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_that_stalls_during_catch_up_is_closed(pool: PgPool) {
    let config =
        RealtimeConfig { outbound_queue: 8, stall_limit: Duration::from_millis(500), ..test_config() };
    let app = node_with(&pool, config, true).await;
    let bob = app.signup().await;
    app.caught_up().await;
    let since = crate::client::head(&pool, bob.id).await;

    // A backlog far larger than every buffer between the server and a client that reads
    // nothing: 20,000 stored updates of about 1 KiB.
    let padding = "x".repeat(1000);
    let mut tx = pool.begin().await.expect("begin");
    let backlog = (0..20_000)
        .map(|n| loopync_projections::live::LiveUpdate {
            user_id: bob.id,
            kind: "balance_updated",
            data: json!({ "n": n, "padding": padding }),
        })
        .collect();
    loopync_projections::live::append(&mut tx, backlog).await.expect("append");
    tx.commit().await.expect("commit");

    let hub = app.state.realtime.hub().expect("no gateway");
    let _stalled = Client::connect_small_buffer(&app, &format!("token={}&since={since}", bob.token)).await;
    let wait_for = |connections: usize, what: &'static str| {
        let hub = hub.clone();
        async move {
            let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
            while hub.connections() != connections {
                assert!(tokio::time::Instant::now() < deadline, "{what}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(1, "the stalled client never connected").await;
    wait_for(0, "the stalled client is still connected").await;

    // A client that reads gets the whole backlog, in order.
    let (mut reader, _) = Client::ready(&app, &bob.token, Some(&since.to_string())).await;
    for expected in since + 1..=since + 20_000 {
        let frame = reader.next_frame().await;
        assert_eq!(crate::client::cursor(&frame), expected);
    }
}
