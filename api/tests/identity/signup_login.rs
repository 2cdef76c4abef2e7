//! Sign-up and sign-in: answers, normalisation, validation, races, vague failures, lockouts.

use futures::future::join_all;
use loopync_testkit::{
    Options, PASSWORD, Reply, TEST_BODY_LIMIT, assert_invalid_field, assert_problem, error_fields,
    event_count, events_of_type, expect_status, spawn_app, string, unique,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// Fails if any password material is in `text`: the hash field, bcrypt hashes, the password.
fn assert_no_password_material(text: &str, password: &str) {
    for needle in ["passwordHash", "password_hash", "$2b$", "$2a$", "$2y$", password] {
        assert!(!text.contains(needle), "{needle:?} in {text}");
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn signup_answers_201_with_tokens_and_the_user_but_no_password(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let response = app
        .post(
            "/api/auth/signup",
            &json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada Lovelace", "handle": "@Ada_L"}),
        )
        .await;
    assert_eq!(response.status, 201);
    assert!(response.header("loopync-position").is_some(), "a command answers its position");
    assert!(
        response.header("content-type").is_some_and(|t| t.starts_with("application/json")),
        "content type"
    );
    let text = response.text.clone();
    assert_no_password_material(&text, PASSWORD);
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));

    assert_eq!(body["tokenType"], "Bearer");
    let token = string(&body["token"]);
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let refresh = string(&body["refreshToken"]);
    let (session, secret) = refresh.split_once('.').unwrap_or_else(|| panic!("opaque token {refresh}"));
    assert_eq!(session, string(&body["sessionId"]), "the refresh token names its session");
    assert_eq!(secret.len(), 43);
    assert!(body["expiresIn"].as_i64().is_some_and(|s| (800..=900).contains(&s)), "{body}");

    let user = &body["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["handle"], "ada_l", "handles lose the @ and are lowercased");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["role"], "user");
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none(), "{user}");

    // The token works on both "me" endpoints, which show the same user.
    for path in ["/api/auth/me", "/api/users/me"] {
        let me = expect_status(app.get_as(&token, path).await, 200);
        assert_eq!(&me, user, "{path}");
        assert_no_password_material(&me.to_string(), PASSWORD);
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn emails_are_normalised_and_login_ignores_their_case(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let signup = app
        .post(
            "/api/auth/signup",
            &json!({"email": "  Ada@Example.COM ", "password": PASSWORD, "name": "Ada", "handle": "ada"}),
        )
        .await;
    let body = expect_status(signup, 201);
    assert_eq!(body["user"]["email"], "ada@example.com");
    let id = string(&body["user"]["id"]);

    for email in ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.Com  "] {
        let response = app.login(email, PASSWORD).await;
        assert!(response.header("loopync-position").is_some());
        let login = expect_status(response, 200);
        assert_eq!(string(&login["user"]["id"]), id, "{email}");
        let me = expect_status(app.get_as(&string(&login["token"]), "/api/users/me").await, 200);
        assert_eq!(me["email"], "ada@example.com");
        assert_ne!(login["refreshToken"], body["refreshToken"], "a new session per login");
    }

    // The same address in another case is the same account.
    let again = app
        .post(
            "/api/auth/signup",
            &json!({"email": "ADA@example.com", "password": PASSWORD, "name": "Ada", "handle": "ada2"}),
        )
        .await;
    assert_problem(again, 409, "email_taken");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn invalid_signups_are_400_naming_the_field_and_write_nothing(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    // Something already in the store, so "nothing written" is a count that could move.
    app.signup_named("first@example.com", "first").await;
    let before = event_count(&pool).await;
    let valid = json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "handle": "ada"});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };

    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("missing fields", json!({"email": "ada@example.com"}), vec!["password", "name", "handle"]),
        ("empty object", json!({}), vec!["email", "password", "name", "handle"]),
        ("extra field", with("role", json!("admin")), vec!["role"]),
        ("password of the wrong type", with("password", json!(true)), vec!["password"]),
        ("handle of the wrong type", with("handle", json!(["ada"])), vec!["handle"]),
        ("name of the wrong type", with("name", json!({"first": "Ada"})), vec!["name"]),
        ("null email", with("email", Value::Null), vec!["email"]),
        ("invalid email", with("email", json!("not-an-email")), vec!["email"]),
        ("email without a dot in the domain", with("email", json!("ada@example")), vec!["email"]),
        ("email too long", with("email", json!(format!("{}@example.com", "a".repeat(300)))), vec!["email"]),
        ("handle too short", with("handle", json!("ab")), vec!["handle"]),
        ("handle with a dash", with("handle", json!("ada-l")), vec!["handle"]),
        ("handle too long", with("handle", json!("a".repeat(31))), vec!["handle"]),
        ("password too short", with("password", json!("1234567")), vec!["password"]),
        ("password too long", with("password", json!("p".repeat(129))), vec!["password"]),
        ("password is the email", with("password", json!("ADA@example.com")), vec!["password"]),
        ("empty name", with("name", json!("")), vec!["name"]),
        ("blank name", with("name", json!("   ")), vec!["name"]),
        ("name too long", with("name", json!("n".repeat(81))), vec!["name"]),
    ];
    for (case, body, fields) in cases {
        let response = app.post("/api/auth/signup", &body).await;
        let problem = assert_problem(response, 400, "invalid_request");
        let named = error_fields(&problem);
        for field in fields {
            assert!(named.iter().any(|f| f == field), "{case}: {field:?} not in {named:?}: {problem}");
        }
        assert_eq!(event_count(&pool).await, before, "{case}: nothing is written");
    }

    for (case, text) in [("not JSON", "{\"email\": "), ("empty body", ""), ("a JSON array", "[]")] {
        let response = app.post_raw(None, "/api/auth/signup", text, None).await;
        assert_problem(response, 400, "invalid_request");
        assert_eq!(event_count(&pool).await, before, "{case}: nothing is written");
    }

    // A body over the limit is 413 before it is parsed.
    let oversize = with("name", json!("n".repeat(TEST_BODY_LIMIT + 1)));
    let response = app.post("/api/auth/signup", &oversize).await;
    assert_problem(response, 413, "payload_too_large");
    assert_eq!(event_count(&pool).await, before, "oversize: nothing is written");

    // None of the refusals claimed the email or the handle.
    expect_status(app.post("/api/auth/signup", &valid).await, 201);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_invalid_field_is_named_at_once_with_its_code_in_plain_words(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let body = json!({"email": "not-an-email", "password": "short", "name": " ", "handle": "a-b"});
    let problem = assert_problem(app.post("/api/auth/signup", &body).await, 400, "invalid_request");
    let codes: Vec<(String, String)> = problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (field, code) in [
        ("email", "invalid_email"),
        ("handle", "invalid_handle"),
        ("name", "invalid_name"),
        ("password", "weak_password"),
    ] {
        assert!(codes.contains(&(field.to_owned(), code.to_owned())), "{field} {code} not in {problem}");
    }
    for error in problem["errors"].as_array().into_iter().flatten() {
        assert!(
            !error["message"].as_str().unwrap_or_default().contains('('),
            "no code in the message: {error}"
        );
    }

    // The framework's own words never reach the client.
    let user = app.signup_named("ada@example.com", "ada").await;
    let path = format!("/api/users/{}/settings", user.id);
    let body = json!({"privacy": null, "notifications": true, "darkMode": "yes"});
    let response = app.put_as(&user.token, &path, &body).await;
    let problem = assert_problem(response, 400, "invalid_request");
    assert_eq!(error_fields(&problem), ["privacy", "darkMode"], "{problem}");
    assert!(!problem.to_string().contains("Expected input type"), "{problem}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn ten_concurrent_signups_with_one_email_let_exactly_one_win(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let signups = (0..10).map(|i| {
        let body = json!({
            "email": if i % 2 == 0 { "race@example.com" } else { "RACE@Example.com" },
            "password": PASSWORD,
            "name": "Racer",
            "handle": format!("racer{i}"),
        });
        let app = &app;
        async move { app.post("/api/auth/signup", &body).await }
    });
    let responses = join_all(signups).await;
    let mut winners = Vec::new();
    let mut taken = 0;
    for response in responses {
        match response.status {
            201 => winners.push(response.body),
            _ => {
                assert_problem(response, 409, "email_taken");
                taken += 1;
            }
        }
    }
    assert_eq!((winners.len(), taken), (1, 9));
    assert_eq!(events_of_type(&pool, "account.registered").await, 1);
    assert_eq!(winners[0]["user"]["email"], "race@example.com");

    // The losers' handles were not claimed: each is free for someone else.
    let winning_handle = string(&winners[0]["user"]["handle"]);
    let loser = (0..10).map(|i| format!("racer{i}")).find(|h| *h != winning_handle).expect("a losing handle");
    app.signup_named("someone@example.com", &loser).await;
    assert_eq!(events_of_type(&pool, "account.registered").await, 2);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn ten_concurrent_signups_with_one_handle_in_any_case_let_exactly_one_win(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let signups = (0..10).map(|i| {
        let body = json!({
            "email": format!("racer{i}@example.com"),
            "password": PASSWORD,
            "name": "Racer",
            "handle": if i % 2 == 0 { "Ada" } else { "ada" },
        });
        let app = &app;
        async move { app.post("/api/auth/signup", &body).await }
    });
    let responses = join_all(signups).await;
    let mut winner = None;
    let mut taken = 0;
    for (i, response) in responses.into_iter().enumerate() {
        match response.status {
            201 => {
                assert!(winner.is_none(), "two winners");
                winner = Some(i);
            }
            _ => {
                assert_problem(response, 409, "handle_taken");
                taken += 1;
            }
        }
    }
    assert_eq!(taken, 9);
    assert_eq!(events_of_type(&pool, "account.registered").await, 1);

    // A loser's email was not claimed: it can sign up with another handle.
    let loser = (0..10).find(|i| Some(*i) != winner).expect("a loser");
    app.signup_named(&format!("racer{loser}@example.com"), "ada_second").await;
    // And the winner's handle stays taken, in any case.
    let again = app
        .post(
            "/api/auth/signup",
            &json!({"email": "late@example.com", "password": PASSWORD, "name": "Late", "handle": "ADA"}),
        )
        .await;
    assert_problem(again, 409, "handle_taken");
}

