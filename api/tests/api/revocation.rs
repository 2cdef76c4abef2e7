//! Revoked sessions stop at once. An access token outlives its session by up to 15 minutes;
//! every authenticated request checks the session, so sign-out, revoking a device, a reused
//! refresh token, a password change and a reset each end the old token's use on its very next
//! request — money-moving commands included — on every node, and a session that cannot be
//! checked is refused, never taken for live.

use crate::contract::{Operation, operations, product_spec, resolve};
use loopync_projections::Subjects;
use loopync_testkit::{
    NatsServer, Options, TestApp, TestDb, User, assert_problem, event_count, mail_token, spawn_app,
    spawn_two_nodes,
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// Every operation that takes a bearer token.
fn authenticated_operations(spec: &Value) -> Vec<Operation<'_>> {
    operations(spec)
        .into_iter()
        .filter(|operation| {
            let mut secured = operation.operation["security"].as_array().into_iter().flatten();
            secured.any(|scheme| scheme.get("BearerAuth").is_some())
        })
        .collect()
}

/// Whether `user`'s access token still works for a read and for a money-moving command:
/// `Ok(())`, or the `(status, code)` of the refusals.
async fn token_works(app: &TestApp, user: &User, payee: &User) -> Result<(), [(u16, String); 2]> {
    let read = app.get_as(&user.token, "/api/looppay/balance").await;
    let body = json!({"to": payee.id, "amount": 1, "note": "still signed in?"});
    let command = app.command(&user.token, "/api/looppay/transfer", &body, None).await;
    if read.status == 200 && command.status == 201 {
        return Ok(());
    }
    let code = |reply: &loopync_testkit::Reply| reply.body["code"].as_str().unwrap_or("-").to_owned();
    Err([(read.status, code(&read)), (command.status, code(&command))])
}

fn ended() -> Result<(), [(u16, String); 2]> {
    Err([(401, "session_ended".to_owned()), (401, "session_ended".to_owned())])
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_authenticated_operation_refuses_a_signed_out_session(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(10_000).await;
    let operations = authenticated_operations(&spec);
    assert!(operations.len() >= 20, "{} operations take a bearer token", operations.len());
    app.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);

    let before = event_count(&pool).await;
    let mut undocumented = Vec::new();
    for operation in &operations {
        let url = operation.url(|_| ada.id.to_string());
        let reply = app
            .call(operation.method.clone(), &url, Some(&ada.token), operation.example.as_ref(), None)
            .await;
        assert_problem(reply, 401, "session_ended");
        // A client generated from the document must know the answer it gets.
        if !declared_codes(&spec, operation.operation, 401).contains(&"session_ended") {
            undocumented.push(operation.name.clone());
        }
    }
    assert_eq!(event_count(&pool).await, before, "nothing ran for the ended session");
    assert!(undocumented.is_empty(), "401 `session_ended` is not in the document of: {undocumented:?}");
}

