//! Sign-in by phone: codes by SMS, cooldowns, wrong guesses, sign-up and sign-in.

use loopync_testkit::{
    Options, Reply, TestApp, assert_invalid_field, assert_problem, event_count, expect_status, sms_code,
    spawn_app, string, uuid,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// A number no other test uses: `+44 7700 9` and six digits from a fresh uuid.
fn phone_number() -> String {
    let digits: String = uuid::Uuid::now_v7().as_u128().to_string().chars().rev().take(6).collect();
    format!("+4477009{digits}")
}

async fn send_code(app: &TestApp, phone: &str) -> Reply {
    app.post("/api/auth/send-code", &json!({"phoneNumber": phone})).await
}

async fn verify(app: &TestApp, body: Value) -> Reply {
    app.post("/api/auth/verify-phone", &body).await
}

/// Another six-digit code than `code`.
fn other_code(code: &str, n: u32) -> String {
    let value: u32 = code.parse().expect("a numeric code");
    format!("{:06}", (value + n) % 1_000_000)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn codes_are_sent_to_valid_numbers_only_and_not_again_within_the_cooldown(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let before = event_count(&pool).await;
    for invalid in ["", "12345", "+0123456789", "+12 34", "+1234567890123456", "phone", "+44abc7946095"] {
        assert_invalid_field(send_code(&app, invalid).await, "phoneNumber");
    }
    assert_invalid_field(app.post("/api/auth/send-code", &json!({})).await, "phoneNumber");
    assert_eq!(event_count(&pool).await, before, "nothing written");
    assert!(app.sms.messages().is_empty());

    // Spaces, dashes and parentheses are dropped: the SMS goes to the E.164 form.
    let body = expect_status(send_code(&app, "+44 (20) 7946-0958").await, 202);
    assert_eq!(body["expiresIn"], 300);
    assert_eq!(body["resendAfter"], 60);
    let sms = app.sms_to("+442079460958").await;
    sms_code(&sms);

    // Again within the cooldown, written either way.
    for form in ["+442079460958", "+44 20 7946 0958"] {
        let response = send_code(&app, form).await;
        let retry_after =
            response.header("retry-after").and_then(|v| v.parse::<u64>().ok()).expect("no Retry-After");
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_problem(response, 429, "code_cooldown");
    }
    assert_eq!(app.sms.messages().len(), 1, "no second SMS");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn wrong_codes_are_counted_and_the_sixth_guess_is_refused_even_if_right(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let phone = phone_number();

    // No code asked for yet.
    let response = verify(&app, json!({"phoneNumber": phone, "code": "123456"})).await;
    assert_problem(response, 400, "no_code_pending");

    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);

    // Malformed codes are not guesses.
    for malformed in ["12345", "abcdef", ""] {
        assert_invalid_field(verify(&app, json!({"phoneNumber": phone, "code": malformed})).await, "code");
    }
    for attempt in 1..=5 {
        let response = verify(&app, json!({"phoneNumber": phone, "code": other_code(&code, attempt)})).await;
        let body = assert_problem(response, 400, "invalid_code");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(&format!("{} attempts left", 5 - attempt))),
            "{body}"
        );
    }
    let response = verify(&app, json!({"phoneNumber": phone, "code": code})).await;
    assert_problem(response, 400, "too_many_attempts");
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 0);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_code_signs_up_a_new_number_then_signs_the_same_user_in(pool: PgPool) {
    let app =
        spawn_app(&pool, Options::default().with_auth(|auth| auth.code_resend_after = Duration::ZERO)).await;
    let phone = phone_number();

    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let response = verify(&app, json!({"phoneNumber": phone, "code": other_code(&code, 1)})).await;
    assert_problem(response, 400, "invalid_code");
    let response =
        verify(&app, json!({"phoneNumber": phone, "code": code, "name": "Ada", "handle": "Ada_Phone"})).await;
    assert!(response.header("loopync-position").is_some());
    let first = expect_status(response, 200);
    assert_eq!(first["isNewUser"], true);
    assert_eq!(first["tokenType"], "Bearer");
    let user_id = uuid(&first["user"]["id"]);
    assert_eq!(first["user"]["phoneNumber"], phone.as_str());
    assert_eq!(first["user"]["handle"], "ada_phone");
    assert_eq!(first["user"]["name"], "Ada");
    assert!(first["user"]["email"].is_null());
    let me = expect_status(app.get_as(&string(&first["token"]), "/api/auth/me").await, 200);
    assert_eq!(uuid(&me["id"]), user_id);
    expect_status(app.refresh(&string(&first["refreshToken"])).await, 200);

    // The code is used up.
    let response = verify(&app, json!({"phoneNumber": phone, "code": code})).await;
    assert_problem(response, 400, "no_code_pending");

    // A second code signs the same account in.
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let response = verify(&app, json!({"phoneNumber": phone, "code": code, "handle": "ignored_now"})).await;
    let second = expect_status(response, 200);
    assert_eq!(second["isNewUser"], false);
    assert_eq!(uuid(&second["user"]["id"]), user_id);
    assert_eq!(second["user"]["handle"], "ada_phone", "an existing account keeps its handle");
    assert_ne!(second["sessionId"], first["sessionId"]);
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 1);

    // Without a handle, a new number gets a generated one.
    let other = phone_number();
    expect_status(send_code(&app, &other).await, 202);
    let code = sms_code(&app.sms_to(&other).await);
    let body = expect_status(verify(&app, json!({"phoneNumber": other, "code": code})).await, 200);
    let handle = string(&body["user"]["handle"]);
    assert!(handle.starts_with("user_") && handle.len() == 17, "{handle}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_taken_handle_on_a_phone_sign_up_is_409(pool: PgPool) {
    let app =
        spawn_app(&pool, Options::default().with_auth(|auth| auth.code_resend_after = Duration::ZERO)).await;
    app.signup_named("ada@example.com", "ada").await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);

    // An invalid handle is checked before the code is (it does not use the code up).
    let response = verify(&app, json!({"phoneNumber": phone, "code": code, "handle": "a-b"})).await;
    assert_invalid_field(response, "handle");

    let response = verify(&app, json!({"phoneNumber": phone, "code": code, "handle": "ADA"})).await;
    assert_problem(response, 409, "handle_taken");
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 1);
}

