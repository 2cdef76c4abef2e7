//! Typing, presence and signaling across two nodes. Typing reaches the other user on the other
//! node, with repeats inside the throttle window dropped; a watcher gets a `presence` snapshot,
//! `user_online` when the first device anywhere connects and `user_offline` (with `lastSeen`)
//! a grace period after the last one leaves, and nothing at all for a reconnect within the
//! grace period, on the same node or the other one. `GET /api/users/{id}/presence` agrees from
//! either node. `signal` frames reach every device of the target, naming the sender.

use crate::client::{Client, QUIET, node_with, test_config};
use chrono::{DateTime, Utc};
use loopync_api::realtime::RealtimeConfig;
use loopync_testkit::TestApp;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

const GRACE: Duration = Duration::from_millis(1000);
const THROTTLE: Duration = Duration::from_millis(1000);

fn config() -> RealtimeConfig {
    RealtimeConfig {
        presence_grace: GRACE,
        typing_throttle: THROTTLE,
        // Peers announce every second: nodes of finished tests on the shared NATS drop out fast.
        presence_node_ttl: Duration::from_secs(3),
        ..test_config()
    }
}

/// Node A (with the projections) and node B, sharing the database and NATS.
async fn two_nodes(pool: &PgPool) -> (TestApp, TestApp) {
    let a = node_with(pool, config(), true).await;
    let b = node_with(pool, config(), false).await;
    (a, b)
}

fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

