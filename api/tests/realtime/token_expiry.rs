//! Token expiry on an open connection: `token_expiring` shortly before the access token runs
//! out, then close 4002 at its expiry unless a refreshed token arrives in an `auth` frame,
//! which moves the deadline (and re-arms the warning). A refresh with someone else's or an
//! invalid token is refused with an error frame and changes nothing. Expired tokens and
//! missing `auth` frames never open a connection.
//!
//! The test apps issue 15-minute tokens, so short-lived ones are minted with the node's own
//! keys, backdated so they expire a few seconds from now.

use crate::client::{Client, Ended, node_with, test_config};
use chrono::{DateTime, SecondsFormat, Utc};
use loopync_api::realtime::RealtimeConfig;
use loopync_testkit::{TestApp, User};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

/// The config of these tests: warned 1 s before expiry.
fn config() -> RealtimeConfig {
    RealtimeConfig {
        token_warning: Duration::from_secs(1),
        auth_timeout: Duration::from_millis(500),
        ..test_config()
    }
}

/// An access token of `user`'s session that expires `seconds` from now (whole seconds: JWT
/// expiries are, so it is `seconds - 1` to `seconds` away). Returns the token and its expiry.
fn token_expiring_in(app: &TestApp, user: &User, seconds: i64) -> (String, DateTime<Utc>) {
    let tokens = &app.state.identity.tokens;
    let claims = tokens.verify_access(&user.token).unwrap();
    let ttl = chrono::Duration::from_std(tokens.access_ttl()).unwrap();
    let backdated = Utc::now() - ttl + chrono::Duration::seconds(seconds);
    let (token, expires_at) =
        tokens.issue_access(user.id, claims.sid, claims.role, backdated).expect("issue");
    // The token's `exp` is in whole seconds.
    let exp = DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or_else(|| panic!("{expires_at}"));
    (token, exp)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds from now until `at` (negative when past).
fn millis_until(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis() - Utc::now().timestamp_millis()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_expiring_token_is_warned_then_closed_with_4002(pool: PgPool) {
    let app = node_with(&pool, config(), false).await;
    let ada = app.signup().await;
    let (token, expires_at) = token_expiring_in(&app, &ada, 3);

    let (mut client, ready) = Client::ready(&app, &token, None).await;
    assert_eq!(ready["data"]["expiresAt"], rfc3339(expires_at), "{ready}");
    let warning = client.expect("token_expiring").await;
    assert_eq!(warning["cursor"], serde_json::Value::Null, "{warning}");
    assert_eq!(warning["data"]["expiresAt"], rfc3339(expires_at), "{warning}");
    let left = millis_until(expires_at);
    assert!((0..=1200).contains(&left), "warned {left} ms before expiry, expected ~1000");

    assert_eq!(client.ended().await, Ended::Closed(4002));
    let left = millis_until(expires_at);
    assert!(left <= 50, "closed {left} ms before the token expired");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_refreshed_token_keeps_the_connection_open_past_the_first_expiry(pool: PgPool) {
    let app = node_with(&pool, config(), false).await;
    let ada = app.signup().await;
    let (first, first_expiry) = token_expiring_in(&app, &ada, 3);
    let (second, second_expiry) = token_expiring_in(&app, &ada, 7);

    let (mut client, _) = Client::ready(&app, &first, None).await;
    client.send_json(&json!({"type": "auth", "data": {"token": second}})).await;
    let authenticated = client.expect("authenticated").await;
    assert_eq!(authenticated["data"]["expiresAt"], rfc3339(second_expiry), "{authenticated}");

    // Past the first token's expiry (and its warning time): still open, still served, unwarned.
    let wait = millis_until(first_expiry) + 500;
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
    client.ping_pong().await;

    // The new expiry is warned about and enforced.
    let warning = client.expect("token_expiring").await;
    assert_eq!(warning["data"]["expiresAt"], rfc3339(second_expiry), "{warning}");
    assert_eq!(client.ended().await, Ended::Closed(4002));
    let left = millis_until(second_expiry);
    assert!(left <= 50, "closed {left} ms before the refreshed token expired");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_refresh_with_another_users_or_an_invalid_token_is_refused(pool: PgPool) {
    let app = node_with(&pool, config(), false).await;
    let ada = app.signup().await;
    let carol = app.signup().await;
    let (short, short_expiry) = token_expiring_in(&app, &ada, 3);
    let (mut client, _) = Client::ready(&app, &short, None).await;

    client.send_json(&json!({"type": "auth", "data": {"token": carol.token}})).await;
    client.expect_error("token_user_mismatch", Some("auth")).await;
    client.send_json(&json!({"type": "auth", "data": {"token": format!("{}x", ada.token)}})).await;
    client.expect_error("token_invalid", Some("auth")).await;
    // Expired well past the verifier's leeway.
    let (stale, _) = token_expiring_in(&app, &ada, -60);
    client.send_json(&json!({"type": "auth", "data": {"token": stale}})).await;
    client.expect_error("token_invalid", Some("auth")).await;
    client.ping_pong().await;

    // None of them replaced the short token: the connection still ends at its expiry.
    client.expect("token_expiring").await;
    assert_eq!(client.ended().await, Ended::Closed(4002));
    let left = millis_until(short_expiry);
    assert!(left <= 50, "closed {left} ms before the token expired");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_expired_token_or_no_auth_frame_never_opens_a_connection(pool: PgPool) {
    let app = node_with(&pool, config(), false).await;
    let ada = app.signup().await;
    let (stale, _) = token_expiring_in(&app, &ada, -60);

    let mut expired = Client::connect(&app, &format!("token={stale}")).await;
    assert_eq!(expired.ended().await, Ended::Closed(4002));

    let mut expired_frame = Client::connect(&app, "").await;
    expired_frame.send_json(&json!({"type": "auth", "data": {"token": stale}})).await;
    assert_eq!(expired_frame.ended().await, Ended::Closed(4002));

    // No token and no frame: closed after the (0.5 s) auth timeout.
    let started = tokio::time::Instant::now();
    let mut silent = Client::connect(&app, "").await;
    assert_eq!(silent.ended().await, Ended::Closed(4001));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "closed after {took:?}, before the auth timeout");
}