/// After `handle_taken`, the user picks another handle and enters the same code: it should
/// still work (the handle was refused, not the code).
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_taken_handle_does_not_use_the_code_up(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    app.signup_named("ada@example.com", "ada").await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let response = verify(&app, json!({"phoneNumber": phone, "code": code, "handle": "ada"})).await;
    assert_problem(response, 409, "handle_taken");
    let response = verify(&app, json!({"phoneNumber": phone, "code": code, "handle": "ada_phone"})).await;
    let body = expect_status(response, 200);
    assert_eq!(body["isNewUser"], true);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_expired_code_is_code_expired(pool: PgPool) {
    let app =
        spawn_app(&pool, Options::default().with_auth(|auth| auth.code_ttl = Duration::from_secs(1))).await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = verify(&app, json!({"phoneNumber": phone, "code": code})).await;
    assert_problem(response, 400, "code_expired");
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 0);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_wrong_guesses_are_each_counted(pool: PgPool) {
    // The code's own count of guesses; the number's hourly count is `abuse.rs`'s.
    let app = spawn_app(&pool, Options::default().with_auth(|auth| auth.code_failures_per_phone = 0)).await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let guesses = (1..=12).map(|n| {
        let body = json!({"phoneNumber": phone, "code": other_code(&code, n)});
        let app = &app;
        async move { verify(app, body).await }
    });
    let mut wrong = 0;
    for response in futures::future::join_all(guesses).await {
        let body = response.body;
        match body["code"].as_str() {
            Some("invalid_code") => wrong += 1,
            Some("too_many_attempts") => {}
            _ => panic!("unexpected answer {body}"),
        }
    }
    assert_eq!(wrong, 5, "exactly the 5 allowed guesses were checked");
    let response = verify(&app, json!({"phoneNumber": phone, "code": code})).await;
    assert_problem(response, 400, "too_many_attempts");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_code_used_twice_at_once_creates_one_account(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let body = json!({"phoneNumber": phone, "code": code});
    let (a, b) = tokio::join!(verify(&app, body.clone()), verify(&app, body.clone()));
    let mut created = 0;
    for response in [a, b] {
        if response.status == 200 {
            created += 1;
        } else {
            assert_problem(response, 400, "no_code_pending");
        }
    }
    assert_eq!(created, 1);
    assert_eq!(loopync_testkit::events_of_type(&pool, "account.registered").await, 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_code_requests_send_one_sms(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let phone = phone_number();
    let sends = (0..5).map(|_| send_code(&app, &phone));
    let mut sent = 0;
    for response in futures::future::join_all(sends).await {
        if response.status == 202 {
            sent += 1;
        } else {
            assert_problem(response, 429, "code_cooldown");
        }
    }
    assert_eq!(sent, 1);
    app.sms_to(&phone).await;
    assert_eq!(app.sms.messages().len(), 1);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_phone_account_has_no_password_to_change(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let phone = phone_number();
    expect_status(send_code(&app, &phone).await, 202);
    let code = sms_code(&app.sms_to(&phone).await);
    let body = expect_status(verify(&app, json!({"phoneNumber": phone, "code": code})).await, 200);
    let token = string(&body["token"]);
    let response = app
        .post_as(
            &token,
            "/api/auth/change-password",
            &json!({"currentPassword": "anything at all", "newPassword": "a brand new password"}),
        )
        .await;
    assert_problem(response, 409, "no_password");
    // Nothing to verify either: resending is accepted and sends no mail.
    let response =
        app.call(reqwest::Method::POST, "/api/auth/resend-verification", Some(&token), None, None).await;
    assert_eq!(response.status, 202);
    assert!(app.mailer.messages().is_empty());
}
