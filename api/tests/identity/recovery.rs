//! Email verification, forgotten passwords, password resets and changes.

use loopync_testkit::{
    Options, Reply, assert_invalid_field, assert_problem, event_count, expect_status, mail_token, spawn_app,
    string,
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

async fn verify_email(app: &loopync_testkit::TestApp, token: &str) -> Reply {
    app.post("/api/auth/verify-email", &json!({"token": token})).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_signup_mail_verifies_the_address_once_and_for_all(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("  Ada@Example.com", "ada").await;
    let mail = app.mail_to("ada@example.com").await;
    assert!(mail.subject.to_lowercase().contains("confirm"), "{}", mail.subject);
    let token = mail_token(&mail);
    let (id, secret) = token.split_once('.').unwrap_or_else(|| panic!("{token}"));
    assert_eq!(id, user.id.to_string(), "the token names the account");
    assert_eq!(secret.len(), 43);

    // Wrong tokens first: a wrong secret, garbage, a malformed one.
    for wrong in
        [format!("{}.{}", user.id, "A".repeat(43)), "garbage".to_owned(), format!("{}.short", user.id)]
    {
        assert_problem(verify_email(&app, &wrong).await, 401, "invalid_token");
    }
    let me = expect_status(app.get_as(&user.token, "/api/auth/me").await, 200);
    assert_eq!(me["emailVerified"], false);

    let response = verify_email(&app, &token).await;
    assert_eq!(response.status, 204);
    let me = expect_status(app.get_as(&user.token, "/api/auth/me").await, 200);
    assert_eq!(me["emailVerified"], true);

    // Idempotent: the same token again is fine and changes nothing.
    let events = event_count(&pool).await;
    assert_eq!(verify_email(&app, &token).await.status, 204);
    assert_eq!(event_count(&pool).await, events);

    // Nothing more to verify: resending sends nothing.
    let response =
        app.call(Method::POST, "/api/auth/resend-verification", Some(&user.token), None, None).await;
    assert_eq!(response.status, 202);
    assert!(app.mailer.wait_for("ada@example.com", Duration::from_millis(500)).await.is_none());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_resent_verification_mail_replaces_the_first_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let first = mail_token(&app.mail_to("ada@example.com").await);
    let response =
        app.call(Method::POST, "/api/auth/resend-verification", Some(&user.token), None, None).await;
    let body = expect_status(response, 202);
    assert!(body["message"].is_string(), "{body}");
    let second = mail_token(&app.mail_to("ada@example.com").await);
    assert_ne!(first, second);

    assert_problem(verify_email(&app, &first).await, 401, "invalid_token");
    assert_eq!(verify_email(&app, &second).await.status, 204);
    let me = expect_status(app.get_as(&user.token, "/api/auth/me").await, 200);
    assert_eq!(me["emailVerified"], true);
}

/// A well-formed token that names no account is as invalid as any other wrong token: the
/// answer must not say whether an id is an account.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_verification_token_naming_no_account_is_invalid_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let token = format!("{}.{}", Uuid::now_v7(), "A".repeat(43));
    assert_problem(verify_email(&app, &token).await, 401, "invalid_token");
}

async fn forgot(app: &loopync_testkit::TestApp, email: &str) -> Value {
    expect_status(app.post("/api/auth/forgot-password", &json!({"email": email})).await, 202)
}

async fn reset(app: &loopync_testkit::TestApp, token: &str, password: &str) -> Reply {
    app.post("/api/auth/reset-password", &json!({"token": token, "password": password})).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    app.signup_named("ada@example.com", "ada").await;
    app.mail_to("ada@example.com").await; // the verification mail

    let known = forgot(&app, "ADA@example.com").await;
    let unknown = forgot(&app, "nobody@example.com").await;
    let malformed = forgot(&app, "not an address").await;
    assert_eq!(known, unknown);
    assert_eq!(known, malformed);

    let mail = app.mail_to("ada@example.com").await;
    assert!(mail.subject.to_lowercase().contains("reset"), "{}", mail.subject);
    mail_token(&mail);
    assert!(app.mailer.wait_for("nobody@example.com", Duration::from_millis(500)).await.is_none());
    assert!(app.mailer.messages().iter().all(|m| m.to == "ada@example.com"));

    let missing = app.post("/api/auth/forgot-password", &json!({})).await;
    assert_invalid_field(missing, "email");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_password_reset_changes_the_password_and_ends_every_session(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let other = app.login_ok("ada@example.com", &user.password).await;
    app.mail_to("ada@example.com").await; // the verification mail
    forgot(&app, "ada@example.com").await;
    let token = mail_token(&app.mail_to("ada@example.com").await);

    // A weak password is refused and does not use the token up.
    let before = event_count(&pool).await;
    assert_invalid_field(reset(&app, &token, "short").await, "password");
    assert_invalid_field(reset(&app, &token, "Ada@Example.com").await, "password");
    assert_eq!(event_count(&pool).await, before, "nothing written");
    // Wrong tokens.
    assert_problem(
        reset(&app, &format!("{}.{}", user.id, "A".repeat(43)), "a new password").await,
        401,
        "invalid_token",
    );
    assert_problem(reset(&app, "garbage", "a new password").await, 401, "invalid_token");
    assert_problem(
        reset(&app, &format!("{}.{}", Uuid::now_v7(), "A".repeat(43)), "a new password").await,
        401,
        "invalid_token",
    );

    let response = reset(&app, &token, "a brand new password").await;
    assert_eq!(response.status, 204);

    assert_problem(app.login("ada@example.com", &user.password).await, 401, "invalid_credentials");
    let fresh = app.login_ok("ada@example.com", "a brand new password").await;
    for old in [&user.refresh, &other.refresh] {
        assert_problem(app.refresh(old).await, 401, "session_ended");
    }
    expect_status(app.refresh(&fresh.refresh).await, 200);

    // The token works once.
    assert_problem(reset(&app, &token, "yet another password").await, 401, "invalid_token");
    app.login_ok("ada@example.com", "a brand new password").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_newer_reset_mail_replaces_the_older_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    app.signup_named("ada@example.com", "ada").await;
    app.mail_to("ada@example.com").await;
    forgot(&app, "ada@example.com").await;
    let first = mail_token(&app.mail_to("ada@example.com").await);
    forgot(&app, "ada@example.com").await;
    let second = mail_token(&app.mail_to("ada@example.com").await);
    assert_problem(reset(&app, &first, "a brand new password").await, 401, "invalid_token");
    assert_eq!(reset(&app, &second, "a brand new password").await.status, 204);
}

async fn change_password(app: &loopync_testkit::TestApp, token: &str, current: &str, new: &str) -> Reply {
    app.post_as(token, "/api/auth/change-password", &json!({"currentPassword": current, "newPassword": new}))
        .await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn changing_the_password_ends_other_sessions_and_starts_a_new_one(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let other = app.login_ok("ada@example.com", &user.password).await;
    let before = event_count(&pool).await;

    // A wrong current password: `invalid_credentials`, which errors.rs answers with 401.
    let response = change_password(&app, &user.token, "not my password", "a brand new password").await;
    assert_problem(response, 401, "invalid_credentials");
    // A weak new one names the field.
    let response = change_password(&app, &user.token, &user.password, "ADA@example.com").await;
    assert_invalid_field(response, "newPassword");
    let response = change_password(&app, &user.token, &user.password, "short").await;
    assert_invalid_field(response, "newPassword");
    let response = app.post_as(&user.token, "/api/auth/change-password", &json!({"newPassword": "x"})).await;
    assert_invalid_field(response, "currentPassword");
    assert_eq!(event_count(&pool).await, before, "refusals write nothing");

    let response = change_password(&app, &user.token, &user.password, "a brand new password").await;
    let body = expect_status(response, 200);
    let new_refresh = string(&body["refreshToken"]);
    assert_ne!(string(&body["sessionId"]), user.session_id.to_string(), "a new session");
    expect_status(app.get_as(&string(&body["token"]), "/api/auth/me").await, 200);

    for old in [&user.refresh, &other.refresh] {
        assert_problem(app.refresh(old).await, 401, "session_ended");
    }
    expect_status(app.refresh(&new_refresh).await, 200);
    assert_problem(app.login("ada@example.com", &user.password).await, 401, "invalid_credentials");
    app.login_ok("ada@example.com", "a brand new password").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn expired_verification_and_reset_tokens_are_token_expired(pool: PgPool) {
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.email_verification_ttl = Duration::from_secs(1);
            auth.password_reset_ttl = Duration::from_secs(1);
        }),
    )
    .await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let verification = mail_token(&app.mail_to("ada@example.com").await);
    forgot(&app, "ada@example.com").await;
    let reset_token = mail_token(&app.mail_to("ada@example.com").await);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_problem(verify_email(&app, &verification).await, 401, "token_expired");
    assert_problem(reset(&app, &reset_token, "a brand new password").await, 401, "token_expired");
    let me = expect_status(app.get_as(&user.token, "/api/auth/me").await, 200);
    assert_eq!(me["emailVerified"], false);
    app.login_ok("ada@example.com", &user.password).await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_password_change_voids_an_outstanding_reset_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    app.mail_to("ada@example.com").await;
    forgot(&app, "ada@example.com").await;
    let token = mail_token(&app.mail_to("ada@example.com").await);
    let response = change_password(&app, &user.token, &user.password, "a brand new password").await;
    expect_status(response, 200);
    assert_problem(reset(&app, &token, "an attacker's password").await, 401, "invalid_token");
    app.login_ok("ada@example.com", "a brand new password").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn after_a_password_change_the_sessions_list_shows_only_the_new_session(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    app.login_ok("ada@example.com", &user.password).await;
    let response = change_password(&app, &user.token, &user.password, "a brand new password").await;
    let position = response.header("loopync-position");
    let body = expect_status(response, 200);
    let token = string(&body["token"]);
    let response = app.get_at(&token, "/api/auth/sessions", position.as_deref()).await;
    let list = expect_status(response, 200);
    let ids: Vec<String> =
        list["data"].as_array().map(|d| d.iter().map(|s| string(&s["id"])).collect()).expect("a JSON array");
    assert_eq!(ids, vec![string(&body["sessionId"])], "{list}");
    assert_eq!(list["data"][0]["current"], true);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn five_wrong_current_passwords_lock_password_changes(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    for _ in 0..5 {
        let response = change_password(&app, &user.token, "not my password", "a brand new password").await;
        assert_problem(response, 401, "invalid_credentials");
    }
    let response = change_password(&app, &user.token, &user.password, "a brand new password").await;
    assert!(response.header("retry-after").is_some());
    assert_problem(response, 429, "rate_limited");
    // The password did not change.
    app.login_ok("ada@example.com", &user.password).await;
}

/// Once an address is verified, a made-up token must still be refused: user ids are public
/// (profiles, search), so a 204 for any token naming one tells anyone whether that user's
/// (private) address is verified.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_made_up_token_is_refused_after_verification_too(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let token = mail_token(&app.mail_to("ada@example.com").await);
    assert_eq!(verify_email(&app, &token).await.status, 204);
    let made_up = format!("{}.{}", user.id, "A".repeat(43));
    assert_problem(verify_email(&app, &made_up).await, 401, "invalid_token");
}