/// The problem codes `operation` declares under `status` (its `code` enum).
fn declared_codes<'a>(spec: &'a Value, operation: &'a Value, status: u16) -> Vec<&'a str> {
    let content = operation["responses"][status.to_string()]["content"].as_object();
    let schemas = content.into_iter().flat_map(|content| content.values()).map(|media| &media["schema"]);
    schemas
        .flat_map(|schema| resolve(spec, &resolve(spec, schema)["properties"]["code"])["enum"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn each_way_a_session_ends_stops_its_access_token_at_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let bob = app.signup().await;

    // Sign-out.
    let (ada, _) = app.funded(10_000).await;
    assert_eq!(token_works(&app, &ada, &bob).await, Ok(()));
    app.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    assert_eq!(token_works(&app, &ada, &bob).await, ended(), "after sign-out");

    // A device signed out from another.
    let (grace, _) = app.funded(10_000).await;
    let laptop = app.login_ok(&grace.email, &grace.password).await;
    assert_eq!(token_works(&app, &grace, &bob).await, Ok(()));
    let path = format!("/api/auth/sessions/{}", grace.session_id);
    app.delete_as(&laptop.token, &path).await.expect(204);
    assert_eq!(token_works(&app, &grace, &bob).await, ended(), "after revoking the device");
    assert_eq!(token_works(&app, &laptop, &bob).await, Ok(()), "the other device goes on");

    // A rotated refresh token presented again: the session is taken to be stolen.
    let (alan, _) = app.funded(10_000).await;
    let rotated = app.refresh(&alan.refresh).await.expect(200).clone();
    let current = User { token: rotated["token"].as_str().unwrap().to_owned(), ..alan.clone() };
    assert_eq!(token_works(&app, &current, &bob).await, Ok(()));
    assert_problem(app.refresh(&alan.refresh).await, 401, "token_reused");
    assert_eq!(token_works(&app, &alan, &bob).await, ended(), "the first token, after the reuse");
    assert_eq!(token_works(&app, &current, &bob).await, ended(), "the rotated one too");

    // A password change ends every session but the one it starts.
    let (edsger, _) = app.funded(10_000).await;
    let phone = app.login_ok(&edsger.email, &edsger.password).await;
    assert_eq!(token_works(&app, &phone, &bob).await, Ok(()));
    let change = json!({"currentPassword": edsger.password, "newPassword": "an entirely new password"});
    let changed = app.post_as(&edsger.token, "/api/auth/change-password", &change).await.expect(200).clone();
    assert_eq!(token_works(&app, &edsger, &bob).await, ended(), "the changing session");
    assert_eq!(token_works(&app, &phone, &bob).await, ended(), "another device");
    let fresh = User { token: changed["token"].as_str().unwrap().to_owned(), ..edsger.clone() };
    assert_eq!(token_works(&app, &fresh, &bob).await, Ok(()), "the session the change started");

    // A reset by mail ends every session.
    let (barbara, _) = app.funded(10_000).await;
    assert_eq!(token_works(&app, &barbara, &bob).await, Ok(()));
    app.mail_to(&barbara.email).await; // the verification mail
    app.post("/api/auth/forgot-password", &json!({"email": barbara.email})).await.expect(202);
    let token = mail_token(&app.mail_to(&barbara.email).await);
    let reset = json!({"token": token, "password": "a reset password for barbara"});
    app.post("/api/auth/reset-password", &reset).await.expect(204);
    assert_eq!(token_works(&app, &barbara, &bob).await, ended(), "after the reset");
}

/// A correctly signed token whose session or account does not exist (a token minted with a
/// leaked secret, or one from before a database was restored) is simply not live: 401
/// `session_ended` on HTTP and 4003 on the WebSocket, not the 503 of a check that failed.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_token_for_a_session_or_account_that_does_not_exist_is_refused(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    let tokens = &app.state.identity.tokens;
    let claims = tokens.verify_access(&ada.token).expect("Ada's token");
    let now = chrono::Utc::now();
    let minted = [
        ("no such session", ada.id, uuid::Uuid::now_v7()),
        ("no such account", uuid::Uuid::now_v7(), uuid::Uuid::now_v7()),
        ("another account's session", uuid::Uuid::now_v7(), claims.sid),
    ];
    for (case, user_id, session_id) in minted {
        let (token, _) = tokens.issue_access(user_id, session_id, claims.role, now).expect("issue");
        let reply = app.get_as(&token, "/api/auth/me").await;
        assert_problem(&reply, 401, "session_ended");
        assert_eq!(reply.status, 401, "{case}");
    }
    assert_eq!(app.get_as(&ada.token, "/api/auth/me").await.status, 200, "Ada's own session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_node_is_refused_at_once_on_the_other() {
    let db = TestDb::create(20).await;
    // A minute of trust in "live": only NATS can tell the second node in time.
    let options = Options::default()
        .with_nats(loopync_testkit::nats().await)
        .with_auth(|auth| auth.session_check_ttl = Duration::from_secs(60));
    let [first, second] = spawn_two_nodes(&db, options).await;
    let bob = first.signup().await;
    for round in 0..5 {
        let (ada, _) = first.funded(10_000).await;
        let laptop = first.login_ok(&ada.email, &ada.password).await;
        // The second node has checked both sessions and trusts them now.
        assert_eq!(token_works(&second, &ada, &bob).await, Ok(()), "round {round}");
        assert_eq!(token_works(&second, &laptop, &bob).await, Ok(()), "round {round}");

        first.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
        assert_eq!(
            token_works(&second, &ada, &bob).await,
            ended(),
            "round {round}: sign-out on the other node"
        );

        let change = json!({"currentPassword": ada.password, "newPassword": "an entirely new password"});
        first.post_as(&laptop.token, "/api/auth/change-password", &change).await.expect(200);
        assert_eq!(token_works(&second, &laptop, &bob).await, ended(), "round {round}: password change");
    }
    drop((first, second));
    db.drop_database().await;
}

/// Two deployments sharing one NATS cluster, told apart by `LOOPYNC_NATS_PREFIX`: an ending
/// announced in one reaches its other node at once and is never heard by the other deployment
/// (whose node here shares the database only so that the same token means something to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endings_are_heard_within_a_deployment_and_not_across_deployments() {
    let db = TestDb::create(20).await;
    let nats = loopync_testkit::nats().await;
    let options = |prefix: &str| {
        let mut options = Options::default()
            .with_nats(nats.clone())
            .with_auth(|auth| auth.session_check_ttl = Duration::from_secs(60));
        options.config.subjects = Subjects::new(prefix).expect("a valid prefix");
        options
    };
    let [first, second] = spawn_two_nodes(&db, options("acme.prod")).await;
    let elsewhere = spawn_app(&db.another_pool(5).await, options("acme.staging").without_projections()).await;
    let bob = first.signup().await;
    let (ada, _) = first.funded(10_000).await;
    for node in [&second, &elsewhere] {
        assert_eq!(token_works(node, &ada, &bob).await, Ok(()), "{}", node.addr);
    }

    first.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    assert_eq!(token_works(&second, &ada, &bob).await, ended(), "the same deployment hears the ending");
    // The other deployment never heard it: its minute of trust in "live" still runs.
    assert_eq!(token_works(&elsewhere, &ada, &bob).await, Ok(()), "another deployment heard the ending");
    drop((first, second, elsewhere));
    db.drop_database().await;
}

/// Waits until `app`'s session gate hears endings (`true`) or has noticed it cannot.
async fn until_hearing(app: &TestApp, hearing: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.identity.sessions.hearing() != hearing {
        assert!(tokio::time::Instant::now() < deadline, "the node never saw hearing = {hearing}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_may_have_missed_an_ending_trusts_live_only_briefly() {
    let db = TestDb::create(20).await;
    let mut server = NatsServer::start().await;
    // A minute of trust while endings are heard, 300 ms for verdicts a gap may have outdated.
    let options = |nats| {
        Options::default().with_nats(nats).with_auth(|auth| {
            auth.session_check_ttl = Duration::from_secs(60);
            auth.session_check_unheard_ttl = Duration::from_millis(300);
        })
    };
    let first = spawn_app(&db.pool, options(server.client().await)).await;
    let second_pool = db.another_pool(20).await;
    let second =
        spawn_app(&second_pool, Options { projections: false, ..options(server.client().await) }).await;
    until_hearing(&second, true).await;
    let bob = first.signup().await;
    let (ada, _) = first.funded(10_000).await;
    assert_eq!(token_works(&second, &ada, &bob).await, Ok(()), "checked, trusted for a minute");

    server.kill();
    until_hearing(&second, false).await;
    // The sign-out answers although its announcement cannot go out, and cannot reach the
    // second node: only the second node's shorter trust ends the session there.
    let started = tokio::time::Instant::now();
    first.call(Method::POST, "/api/auth/logout", Some(&ada.token), None, None).await.expect(204);
    assert!(started.elapsed() < Duration::from_secs(5), "a sign-out hung on the outage");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(token_works(&second, &ada, &bob).await, ended(), "past the unheard trust");

    // Back: the gap is noticed and hearing resumes.
    server.restart().await;
    until_hearing(&second, true).await;
    let (grace, _) = first.funded(10_000).await;
    assert_eq!(token_works(&second, &grace, &bob).await, Ok(()));
    drop((first, second));
    db.drop_database().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_session_that_cannot_be_checked_is_refused_not_trusted(pool: PgPool) {
    // No trust in "live": every request asks the event store.
    let options = Options::default().with_auth(|auth| auth.session_check_ttl = Duration::ZERO);
    let app = spawn_app(&pool, options).await;
    let ada = app.signup().await;
    assert_eq!(app.get_as(&ada.token, "/api/auth/me").await.status, 200);

    sqlx::query("ALTER TABLE events RENAME TO events_away").execute(&pool).await.unwrap();
    let reply = app.get_as(&ada.token, "/api/auth/me").await;
    assert_problem(reply, 503, "service_unavailable");
    sqlx::query("ALTER TABLE events_away RENAME TO events").execute(&pool).await.unwrap();
    assert_eq!(app.get_as(&ada.token, "/api/auth/me").await.status, 200);
}
