//! Who may call what: anonymous callers, other users, admins and founders.

use loopync_domain::identity::Role;
use loopync_testkit::{Options, Reply, TestApp, User, assert_problem, event_count, expect_status, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Every protected endpoint, with a body that would be valid, about `target`.
fn protected_endpoints(target: Uuid, session: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::POST, "/api/auth/logout".into(), None),
        (Method::GET, "/api/auth/me".into(), None),
        (Method::GET, "/api/auth/sessions".into(), None),
        (Method::DELETE, format!("/api/auth/sessions/{session}"), None),
        (
            Method::POST,
            "/api/auth/change-password".into(),
            Some(json!({"currentPassword": "correct horse battery", "newPassword": "a brand new password"})),
        ),
        (Method::POST, "/api/auth/resend-verification".into(), None),
        (Method::GET, "/api/users/me".into(), None),
        (Method::GET, "/api/users/search?q=ada".into(), None),
        (Method::GET, format!("/api/users/{target}"), None),
        (Method::PATCH, format!("/api/users/{target}/profile"), Some(json!({"name": "Mallory"}))),
        (Method::GET, format!("/api/users/{target}/settings"), None),
        (
            Method::PUT,
            format!("/api/users/{target}/settings"),
            Some(json!({"privacy": "private", "notifications": false, "darkMode": true})),
        ),
        (Method::PATCH, format!("/api/users/{target}/settings"), Some(json!({"darkMode": true}))),
        (Method::PUT, format!("/api/admin/users/{target}/role"), Some(json!({"role": "admin"}))),
    ]
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_protected_endpoint_is_401_without_a_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let before = event_count(&pool).await;
    let endpoints = protected_endpoints(ada.id, ada.session_id);
    assert_eq!(endpoints.len(), 14);
    for (method, path, body) in endpoints {
        let response = app.call(method.clone(), &path, None, body.as_ref(), None).await;
        let problem = assert_problem(response, 401, "unauthorized");
        assert!(problem["requestId"].is_string(), "{method} {path}: {problem}");
        // An invalid token is the same as none.
        let response = app.call(method.clone(), &path, Some("not-a-token"), body.as_ref(), None).await;
        assert_problem(response, 401, "unauthorized");
    }
    assert_eq!(event_count(&pool).await, before, "nothing was written");
    // Ada's session and settings are untouched.
    expect_status(app.refresh(&ada.refresh).await, 200);
}

/// The owner-only endpoints about `target`, as `(method, path, body)`.
fn owner_only(target: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::PATCH,
            format!("/api/users/{target}/profile"),
            Some(json!({"name": "Mallory", "handle": "mallory"})),
        ),
        (Method::GET, format!("/api/users/{target}/settings"), None),
        (
            Method::PUT,
            format!("/api/users/{target}/settings"),
            Some(json!({"privacy": "private", "notifications": false, "darkMode": true})),
        ),
        (Method::PATCH, format!("/api/users/{target}/settings"), Some(json!({"privacy": "private"}))),
    ]
}

