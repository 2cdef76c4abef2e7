//! Socket caps, per node. Per client address (an IPv6 client's /64, the address as trusted
//! proxies forwarded it): counted from the upgrade on, authenticated or not; one more upgrade is
//! answered `429 too_many_sockets` (problem+json, `Retry-After`). Per user: one more socket is
//! closed with 4006 before `ready`, and the user's open sockets are left alone. A closed socket
//! gives its place back; racing connections never get past either cap.

use crate::client::{Client, FRAME_TIMEOUT, nats, node_with, test_config};
use futures::StreamExt;
use loopync_api::TrustedProxies;
use loopync_api::realtime::RealtimeConfig;
use loopync_testkit::{Options, TestApp, spawn_app};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};

/// A refused upgrade: its status, `Content-Type`, `Retry-After` and body.
#[derive(Debug)]
struct Refused {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

/// Upgrades `/api/ws?<query>`, as the client behind `forwarded_for` when given.
async fn upgrade(app: &TestApp, query: &str, forwarded_for: Option<&str>) -> Result<Client, Refused> {
    let url = format!("ws://{}/api/ws?{query}", app.addr);
    let mut request = url.as_str().into_client_request().expect("a WebSocket request");
    if let Some(address) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", HeaderValue::from_str(address).expect("a header value"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(Client { socket }),
        Err(Error::Http(response)) => {
            let header =
                |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            Err(Refused {
                status: response.status().as_u16(),
                content_type: header("content-type"),
                retry_after: header("retry-after"),
                body: response
                    .body()
                    .as_deref()
                    .and_then(|body| serde_json::from_slice(body).ok())
                    .unwrap_or_default(),
            })
        }
        Err(error) => panic!("upgrade {url}: {error}"),
    }
}

#[track_caller]
fn assert_too_many_sockets(refused: &Refused) {
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.content_type.as_deref(), Some("application/problem+json"), "{refused:?}");
    assert_eq!(refused.body["code"], "too_many_sockets", "{refused:?}");
    assert!(refused.retry_after.is_some(), "{refused:?}");
}

/// What the server sends first on a new socket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum First {
    Frame(String),
    Closed(u16),
    Dropped,
}

/// The first thing the server sends: a refused socket is closed before any `ready`.
async fn closed_before_ready(client: &mut Client) -> First {
    loop {
        match tokio::time::timeout(FRAME_TIMEOUT, client.socket.next()).await {
            Err(_) => panic!("the connection was neither ready nor closed within {FRAME_TIMEOUT:?}"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return First::Closed(frame.map_or(1005, |frame| frame.code.into()));
            }
            Ok(Some(Ok(Message::Text(text)))) => return First::Frame(text.to_string()),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return First::Dropped,
        }
    }
}