async fn presence_over_http(app: &TestApp, token: &str, user_id: uuid::Uuid) -> Value {
    let reply = app.get_at(token, &format!("/api/users/{user_id}/presence"), None).await;
    reply.expect(200).clone()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn typing_reaches_the_other_node_and_repeats_are_throttled(pool: PgPool) {
    let (a, b) = two_nodes(&pool).await;
    let ada = a.signup().await;
    let bob = a.signup().await;
    a.caught_up().await;

    let (mut adas, _) = Client::ready(&a, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&b, &bob.token, None).await;
    let typing = |is_typing: bool| json!({"type": "typing", "data": {"to": bob.id, "isTyping": is_typing}});
    let indicator = |is_typing: bool| json!({"type": "typing_indicator", "cursor": null, "data": {"from": ada.id, "isTyping": is_typing}});

    adas.send_json(&typing(true)).await;
    assert_eq!(bobs.next_frame().await, indicator(true));
    // A repeat within the window is dropped; a change goes through (and is the next frame).
    adas.send_json(&typing(true)).await;
    adas.send_json(&typing(false)).await;
    assert_eq!(bobs.next_frame().await, indicator(false));
    bobs.silent(QUIET, "the repeat was dropped").await;
    // After the window the same state goes through again.
    tokio::time::sleep(THROTTLE).await;
    adas.send_json(&typing(false)).await;
    assert_eq!(bobs.next_frame().await, indicator(false));
    // Ada hears nothing of her own typing.
    adas.silent(Duration::from_millis(200), "the sender gets no echo").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_watcher_sees_online_and_offline_across_nodes_without_flaps(pool: PgPool) {
    let (a, b) = two_nodes(&pool).await;
    let ada = a.signup().await;
    let carol = a.signup().await;
    a.caught_up().await;

    // Carol (on A) watches Ada, who has never connected.
    let (mut carols, _) = Client::ready(&a, &carol.token, None).await;
    carols.send_json(&json!({"type": "presence_subscribe", "data": {"userIds": [ada.id]}})).await;
    let snapshot = carols.expect("presence").await;
    assert_eq!(
        snapshot,
        json!({"type": "presence", "cursor": null,
               "data": {"userId": ada.id, "status": "offline", "lastSeen": null}})
    );

    // Ada connects on B.
    let (phone, _) = Client::ready(&b, &ada.token, None).await;
    let online = json!({"type": "user_online", "cursor": null, "data": {"userId": ada.id}});
    assert_eq!(carols.next_frame().await, online);
    for node in [&a, &b] {
        let view = presence_over_http(node, &carol.token, ada.id).await;
        assert_eq!(view["status"], "online", "{view}");
        assert!(view["lastSeen"].is_null(), "{view}");
    }

    // A second device on A, then the first leaves: still online, nothing announced.
    let (laptop, _) = Client::ready(&a, &ada.token, None).await;
    phone.close().await;
    // Quick reconnects within the grace period, on the same node and on the other one.
    let (laptop2, _) = Client::ready(&a, &ada.token, None).await;
    laptop.close().await;
    let (tablet, _) = Client::ready(&b, &ada.token, None).await;
    laptop2.close().await;
    carols.silent(GRACE + Duration::from_millis(500), "no offline/online flap").await;
    let view = presence_over_http(&a, &carol.token, ada.id).await;
    assert_eq!(view["status"], "online", "{view}");

    // The last device leaves: offline after the grace period, with when she left.
    let left = Utc::now();
    let started = tokio::time::Instant::now();
    tablet.close().await;
    let offline = carols.expect("user_offline").await;
    let waited = started.elapsed();
    assert_eq!(offline["data"]["userId"], ada.id.to_string(), "{offline}");
    assert_eq!(offline["cursor"], Value::Null, "{offline}");
    assert!(
        waited >= GRACE - Duration::from_millis(100),
        "offline after {waited:?}, inside the grace period"
    );
    let last_seen = instant(&offline["data"]["lastSeen"]);
    assert!(last_seen >= left - chrono::Duration::milliseconds(5), "{last_seen} before she left ({left})");
    assert!(last_seen <= Utc::now(), "{last_seen} is in the future");
    carols.silent(Duration::from_millis(300), "one offline").await;

    // Both nodes agree over HTTP, B (where she left) and A (asking B).
    for node in [&a, &b] {
        let view = presence_over_http(node, &carol.token, ada.id).await;
        assert_eq!(view["status"], "offline", "{view}");
        let seen = instant(&view["lastSeen"]);
        assert!((seen - last_seen).num_milliseconds().abs() <= 1, "{view} vs {offline}");
    }
    // A new snapshot says the same.
    carols.send_json(&json!({"type": "presence_unsubscribe", "data": {"userIds": [ada.id]}})).await;
    carols.send_json(&json!({"type": "presence_subscribe", "data": {"userIds": [ada.id]}})).await;
    let snapshot = carols.expect("presence").await;
    assert_eq!(snapshot["data"]["status"], "offline", "{snapshot}");
    assert_eq!(instant(&snapshot["data"]["lastSeen"]), last_seen, "{snapshot}");

    // Unsubscribed: Ada coming back is not announced to Carol.
    carols.send_json(&json!({"type": "presence_unsubscribe", "data": {"userIds": [ada.id]}})).await;
    carols.ping_pong().await;
    let (_back, _) = Client::ready(&a, &ada.token, None).await;
    carols.silent(QUIET, "unsubscribed").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn signals_reach_every_device_of_the_target(pool: PgPool) {
    let (a, b) = two_nodes(&pool).await;
    let ada = a.signup().await;
    let bob = a.signup().await;
    a.caught_up().await;

    let (mut adas, ada_ready) = Client::ready(&a, &ada.token, None).await;
    let (mut phone, _) = Client::ready(&a, &bob.token, None).await;
    let (mut laptop, _) = Client::ready(&b, &bob.token, None).await;
    let offer = json!({"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1"});
    adas.send_json(&json!({"type": "signal", "data": {"to": bob.id, "signal": offer}})).await;

    let expected = json!({"type": "signal", "cursor": null, "data": {
        "from": ada.id, "fromConnection": ada_ready["data"]["connectionId"], "signal": offer}});
    assert_eq!(phone.next_frame().await, expected);
    assert_eq!(laptop.next_frame().await, expected);
    phone.silent(Duration::from_millis(300), "once per device").await;
    laptop.silent(Duration::from_millis(300), "once per device").await;
    adas.silent(Duration::from_millis(100), "no echo to the sender").await;

    // And back: Bob's answer from the laptop reaches Ada's device.
    let answer = json!({"kind": "answer", "sdp": "v=0"});
    laptop.send_json(&json!({"type": "signal", "data": {"to": ada.id, "signal": answer}})).await;
    let frame = adas.expect("signal").await;
    assert_eq!(frame["data"]["from"], bob.id.to_string(), "{frame}");
    assert_eq!(frame["data"]["signal"], answer, "{frame}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn last_seen_is_when_the_last_device_left_not_when_the_grace_period_ended(pool: PgPool) {
    let (a, _b) = two_nodes(&pool).await;
    let ada = a.signup().await;
    let carol = a.signup().await;
    a.caught_up().await;
    let (mut carols, _) = Client::ready(&a, &carol.token, None).await;
    carols.send_json(&json!({"type": "presence_subscribe", "data": {"userIds": [ada.id]}})).await;
    carols.expect("presence").await;
    let (adas, _) = Client::ready(&a, &ada.token, None).await;
    carols.expect("user_online").await;

    let left = Utc::now();
    adas.close().await;
    let closed = Utc::now();
    let offline = carols.expect("user_offline").await;
    let last_seen = instant(&offline["data"]["lastSeen"]);
    // `lastSeen` is "when the user's last device disconnected" (spec, HTTP docs): between the
    // close and its completion, not a grace period (1 s) later.
    let slack = chrono::Duration::milliseconds(250);
    assert!(
        last_seen >= left - slack && last_seen <= closed + slack,
        "lastSeen {last_seen}: the last device left between {left} and {closed}"
    );
    let view = presence_over_http(&a, &carol.token, ada.id).await;
    assert_eq!(instant(&view["lastSeen"]).timestamp_millis(), last_seen.timestamp_millis(), "{view}");
}
