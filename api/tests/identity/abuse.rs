//! What sends or checks a secret has limits every node shares: mail and SMS per recipient,
//! wrong codes per phone number across codes, a bounded queue for bcrypt with the cheap checks
//! before it, and `verify-phone` answering the same whether or not a number is registered.

use loopync_testkit::{Options, TestApp, assert_problem, expect_status, mail_token, sms_code, spawn_app};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

/// A number no other test uses.
fn phone_number() -> String {
    let digits: String = uuid::Uuid::now_v7().as_u128().to_string().chars().rev().take(6).collect();
    format!("+4477008{digits}")
}

fn mails_to(app: &TestApp, to: &str) -> usize {
    app.mailer.messages().iter().filter(|mail| mail.to == to).count()
}

/// Waits until `count` mails reached `to` (they leave in the background), then a moment more
/// for any that should not come.
async fn settle_mails(app: &TestApp, to: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mails_to(app, to) < count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn mail_to_one_address_is_capped_whoever_asks(pool: PgPool) {
    let app = spawn_app(&pool, Options::default().with_auth(|auth| auth.mail_per_recipient = 2)).await;

    // Verification mails: the sign-up's own mail does not count; two resends do.
    let ada = app.signup_named("ada@example.com", "ada").await;
    let resend = || app.call(Method::POST, "/api/auth/resend-verification", Some(&ada.token), None, None);
    assert_eq!(resend().await.status, 202);
    assert_eq!(resend().await.status, 202);
    let refused = resend().await;
    assert!(refused.header("retry-after").is_some());
    assert_problem(refused, 429, "rate_limited");
    settle_mails(&app, "ada@example.com", 3).await;
    assert_eq!(mails_to(&app, "ada@example.com"), 3, "the sign-up's mail and two resends");

    // Reset mails, counted apart, and the same for an address without an account: the 429
    // says nothing about whether it has one.
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            expect_status(app.post("/api/auth/forgot-password", &json!({"email": email})).await, 202);
        }
        assert_problem(
            app.post("/api/auth/forgot-password", &json!({"email": email})).await,
            429,
            "rate_limited",
        );
    }
    // Other spellings of the address are the same recipient.
    assert_problem(
        app.post("/api/auth/forgot-password", &json!({"email": "  ADA@example.com"})).await,
        429,
        "rate_limited",
    );
    settle_mails(&app, "ada@example.com", 5).await;
    assert_eq!(mails_to(&app, "ada@example.com"), 5, "two reset mails more");
    assert_eq!(mails_to(&app, "nobody@example.com"), 0);
    // Another address has its own budget.
    expect_status(app.post("/api/auth/forgot-password", &json!({"email": "grace@example.com"})).await, 202);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn sms_codes_to_one_number_are_capped(pool: PgPool) {
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.codes_per_phone = 2;
            auth.code_resend_after = Duration::ZERO;
        }),
    )
    .await;
    let phone = phone_number();
    for _ in 0..2 {
        expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await, 202);
    }
    let refused = app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await;
    assert_problem(refused, 429, "rate_limited");
    assert_eq!(app.sms.messages().iter().filter(|sms| sms.to == phone).count(), 2);
    expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": phone_number()})).await, 202);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn wrong_codes_count_per_number_across_new_codes(pool: PgPool) {
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.code_failures_per_phone = 3;
            auth.code_resend_after = Duration::ZERO;
        }),
    )
    .await;
    let phone = phone_number();
    let app = &app;
    let verify = |code: String| {
        let body = json!({"phoneNumber": phone, "code": code});
        async move { app.post("/api/auth/verify-phone", &body).await }
    };
    let wrong = |code: &str| format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await, 202);
    let first = sms_code(&app.sms_to(&phone).await);
    for _ in 0..2 {
        assert_problem(verify(wrong(&first)).await, 400, "invalid_code");
    }
    // A new code brings no new guesses.
    expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await, 202);
    let second = sms_code(&app.sms_to(&phone).await);
    assert_problem(verify(wrong(&second)).await, 400, "invalid_code");
    let refused = verify(second.clone()).await;
    assert!(refused.header("retry-after").is_some());
    assert_problem(refused, 429, "rate_limited");
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 0, "even the right code");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn verify_phone_answers_alike_for_registered_and_unregistered_numbers(pool: PgPool) {
    let app =
        spawn_app(&pool, Options::default().with_auth(|auth| auth.code_resend_after = Duration::ZERO)).await;
    app.signup_named("ada@example.com", "ada").await;
    // A registered number: its account exists.
    let registered = phone_number();
    expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": registered})).await, 202);
    let code = sms_code(&app.sms_to(&registered).await);
    let body = json!({"phoneNumber": registered, "code": code, "handle": "grace_phone"});
    expect_status(app.post("/api/auth/verify-phone", &body).await, 200);
    let unregistered = phone_number();

    // Someone who knows a handle tries both numbers with any code.
    let mut answers = Vec::new();
    for phone in [&registered, &unregistered] {
        expect_status(app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await, 202);
        let body = json!({"phoneNumber": phone, "code": "000000", "handle": "ada"});
        let reply = app.post("/api/auth/verify-phone", &body).await;
        answers.push((reply.status, reply.body["code"].clone()));
    }
    assert_eq!(answers[0], answers[1], "the answer must not tell which number is registered");
    assert_eq!(answers[0], (409, json!("handle_taken")));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_full_bcrypt_queue_is_503_and_cheap_refusals_never_join_it(pool: PgPool) {
    // bcrypt at cost 13 (about half a second a hash here) and no queue at all: while every
    // core hashes, another password check is refused at once.
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.bcrypt_cost = 13;
            auth.bcrypt_max_waiting = 0;
        }),
    )
    .await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    app.post("/api/auth/forgot-password", &json!({"email": "ada@example.com"})).await.expect(202);
    let _verification = app.mail_to("ada@example.com").await;
    let reset_token = mail_token(&app.mail_to("ada@example.com").await);

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let busy: Vec<_> = (0..cores * 2)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/auth/login"));
            let body = json!({"email": "ada@example.com", "password": "not the password"});
            tokio::spawn(
                async move { client.post(url).json(&body).send().await.map(|r| r.status().as_u16()) },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Cheap refusals answer without a core: not an address, an impossible password, a
    // reset token that is not the account's.
    let not_an_address =
        app.post("/api/auth/login", &json!({"email": "not-an-address", "password": "whatever1"})).await;
    assert_problem(not_an_address, 401, "invalid_credentials");
    let too_short =
        app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "short"})).await;
    assert_problem(too_short, 401, "invalid_credentials");
    let wrong_token = format!("{}.{}", ada.id, "A".repeat(43));
    let reset = json!({"token": wrong_token, "password": "a brand new password"});
    assert_problem(app.post("/api/auth/reset-password", &reset).await, 401, "invalid_token");

    let mut statuses: Vec<u16> = Vec::new();
    for task in busy {
        statuses.push(task.await.unwrap().unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 503), "only wrong passwords or busy: {statuses:?}");
    assert!(statuses.contains(&503), "twice the cores at once, no queue: some were refused: {statuses:?}");
    assert!(statuses.contains(&401), "and the others were checked: {statuses:?}");

    // Afterwards the real token still works.
    let reset = json!({"token": reset_token, "password": "a brand new password"});
    assert_eq!(app.post("/api/auth/reset-password", &reset).await.status, 204);
}