/// Waits until the node counts `expected` authenticated connections.
async fn connections(app: &TestApp, expected: usize) {
    let hub = app.state.realtime.hub().expect("the node has no gateway");
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while hub.connections() != expected {
        assert!(tokio::time::Instant::now() < deadline, "{} connections, not {expected}", hub.connections());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_user_over_the_cap_is_refused_with_4006_and_keeps_the_other_sockets(pool: PgPool) {
    let config = RealtimeConfig { sockets_per_user: 2, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    app.caught_up().await;

    let (mut phone, _) = Client::ready(&app, &ada.token, None).await;
    let (laptop, _) = Client::ready(&app, &ada.token, None).await;
    let mut third = Client::connect(&app, &format!("token={}", ada.token)).await;
    assert_eq!(closed_before_ready(&mut third).await, First::Closed(4006));
    // The open ones are untouched, and other users have their own cap.
    phone.ping_pong().await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;
    bobs.ping_pong().await;

    // A socket that closes gives its place back.
    laptop.close().await;
    connections(&app, 2).await;
    let (mut again, _) = Client::ready(&app, &ada.token, None).await;
    again.ping_pong().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn racing_sockets_of_one_user_never_pass_the_cap(pool: PgPool) {
    const CAP: usize = 3;
    const RACERS: usize = 12;
    let config = RealtimeConfig { sockets_per_user: CAP, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let ada = app.signup().await;
    app.caught_up().await;

    let connects = (0..RACERS).map(|_| {
        let query = format!("token={}", ada.token);
        let app = &app;
        async move {
            let mut client = Client::connect(app, &query).await;
            let outcome = closed_before_ready(&mut client).await;
            (client, outcome)
        }
    });
    let outcomes = futures::future::join_all(connects).await;
    let ready = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, First::Frame(text) if text.contains("\"ready\"")))
        .count();
    let refused = outcomes.iter().filter(|(_, outcome)| *outcome == First::Closed(4006)).count();
    assert_eq!(
        (ready, refused),
        (CAP, RACERS - CAP),
        "{:?}",
        outcomes.iter().map(|(_, o)| o).collect::<Vec<_>>()
    );
    connections(&app, CAP).await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_address_over_the_cap_is_answered_429_even_before_authenticating(pool: PgPool) {
    let config = RealtimeConfig { sockets_per_ip: 2, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    app.caught_up().await;

    // One authenticated socket, and one that has not sent its `auth` frame yet: both count.
    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let unauthenticated = upgrade(&app, "", None).await.expect("the second socket");
    let refused = upgrade(&app, &format!("token={}", bob.token), None).await.err().expect("a third socket");
    assert_too_many_sockets(&refused);
    adas.ping_pong().await;

    // The unauthenticated one ends (closed by the client here; the auth timeout otherwise):
    // its place is free again.
    unauthenticated.close().await;
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    let mut bobs = loop {
        match upgrade(&app, &format!("token={}", bob.token), None).await {
            Ok(client) => break client,
            Err(refused) => assert_too_many_sockets(&refused),
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed socket's place was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    bobs.expect("ready").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn racing_upgrades_from_one_address_never_pass_the_cap(pool: PgPool) {
    const CAP: usize = 4;
    const RACERS: usize = 16;
    let config = RealtimeConfig { sockets_per_ip: CAP, ..test_config() };
    let app = node_with(&pool, config, true).await;
    let ada = app.signup().await;
    app.caught_up().await;

    let query = format!("token={}", ada.token);
    let outcomes = futures::future::join_all((0..RACERS).map(|_| upgrade(&app, &query, None))).await;
    let upgraded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_too_many_sockets(refused);
    }
    assert_eq!(upgraded, CAP);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn behind_trusted_proxies_each_forwarded_client_has_its_own_cap(pool: PgPool) {
    let mut options = Options::default()
        .with_nats(nats().await)
        .with_realtime(RealtimeConfig { sockets_per_ip: 1, ..test_config() });
    options.config.trusted_proxies = TrustedProxies::new(vec![
        "127.0.0.0/8".parse().expect("a network"),
        "::1/128".parse().expect("a network"),
    ]);
    let app = spawn_app(&pool, options).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let query = format!("token={}", ada.token);

    let first = upgrade(&app, &query, Some("203.0.113.7")).await.expect("203.0.113.7's socket");
    assert_too_many_sockets(&upgrade(&app, &query, Some("203.0.113.7")).await.err().expect("a second"));
    // Another client behind the same proxy has its own place.
    let other = upgrade(&app, &query, Some("203.0.113.8")).await.expect("203.0.113.8's socket");
    // An IPv6 client counts by its /64.
    let v6 = upgrade(&app, &query, Some("2001:db8:0:1::1")).await.expect("the /64's socket");
    assert_too_many_sockets(&upgrade(&app, &query, Some("2001:db8:0:1::2")).await.err().expect("same /64"));
    // A client cannot pick its own address: what it writes left of what the proxy added is not
    // believed.
    assert_too_many_sockets(
        &upgrade(&app, &query, Some("198.51.100.1, 203.0.113.7")).await.err().expect("spoofed"),
    );
    drop((first, other, v6));
}
