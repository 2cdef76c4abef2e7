//! A socket does not outlive its session: signing out (or a password change) sends every device
//! of the user `session_revoked`, closes the ended session's sockets with 4003, and refuses new
//! ones made with its still-unexpired access token.

use crate::client::{Client, Ended, node};
use loopync_testkit::{PASSWORD, unique};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn signing_out_closes_that_sessions_sockets_and_tells_the_other_devices(pool: PgPool) {
    let app = node(&pool).await;
    let handle = format!("u{}", unique());
    let email = format!("{handle}@example.com");
    let signup = json!({"email": email, "password": PASSWORD, "name": handle, "handle": handle});
    let phone =
        app.call(Method::POST, "/api/auth/signup", None, Some(&signup), None).await.expect(201).clone();
    let login = json!({"email": email, "password": PASSWORD});
    let laptop =
        app.call(Method::POST, "/api/auth/login", None, Some(&login), None).await.expect(200).clone();
    let token = |tokens: &serde_json::Value| tokens["token"].as_str().expect("a token").to_owned();
    app.caught_up().await;

    let (mut phones, _) = Client::ready(&app, &token(&phone), None).await;
    let (mut laptops, _) = Client::ready(&app, &token(&laptop), None).await;

    app.call(Method::POST, "/api/auth/logout", Some(&token(&phone)), None, None).await.expect(204);

    for client in [&mut phones, &mut laptops] {
        let frame = client.expect("session_revoked").await;
        assert_eq!(frame["data"], json!({"sessionId": phone["sessionId"], "reason": "logout"}), "{frame}");
        assert!(frame["cursor"].is_string(), "{frame}");
    }
    assert_eq!(phones.ended().await, Ended::Closed(4003));
    // The laptop's session goes on.
    laptops.ping_pong().await;

    // The phone's access token has not expired, but its session has.
    let mut again = Client::connect(&app, &format!("token={}", token(&phone))).await;
    assert_eq!(again.ended().await, Ended::Closed(4003));
    let (mut laptop_again, _) = Client::ready(&app, &token(&laptop), None).await;
    laptop_again.ping_pong().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_session_revoked_while_away_closes_the_socket_that_resumes_past_it(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let (client, ready) = Client::ready(&app, &ada.token, None).await;
    let since = ready["cursor"].as_str().expect("a cursor").to_owned();
    client.close().await;

    app.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    app.caught_up().await;

    // Resuming with the old cursor replays the revocation, then closes: the session is over
    // (the connect-time check may close it first; either way it is 4003).
    let mut resumed = Client::connect(&app, &format!("token={}&since={since}", ada.token)).await;
    assert_eq!(resumed.ended().await, Ended::Closed(4003));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_socket_whose_session_cannot_be_checked_is_refused(pool: PgPool) {
    // No trust in "live": every connection asks the event store.
    let options = loopync_testkit::Options::default()
        .with_nats(loopync_testkit::nats().await)
        .with_realtime(crate::client::test_config())
        .with_auth(|auth| auth.session_check_ttl = std::time::Duration::ZERO);
    let app = loopync_testkit::spawn_app(&pool, options).await;
    let ada = app.signup().await;
    let (mut socket, _) = Client::ready(&app, &ada.token, None).await;
    socket.ping_pong().await;

    sqlx::query("ALTER TABLE events RENAME TO events_away").execute(&pool).await.unwrap();
    let mut refused = Client::connect(&app, &format!("token={}", ada.token)).await;
    assert_eq!(refused.ended().await, Ended::Closed(1011), "fail closed: an error, not a welcome");
    sqlx::query("ALTER TABLE events_away RENAME TO events").execute(&pool).await.unwrap();
    let (mut again, _) = Client::ready(&app, &ada.token, None).await;
    again.ping_pong().await;
}
