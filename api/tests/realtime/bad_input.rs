//! Bad input: every kind of bad client frame gets its error frame (or close code) and the
//! connection, where the spec says so, carries on; a flood is rate limited without being cut
//! off; the AsyncAPI document is served; a plain GET of `/api/ws` is a 4xx problem, not a 500.

use crate::client::{Client, Ended, node_with, test_config};
use loopync_testkit::TestApp;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

async fn connected(pool: &PgPool) -> (TestApp, Client) {
    let app = node_with(pool, test_config(), false).await;
    let ada = app.signup().await;
    let (client, _) = Client::ready(&app, &ada.token, None).await;
    (app, client)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn bad_frames_get_error_frames_and_the_connection_carries_on(pool: PgPool) {
    let (_app, mut client) = connected(&pool).await;
    let someone = uuid::Uuid::now_v7();

    for text in ["not json", "[1,2]", r#"{"type":7}"#, r#"{"data":{}}"#, "{\"type\":\"ping\""] {
        client.send_text(text.to_owned()).await;
        client.expect_error("malformed_frame", None).await;
    }
    client.send_json(&json!({"type": "subscribe_everything", "data": {}})).await;
    client.expect_error("unknown_frame_type", Some("subscribe_everything")).await;
    client.send_json(&json!({"type": "ready", "data": {}})).await;
    client.expect_error("unknown_frame_type", Some("ready")).await;

    let wrong = [
        json!({"type": "typing", "data": {"to": someone, "isTyping": "yes"}}),
        json!({"type": "typing", "data": {"to": "not-a-uuid", "isTyping": true}}),
        json!({"type": "typing", "data": {"to": someone}}),
        json!({"type": "typing", "data": {"to": someone, "isTyping": true, "extra": 1}}),
        json!({"type": "presence_subscribe", "data": {"userIds": someone}}),
        json!({"type": "presence_subscribe", "data": {"userIds": []}}),
        json!({"type": "signal", "data": {"to": someone, "signal": "offer"}}),
        json!({"type": "auth", "data": {"token": 42}}),
    ];
    for frame in wrong {
        client.send_json(&frame).await;
        let kind = frame["type"].as_str().expect("a frame type");
        let error = client.expect_error("invalid_field", Some(kind)).await;
        assert!(!error["data"]["message"].as_str().expect("a message").is_empty(), "{error}");
    }
    client.ping_pong().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_frame_over_the_app_limit_is_refused_and_the_connection_stays(pool: PgPool) {
    let (_app, mut client) = connected(&pool).await;
    let big = json!({"type": "ping", "data": {"padding": "x".repeat(20 * 1024)}});
    client.send_json(&big).await;
    client.expect_error("frame_too_large", None).await;
    client.ping_pong().await;
    // Just under the limit is read (and answered as the ping it is).
    let padding = 16 * 1024 - json!({"type": "ping", "data": {"padding": ""}}).to_string().len();
    let fits = json!({"type": "ping", "data": {"padding": "x".repeat(padding)}});
    assert_eq!(fits.to_string().len(), 16 * 1024);
    client.send_json(&fits).await;
    client.expect("pong").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_frame_over_the_hard_limit_closes_with_1009(pool: PgPool) {
    let (_app, mut client) = connected(&pool).await;
    client.send_text("x".repeat(65 * 1024)).await;
    assert_eq!(client.ended().await, Ended::Closed(1009));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_binary_frame_closes_with_1003(pool: PgPool) {
    let (_app, mut client) = connected(&pool).await;
    client.send_binary(br#"{"type":"ping","data":{}}"#.to_vec()).await;
    assert_eq!(client.ended().await, Ended::Closed(1003));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_flood_is_rate_limited_and_the_connection_survives(pool: PgPool) {
    let (_app, mut client) = connected(&pool).await;
    const FLOOD: usize = 120;
    let started = tokio::time::Instant::now();
    for _ in 0..FLOOD {
        client.send_json(&json!({"type": "ping", "data": {}})).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..FLOOD {
        let frame = client.next_frame().await;
        match frame["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if frame["data"]["code"] == "rate_limited" => limited += 1,
            _ => panic!("one pong or one rate_limited per ping, got {frame}"),
        }
    }
    let took = started.elapsed().as_secs_f64();
    // 20 frames/s with a burst of 40: the flood gets the burst and what refills meanwhile.
    let allowed = 40.0 + 20.0 * took + 1.0;
    assert!(limited > 0, "{FLOOD} frames in {took:.2} s and none was rate limited");
    assert!(pongs >= 40, "the burst of 40 is served: {pongs} pongs");
    assert!(f64::from(pongs) <= allowed, "{pongs} pongs in {took:.2} s, at most {allowed:.0} allowed");
    client.silent(Duration::from_millis(300), "one reply per frame").await;

    // Still open, and served again once the rate is back under the limit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.ping_pong().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_asyncapi_document_is_served(pool: PgPool) {
    let app = node_with(&pool, test_config(), false).await;
    let reply = app.call(Method::GET, "/api/asyncapi.json", None, None, None).await;
    let body = reply.expect(200);
    assert!(reply.content_type.as_deref().is_some_and(|t| t.starts_with("application/json")), "{reply:?}");
    assert_eq!(body["asyncapi"], "3.0.0", "{}", reply.text);
    let messages = body["components"]["messages"].as_object().unwrap_or_else(|| panic!("{}", reply.text));
    for name in ["server_ready", "server_balance_updated", "server_error", "client_auth", "client_typing"] {
        assert!(messages.contains_key(name), "no {name} among {:?}", messages.keys().collect::<Vec<_>>());
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_plain_get_of_the_gateway_is_a_4xx_problem(pool: PgPool) {
    let app = node_with(&pool, test_config(), false).await;
    let reply = app.call(Method::GET, "/api/ws", None, None, None).await;
    assert!((400..500).contains(&reply.status), "{} {}", reply.status, reply.text);
    assert_eq!(reply.content_type.as_deref(), Some("application/problem+json"), "{}", reply.text);
    assert_eq!(reply.body["status"], reply.status, "{}", reply.text);
    assert!(reply.body["code"].is_string(), "{}", reply.text);
}
