//! Who may type and signal to whom: only users who may both see each other (today: both
//! profiles `public`; friendships and blocks will widen and narrow it). A frame to a user who
//! may not see the sender, or whom the sender may not see, is refused with `target_forbidden`
//! naming them, and nothing is relayed; a privacy change reaches conversations under way
//! within the audience TTL.

use crate::client::{Client, QUIET, node, node_with, test_config};
use crate::privacy::set_privacy;
use loopync_api::realtime::RealtimeConfig;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

fn typing(to: Uuid) -> Value {
    json!({"type": "typing", "data": {"to": to, "isTyping": true}})
}

fn signal(to: Uuid) -> Value {
    json!({"type": "signal", "data": {"to": to, "signal": {"sdp": "offer"}}})
}

/// Sends `frame` and expects `target_forbidden` naming `target`.
async fn refused(client: &mut Client, frame: &Value, target: Uuid) {
    client.send_json(frame).await;
    let kind = frame["type"].as_str().expect("a frame type");
    let error = client.expect_error("target_forbidden", Some(kind)).await;
    assert_eq!(error["data"]["userIds"], json!([target]), "{error}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn typing_and_signals_go_only_between_users_who_may_see_each_other(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let carol = app.signup().await;
    let dan = app.signup().await;
    set_privacy(&app, &bob, "private").await;
    set_privacy(&app, &dan, "friends").await;
    app.caught_up().await;

    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;
    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;
    let (mut dans, _) = Client::ready(&app, &dan.token, None).await;

    // Ada may not see Bob (private) nor Dan (friends only, and no friendships yet).
    refused(&mut adas, &typing(bob.id), bob.id).await;
    refused(&mut adas, &signal(bob.id), bob.id).await;
    refused(&mut adas, &typing(dan.id), dan.id).await;
    // Bob sees Ada, but Ada may not see him: his typing would tell her he is there.
    refused(&mut bobs, &typing(ada.id), ada.id).await;
    refused(&mut bobs, &signal(ada.id), ada.id).await;
    refused(&mut dans, &typing(carol.id), carol.id).await;

    // Two public users may.
    adas.send_json(&typing(carol.id)).await;
    let indicator = carols.expect("typing_indicator").await;
    assert_eq!(indicator["data"]["from"], ada.id.to_string(), "{indicator}");
    adas.send_json(&signal(carol.id)).await;
    let relayed = carols.expect("signal").await;
    assert_eq!(relayed["data"]["from"], ada.id.to_string(), "{relayed}");

    bobs.silent(QUIET, "nothing reaches a private user").await;
    adas.silent(Duration::from_millis(200), "nothing from a private user").await;
    dans.silent(Duration::from_millis(200), "nothing reaches a friends-only user").await;
    carols.silent(Duration::from_millis(200), "nothing from a friends-only user").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_user_who_turns_private_stops_getting_typing_and_signals(pool: PgPool) {
    const TTL: Duration = Duration::from_millis(300);
    let config = RealtimeConfig { audience_ttl: TTL, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    app.caught_up().await;

    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;
    adas.send_json(&signal(bob.id)).await;
    bobs.expect("signal").await;

    // Bob turns private in the middle of it: once the verdict Ada's connection holds is older
    // than the TTL, her frames stop reaching him.
    set_privacy(&app, &bob, "private").await;
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    refused(&mut adas, &signal(bob.id), bob.id).await;
    refused(&mut adas, &typing(bob.id), bob.id).await;
    // Whatever durable frames his settings change brought him, nothing of Ada's.
    while let Some(frame) = bobs.next_within(QUIET).await {
        assert!(frame["cursor"].is_string(), "reached Bob once private: {frame}");
    }
}
