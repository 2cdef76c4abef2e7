//! Per-(sender, target) limits: `typing` and `signal` frames to one user are limited across
//! all of the sender's connections (a burst of twice the rate, then the rate), on top of each
//! connection's own frame rate. A frame over the limit is not relayed and its sender gets
//! `rate_limited` naming the target: the sender learns why (a silently lost ICE candidate
//! would make a call fail for no visible reason). Other targets are not affected.

use crate::client::{Client, QUIET, node_with, test_config};
use loopync_api::realtime::RealtimeConfig;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// 1 a second, bursts of 2: far below the connection's own 20 (bursts of 40), and slow enough
/// that a burst sent at once stays a burst on a loaded machine.
fn config() -> RealtimeConfig {
    RealtimeConfig { typing_per_target: 1, signals_per_target: 1, ..test_config() }
}

/// Typing states that alternate, so that the repeat throttle drops none.
fn typing(to: Uuid, n: usize) -> Value {
    json!({"type": "typing", "data": {"to": to, "isTyping": n.is_multiple_of(2)}})
}

fn signal(to: Uuid, n: usize) -> Value {
    json!({"type": "signal", "data": {"to": to, "signal": {"candidate": n}}})
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn typing_and_signals_to_one_user_are_limited_across_the_senders_connections(pool: PgPool) {
    let app = node_with(&pool, config(), true).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let carol = app.signup().await;
    app.caught_up().await;

    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut adas_laptop, _) = Client::ready(&app, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;
    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;

    // The burst goes through; one more, from the other device too, is over the limit: refused,
    // naming Bob, and not relayed.
    adas.send_json(&typing(bob.id, 0)).await;
    adas.send_json(&typing(bob.id, 1)).await;
    for is_typing in [true, false] {
        let indicator = bobs.expect("typing_indicator").await;
        assert_eq!(indicator["data"]["isTyping"], is_typing, "{indicator}");
    }
    adas_laptop.send_json(&typing(bob.id, 2)).await;
    adas.send_json(&typing(bob.id, 4)).await;
    let refusal = adas_laptop.expect_error("rate_limited", Some("typing")).await;
    assert_eq!(refusal["data"]["userIds"], json!([bob.id]), "{refusal}");
    let refusal = adas.expect_error("rate_limited", Some("typing")).await;
    assert_eq!(refusal["data"]["userIds"], json!([bob.id]), "{refusal}");
    // Carol is another target, with a budget of her own; the connections are fine.
    adas.send_json(&typing(carol.id, 0)).await;
    carols.expect("typing_indicator").await;
    adas.ping_pong().await;
    adas_laptop.ping_pong().await;

    // Signals have their own budget toward Bob.
    for n in 0..3 {
        adas.send_json(&signal(bob.id, n)).await;
    }
    for n in 0..2 {
        let relayed = bobs.expect("signal").await;
        assert_eq!(relayed["data"]["signal"]["candidate"], n, "{relayed}");
    }
    let refusal = adas.expect_error("rate_limited", Some("signal")).await;
    assert_eq!(refusal["data"]["userIds"], json!([bob.id]), "{refusal}");
    bobs.silent(QUIET, "nothing over the limit was relayed").await;

    // The budget refills at the rate: a frame a second later goes through.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    adas.send_json(&signal(bob.id, 3)).await;
    let relayed = bobs.expect("signal").await;
    assert_eq!(relayed["data"]["signal"]["candidate"], 3, "{relayed}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn typing_repeats_dropped_by_the_throttle_do_not_count_against_the_limit(pool: PgPool) {
    let app = node_with(&pool, config(), true).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    app.caught_up().await;
    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;

    // A client that sends `typing` on every keystroke: one indicator, no refusal.
    for _ in 0..10 {
        adas.send_json(&typing(bob.id, 0)).await;
    }
    bobs.expect("typing_indicator").await;
    adas.ping_pong().await;
    bobs.silent(Duration::from_millis(300), "the repeats were dropped").await;
}