async fn assert_owner_only_refuses(app: &TestApp, caller: &User, target: &User, pool: &PgPool) {
    let before = event_count(pool).await;
    for (method, path, body) in owner_only(target.id) {
        let response = app.call(method.clone(), &path, Some(&caller.token), body.as_ref(), None).await;
        assert_problem(response, 403, "forbidden");
    }
    assert_eq!(event_count(pool).await, before, "nothing was written");
    let me = expect_status(app.get_as(&target.token, "/api/users/me").await, 200);
    assert_eq!(me["name"], target.handle.as_str(), "the name is unchanged");
    assert_eq!(me["handle"], target.handle.as_str());
    assert_eq!(me["settings"], json!({"privacy": "public", "notifications": true, "darkMode": false}));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn owner_only_endpoints_are_403_for_other_users_and_for_admins(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let mallory = app.signup_named("mallory@example.com", "mallory").await;
    assert_owner_only_refuses(&app, &mallory, &ada, &pool).await;

    let mut admin = app.signup_named("admin@example.com", "admin").await;
    app.promote(&mut admin, Role::Admin).await;
    assert_owner_only_refuses(&app, &admin, &ada, &pool).await;
    let mut founder = app.signup_named("founder@example.com", "founder").await;
    app.promote(&mut founder, Role::Founder).await;
    assert_owner_only_refuses(&app, &founder, &ada, &pool).await;

    // The public endpoints are open to any signed-in user.
    let response =
        app.get_at(&mallory.token, &format!("/api/users/{}", ada.id), ada.position.as_deref()).await;
    let public = expect_status(response, 200);
    assert_eq!(public["handle"], "ada");
    assert!(public.get("email").is_none() && public.get("settings").is_none(), "{public}");
}

async fn set_role(app: &TestApp, caller: &str, target: Uuid, role: &str) -> Reply {
    app.put_as(caller, &format!("/api/admin/users/{target}/role"), &json!({"role": role})).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn only_admins_change_roles_and_only_founders_make_founders(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("user@example.com", "someone").await;
    let target = app.signup_named("target@example.com", "target").await;
    let mut admin = app.signup_named("admin@example.com", "admin").await;
    let mut founder = app.signup_named("founder@example.com", "founder").await;

    // Anonymous and a plain user.
    let response = app
        .call(
            Method::PUT,
            &format!("/api/admin/users/{}/role", target.id),
            None,
            Some(&json!({"role": "verified"})),
            None,
        )
        .await;
    assert_problem(response, 401, "unauthorized");
    assert_problem(set_role(&app, &user.token, target.id, "verified").await, 403, "forbidden");
    assert_problem(set_role(&app, &user.token, user.id, "admin").await, 403, "forbidden");

    // Made an admin, but the token still says `user`: refused until it is refreshed.
    let old_token = admin.token.clone();
    app.promote(&mut admin, Role::Admin).await;
    assert_problem(set_role(&app, &old_token, target.id, "verified").await, 403, "forbidden");

    let response = set_role(&app, &admin.token, target.id, "verified").await;
    let position = response.header("loopync-position");
    let body = expect_status(response, 200);
    assert_eq!(body, json!({"userId": target.id, "role": "verified"}));
    let me = expect_status(app.get_as(&target.token, "/api/users/me").await, 200);
    assert_eq!(me["role"], "verified");
    let public = expect_status(
        app.get_at(&user.token, &format!("/api/users/{}", target.id), position.as_deref()).await,
        200,
    );
    assert_eq!(public["verified"], true, "the badge, not the role");
    assert!(public.get("role").is_none(), "others never see a role: {public}");

    // Admins manage users and admins, not founders.
    assert_problem(set_role(&app, &admin.token, target.id, "founder").await, 403, "role_change_not_allowed");
    app.promote(&mut founder, Role::Founder).await;
    assert_problem(set_role(&app, &admin.token, founder.id, "user").await, 403, "role_change_not_allowed");
    expect_status(set_role(&app, &admin.token, user.id, "admin").await, 200);
    expect_status(set_role(&app, &admin.token, user.id, "user").await, 200);

    // A founder may.
    let body = expect_status(set_role(&app, &founder.token, target.id, "founder").await, 200);
    assert_eq!(body["role"], "founder");
    let body = expect_status(set_role(&app, &founder.token, target.id, "user").await, 200);
    assert_eq!(body["role"], "user");

    // Unknown users, bad ids, bad roles.
    assert_problem(set_role(&app, &admin.token, Uuid::now_v7(), "verified").await, 404, "user_not_found");
    let response =
        app.put_as(&admin.token, "/api/admin/users/nobody/role", &json!({"role": "verified"})).await;
    loopync_testkit::assert_invalid_field(response, "userId");
    let response = set_role(&app, &admin.token, target.id, "god").await;
    loopync_testkit::assert_invalid_field(response, "role");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_demoted_admin_is_refused_at_once_despite_a_valid_admin_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let target = app.signup_named("target@example.com", "target").await;
    let mut admin = app.signup_named("admin@example.com", "admin").await;
    app.promote(&mut admin, Role::Admin).await;
    expect_status(set_role(&app, &admin.token, target.id, "verified").await, 200);

    app.set_role(admin.id, Role::User).await;
    let before = event_count(&pool).await;
    assert_problem(set_role(&app, &admin.token, target.id, "admin").await, 403, "forbidden");
    assert_eq!(event_count(&pool).await, before);
    let me = expect_status(app.get_as(&target.token, "/api/users/me").await, 200);
    assert_eq!(me["role"], "verified");
    let me = expect_status(app.get_as(&admin.token, "/api/auth/me").await, 200);
    assert_eq!(me["role"], "user", "the account says user, whatever the token says");
}