/// The answer to a failed login, without what differs between any two requests.
async fn comparable_problem(response: Reply) -> Value {
    let mut body = assert_problem(response, 401, "invalid_credentials");
    if let Some(object) = body.as_object_mut() {
        object.remove("requestId");
        object.remove("instance");
    }
    body
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    app.signup_named("ada@example.com", "ada").await;
    let wrong_password = comparable_problem(app.login("ada@example.com", "not the password").await).await;
    let unknown_email = comparable_problem(app.login("nobody@example.com", PASSWORD).await).await;
    let not_an_email = comparable_problem(app.login("nobody", PASSWORD).await).await;
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password, not_an_email);
    assert!(wrong_password.get("errors").is_none(), "no field is named: {wrong_password}");

    // A missing field is a malformed request, not a failed login.
    let missing = app.post("/api/auth/login", &json!({"email": "ada@example.com"})).await;
    assert_invalid_field(missing, "password");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// An unknown email verifies the password against a dummy hash of the same cost, so it takes
/// as long as a wrong password. Cost 8 here (not 4): at cost 4 a bcrypt takes about as long
/// as the database round trips, and a missing dummy hash would hide in the noise.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_unknown_email_takes_as_long_as_a_wrong_password(pool: PgPool) {
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.bcrypt_cost = 8;
            auth.failed_login_limit = 1000;
        }),
    )
    .await;
    app.signup_named("ada@example.com", "ada").await;
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(email, "not the password").await;
            let elapsed = started.elapsed();
            assert_eq!(response.status, 401);
            elapsed
        }
    };
    // Warm up connections and caches first; then interleave, so load affects both alike.
    timed("ada@example.com").await;
    timed("nobody@example.com").await;
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        wrong.push(timed("ada@example.com").await);
        unknown.push(timed("nobody@example.com").await);
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    assert!(
        unknown.as_secs_f64() >= 0.5 * wrong.as_secs_f64(),
        "unknown email median {unknown:?} vs wrong password median {wrong:?}"
    );
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn five_failed_logins_lock_the_address_but_not_other_addresses(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let grace = app.signup_named("grace@example.com", "grace").await;
    for attempt in 1..=5 {
        let response = app.login("ada@example.com", &format!("wrong password {attempt}")).await;
        assert_problem(response, 401, "invalid_credentials");
    }
    // Even the right password is refused now, in any case of the address.
    for email in ["ada@example.com", "ADA@example.com"] {
        let response = app.login(email, &ada.password).await;
        let retry_after =
            response.header("retry-after").and_then(|v| v.parse::<u64>().ok()).expect("no Retry-After");
        assert!((1..=15 * 60).contains(&retry_after), "Retry-After {retry_after}");
        assert_problem(response, 429, "rate_limited");
    }
    // Another address is not affected.
    let response = app.login("grace@example.com", &grace.password).await;
    expect_status(response, 200);
    let body = app.login("grace@example.com", "wrong").await.body;
    assert_eq!(body["code"], "invalid_credentials");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_successful_login_clears_earlier_failures(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let email = format!("{}@example.com", unique());
    let user = app.signup_named(&email, "ada").await;
    for _ in 0..4 {
        assert_problem(app.login(&email, "wrong password").await, 401, "invalid_credentials");
    }
    app.login_ok(&email, &user.password).await;
    for _ in 0..4 {
        assert_problem(app.login(&email, "wrong password").await, 401, "invalid_credentials");
    }
    app.login_ok(&email, &user.password).await;
}

/// Guesses sent at once must not get more than the limit's worth of password checks: the
/// lockout's check and its count of failures are not one atomic step.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_wrong_passwords_cannot_exceed_the_lockout_limit(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    app.signup_named("ada@example.com", "ada").await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move { app.login("ada@example.com", &format!("guess number {i}")).await }
    });
    let mut checked = 0;
    for response in join_all(guesses).await {
        match response.status {
            401 => checked += 1,
            _ => {
                assert_problem(response, 429, "rate_limited");
            }
        }
    }
    assert!(checked <= 5, "{checked} of 20 concurrent guesses had their password checked (limit 5)");
}

