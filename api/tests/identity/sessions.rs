//! Sessions: logout, the devices list, and signing one device out.

use loopync_testkit::{
    Options, assert_invalid_field, assert_problem, expect_status, spawn_app, string, uuid,
};
use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The caller's sessions as `(id, current)`, read at `position`.
async fn sessions(app: &loopync_testkit::TestApp, token: &str, position: Option<&str>) -> Vec<(Uuid, bool)> {
    let response = app.get_at(token, "/api/auth/sessions", position).await;
    if position.is_some() {
        assert_eq!(response.header("loopync-consistency").as_deref(), Some("fresh"));
    }
    let body = expect_status(response, 200);
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|s| (uuid(&s["id"]), s["current"].as_bool().unwrap_or_else(|| panic!("current: {s}"))))
        .collect()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn logout_ends_the_session_and_its_refresh_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let other = app.login_ok(&user.email, &user.password).await;

    let response = app.call(Method::POST, "/api/auth/logout", Some(&user.token), None, None).await;
    assert_eq!(response.status, 204);
    let position = response.header("loopync-position");
    assert!(position.is_some(), "logout answers its position");
    assert_problem(app.refresh(&user.refresh).await, 401, "session_ended");

    // The other session lives on, and no longer lists the ended one.
    let listed = sessions(&app, &other.token, position.as_deref()).await;
    assert_eq!(listed, vec![(other.session_id, true)]);
    expect_status(app.refresh(&other.refresh).await, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_sessions_list_shows_every_device_and_which_is_current(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let phone = app
        .execute(
            app.client
                .post(app.url("/api/auth/login"))
                .header("user-agent", "LoopyncPhone/1.0")
                .json(&serde_json::json!({"email": "ada@example.com", "password": user.password})),
        )
        .await;
    let position = phone.header("loopync-position");
    let phone = expect_status(phone, 200);
    let phone_session = uuid(&phone["sessionId"]);
    let laptop = app.login_ok(&user.email, &user.password).await;

    let listed = sessions(&app, &laptop.token, laptop.position.as_deref()).await;
    assert_eq!(listed.len(), 3, "sign-up and two logins: {listed:?}");
    for (id, current) in &listed {
        assert_eq!(*current, *id == laptop.session_id, "{listed:?}");
    }
    let mut ids: Vec<Uuid> = listed.iter().map(|(id, _)| *id).collect();
    ids.sort();
    let mut expected = vec![user.session_id, phone_session, laptop.session_id];
    expected.sort();
    assert_eq!(ids, expected);

    // Seen from the phone, the phone is current; its device is its User-Agent.
    let body = expect_status(
        app.get_at(&string(&phone["token"]), "/api/auth/sessions", position.as_deref()).await,
        200,
    );
    let data = body["data"].as_array().cloned().expect("a JSON array");
    let current: Vec<&Value> = data.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{body}");
    assert_eq!(uuid(&current[0]["id"]), phone_session);
    assert_eq!(current[0]["device"], "LoopyncPhone/1.0");
    assert!(!body.to_string().contains("refresh"), "no token material: {body}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn signing_out_another_own_device_ends_it(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let other = app.login_ok(&user.email, &user.password).await;

    let response = app.delete_as(&other.token, &format!("/api/auth/sessions/{}", user.session_id)).await;
    assert_eq!(response.status, 204);
    let position = response.header("loopync-position");
    assert_problem(app.refresh(&user.refresh).await, 401, "session_ended");
    let listed = sessions(&app, &other.token, position.as_deref()).await;
    assert_eq!(listed, vec![(other.session_id, true)]);

    // Again: already ended, nothing to do.
    let again = app.delete_as(&other.token, &format!("/api/auth/sessions/{}", user.session_id)).await;
    assert_eq!(again.status, 204);
    expect_status(app.refresh(&other.refresh).await, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn another_users_session_and_an_unknown_one_are_404(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let grace = app.signup_named("grace@example.com", "grace").await;

    let response = app.delete_as(&grace.token, &format!("/api/auth/sessions/{}", ada.session_id)).await;
    assert_problem(response, 404, "session_not_found");
    let response = app.delete_as(&grace.token, &format!("/api/auth/sessions/{}", Uuid::now_v7())).await;
    assert_problem(response, 404, "session_not_found");
    let response = app.delete_as(&grace.token, "/api/auth/sessions/not-a-uuid").await;
    assert_invalid_field(response, "sessionId");

    // Ada's session is untouched.
    expect_status(app.refresh(&ada.refresh).await, 200);
}
