//! Privacy: durable frames go to their user only; presence of a user whose privacy is
//! `private` or `friends` is refused (`presence_forbidden` error frame naming them, HTTP 403),
//! unknown users are named as such (`unknown_user`, HTTP 404 `user_not_found`), and frames
//! addressed to oneself are refused (`self_target`).

use crate::client::{Client, QUIET, node};
use loopync_testkit::{TestApp, User};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Sets `user`'s privacy over HTTP and waits until the profiles read model has it.
pub async fn set_privacy(app: &TestApp, user: &User, privacy: &str) {
    let body = json!({"privacy": privacy, "notifications": true, "darkMode": false});
    let path = format!("/api/users/{}/settings", user.id);
    let reply = app.call(Method::PUT, &path, Some(&user.token), Some(&body), None).await;
    assert_eq!(reply.expect(200)["privacy"], privacy, "{}", reply.text);
    let deadline = tokio::time::Instant::now() + crate::client::FRAME_TIMEOUT;
    loop {
        // An error is the read model's table not created yet (the runner creates it).
        let now: Option<String> =
            sqlx::query_scalar("SELECT privacy FROM read_models.user_profiles WHERE user_id = $1")
                .bind(user.id)
                .fetch_optional(&app.pool)
                .await
                .ok()
                .flatten();
        if now.as_deref() == Some(privacy) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the profile of {} is still {now:?}", user.id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .expect("a JSON array")
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn nobody_else_gets_a_users_balance_updates(pool: PgPool) {
    let app = node(&pool).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    let carol = app.signup().await;
    app.caught_up().await;

    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;
    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;
    app.transfer(&ada, carol.id, 700, None, None).await.created();

    let mine = adas.expect("balance_updated").await;
    assert_eq!(mine["data"]["available"], 4300, "{mine}");
    let theirs = carols.expect("balance_updated").await;
    assert_eq!(theirs["data"]["available"], 700, "{theirs}");
    bobs.silent(QUIET, "Bob is neither party").await;
    adas.silent(Duration::from_millis(200), "Ada gets only her own").await;
    carols.silent(Duration::from_millis(200), "Carol gets only her own").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn presence_of_private_and_friends_only_users_is_refused(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    let dan = app.signup().await;
    let eve = app.signup().await;
    let carol = app.signup().await;
    set_privacy(&app, &ada, "private").await;
    set_privacy(&app, &dan, "friends").await;
    set_privacy(&app, &eve, "public").await;
    app.caught_up().await;
    let nobody = Uuid::now_v7();

    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;
    carols
        .send_json(
            &json!({"type": "presence_subscribe", "data": {"userIds": [ada.id, eve.id, dan.id, nobody]}}),
        )
        .await;
    let snapshot = carols.expect("presence").await;
    assert_eq!(snapshot["data"]["userId"], eve.id.to_string(), "{snapshot}");
    assert_eq!(snapshot["data"]["status"], "offline", "{snapshot}");
    let forbidden = carols.expect_error("presence_forbidden", Some("presence_subscribe")).await;
    assert_eq!(ids(&forbidden["data"]["userIds"]), [ada.id.to_string(), dan.id.to_string()], "{forbidden}");
    let unknown = carols.expect_error("unknown_user", Some("presence_subscribe")).await;
    assert_eq!(ids(&unknown["data"]["userIds"]), [nobody.to_string()], "{unknown}");
    carols.silent(Duration::from_millis(300), "one snapshot, two errors").await;

    // Refused means not watched: Ada and Dan coming online is not announced; Eve is.
    let (_adas, _) = Client::ready(&app, &ada.token, None).await;
    let (_dans, _) = Client::ready(&app, &dan.token, None).await;
    carols.silent(QUIET, "no presence of users Carol may not see").await;
    let (_eves, _) = Client::ready(&app, &eve.token, None).await;
    let online = carols.expect("user_online").await;
    assert_eq!(online["data"]["userId"], eve.id.to_string(), "{online}");

    // Over HTTP: 403 for them, 404 for nobody, 200 for Eve and for Ada herself.
    for user in [&ada, &dan] {
        app.get_at(&carol.token, &format!("/api/users/{}/presence", user.id), None)
            .await
            .problem(403, "presence_forbidden");
    }
    app.get_at(&carol.token, &format!("/api/users/{nobody}/presence"), None)
        .await
        .problem(404, "user_not_found");
    let view = app.get_at(&carol.token, &format!("/api/users/{}/presence", eve.id), None).await;
    assert_eq!(view.expect(200)["status"], "online", "{}", view.text);
    let own = app.get_at(&ada.token, &format!("/api/users/{}/presence", ada.id), None).await;
    assert_eq!(own.expect(200)["status"], "online", "{}", own.text);
    let anonymous = app.call(Method::GET, &format!("/api/users/{}/presence", eve.id), None, None, None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);

    // Ada may watch herself.
    let (mut adas_other, _) = Client::ready(&app, &ada.token, None).await;
    adas_other.send_json(&json!({"type": "presence_subscribe", "data": {"userIds": [ada.id]}})).await;
    let own = adas_other.expect("presence").await;
    assert_eq!(own["data"]["status"], "online", "{own}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_user_who_turns_private_stops_being_announced_to_existing_watchers(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    let carol = app.signup().await;
    set_privacy(&app, &ada, "public").await;
    // Carol's own sign-up card must not turn up among the frames below.
    app.caught_up().await;

    let (mut carols, _) = Client::ready(&app, &carol.token, None).await;
    carols.send_json(&json!({"type": "presence_subscribe", "data": {"userIds": [ada.id]}})).await;
    assert_eq!(carols.expect("presence").await["data"]["status"], "offline");
    let (adas, _) = Client::ready(&app, &ada.token, None).await;
    let online = carols.expect("user_online").await;
    assert_eq!(online["data"]["userId"], ada.id.to_string(), "{online}");

    // Ada turns private while Carol watches: her next change is withheld from Carol, who is
    // told and stops watching.
    set_privacy(&app, &ada, "private").await;
    adas.close().await;
    let refused = carols.expect_error("presence_forbidden", Some("presence_subscribe")).await;
    assert_eq!(ids(&refused["data"]["userIds"]), [ada.id.to_string()], "{refused}");
    let (_adas_again, _) = Client::ready(&app, &ada.token, None).await;
    carols.silent(QUIET, "Carol no longer watches Ada").await;
    app.get_at(&carol.token, &format!("/api/users/{}/presence", ada.id), None)
        .await
        .problem(403, "presence_forbidden");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn frames_to_oneself_or_to_nobody_are_refused(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let (mut adas, _) = Client::ready(&app, &ada.token, None).await;
    let (mut other_device, _) = Client::ready(&app, &ada.token, None).await;

    adas.send_json(&json!({"type": "typing", "data": {"to": ada.id, "isTyping": true}})).await;
    adas.expect_error("self_target", Some("typing")).await;
    adas.send_json(&json!({"type": "signal", "data": {"to": ada.id, "signal": {"sdp": "x"}}})).await;
    adas.expect_error("self_target", Some("signal")).await;
    let nobody = Uuid::now_v7();
    adas.send_json(&json!({"type": "typing", "data": {"to": nobody, "isTyping": true}})).await;
    adas.expect_error("unknown_user", Some("typing")).await;
    adas.send_json(&json!({"type": "signal", "data": {"to": nobody, "signal": {"sdp": "x"}}})).await;
    adas.expect_error("unknown_user", Some("signal")).await;
    adas.ping_pong().await;
    other_device.silent(Duration::from_millis(300), "nothing was relayed").await;
}