/// bcrypt reads only the first 72 bytes of a password; the API accepts up to 128 characters
/// (up to 512 bytes), so two long passwords with a common 72-byte start must still differ.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn passwords_differing_after_72_bytes_are_different_passwords(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let common = "p".repeat(72);
    let user = app.signup_with("ada@example.com", "ada", &format!("{common}-the-real-ending")).await;
    app.login_ok("ada@example.com", &user.password).await;
    let response = app.login("ada@example.com", &format!("{common}-another-ending")).await;
    assert_problem(response, 401, "invalid_credentials");
    // 19 four-byte characters are 76 bytes, well under 128 characters.
    let emoji = "\u{1F600}".repeat(19);
    let second = app.signup_with("grace@example.com", "grace", &format!("{emoji}a")).await;
    app.login_ok("grace@example.com", &second.password).await;
    let response = app.login("grace@example.com", &format!("{emoji}b")).await;
    assert_problem(response, 401, "invalid_credentials");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_unknown_address_is_locked_like_a_known_one(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    // Otherwise the lockout would tell which addresses have accounts.
    for _ in 0..5 {
        assert_problem(app.login("nobody@example.com", PASSWORD).await, 401, "invalid_credentials");
    }
    let response = app.login("nobody@example.com", PASSWORD).await;
    assert!(response.header("retry-after").is_some());
    assert_problem(response, 429, "rate_limited");
}
