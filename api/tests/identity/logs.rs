//! Secrets never leave in logs or answers: passwords, tokens, codes, password hashes.

use loopync_testkit::{Options, TestApp, logs, mail_token, sms_code, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// What answers must never contain.
const HASH_MARKERS: [&str; 5] = ["passwordHash", "password_hash", "$2b$", "$2a$", "$2y$"];

/// Sends a request, checks its answer has no hash in it, returns status and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let response = app.call(method, path, token, body, None).await;
    for marker in HASH_MARKERS {
        assert!(!response.text.contains(marker), "{marker} in the answer to {path}: {}", response.text);
    }
    (response.status, response.body)
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_else(|| panic!("{key} in {value}")).to_owned()
}

/// Whether `code` occurs in `haystack` as a whole number (not inside a longer run of digits).
fn contains_number(haystack: &str, code: &str) -> bool {
    haystack.match_indices(code).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn no_password_token_or_code_is_logged_or_answered(pool: PgPool) {
    // Captured before the app serves: a log that was never captured would hide every secret.
    let app = spawn_app(&pool, Options { capture_logs: true, ..Options::default() }).await;
    let password = "first secret password";
    let reset_password = "second secret password";
    let changed_password = "third secret password";
    let mut secrets: Vec<String> = vec![password.into(), reset_password.into(), changed_password.into()];

    // Sign up, sign in, a failed sign-in, refresh.
    let (status, signup) = call(
        &app,
        Method::POST,
        "/api/auth/signup",
        None,
        Some(&json!({"email": "ada@example.com", "password": password, "name": "Ada", "handle": "ada"})),
    )
    .await;
    assert_eq!(status, 201, "{signup}");
    secrets.extend([text(&signup, "token"), text(&signup, "refreshToken")]);
    let login_body = json!({"email": "ada@example.com", "password": password});
    let (status, login) = call(&app, Method::POST, "/api/auth/login", None, Some(&login_body)).await;
    assert_eq!(status, 200);
    secrets.extend([text(&login, "token"), text(&login, "refreshToken")]);
    let wrong = json!({"email": "ada@example.com", "password": "wrong secret password"});
    secrets.push("wrong secret password".into());
    assert_eq!(call(&app, Method::POST, "/api/auth/login", None, Some(&wrong)).await.0, 401);
    let (status, refreshed) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        None,
        Some(&json!({"refreshToken": text(&login, "refreshToken")})),
    )
    .await;
    assert_eq!(status, 200);
    secrets.extend([text(&refreshed, "token"), text(&refreshed, "refreshToken")]);
    // A reuse, which is logged as a warning: the warning must not carry the token.
    let reuse = json!({"refreshToken": text(&login, "refreshToken")});
    assert_eq!(call(&app, Method::POST, "/api/auth/refresh", None, Some(&reuse)).await.0, 401);

    // Verify the address.
    let verification = mail_token(&app.mail_to("ada@example.com").await);
    secrets.push(verification.clone());
    let (status, _) =
        call(&app, Method::POST, "/api/auth/verify-email", None, Some(&json!({"token": verification}))).await;
    assert_eq!(status, 204);

    // Forgot and reset.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/forgot-password",
        None,
        Some(&json!({"email": "ada@example.com"})),
    )
    .await;
    assert_eq!(status, 202);
    let reset = mail_token(&app.mail_to("ada@example.com").await);
    secrets.push(reset.clone());
    let body = json!({"token": reset, "password": reset_password});
    assert_eq!(call(&app, Method::POST, "/api/auth/reset-password", None, Some(&body)).await.0, 204);
    assert_eq!(call(&app, Method::POST, "/api/auth/reset-password", None, Some(&body)).await.0, 401);

    // Change the password.
    let login_body = json!({"email": "ada@example.com", "password": reset_password});
    let (status, login) = call(&app, Method::POST, "/api/auth/login", None, Some(&login_body)).await;
    assert_eq!(status, 200);
    secrets.extend([text(&login, "token"), text(&login, "refreshToken")]);
    let body = json!({"currentPassword": reset_password, "newPassword": changed_password});
    let (status, changed) =
        call(&app, Method::POST, "/api/auth/change-password", Some(&text(&login, "token")), Some(&body))
            .await;
    assert_eq!(status, 200, "{changed}");
    secrets.extend([text(&changed, "token"), text(&changed, "refreshToken")]);
    let token = text(&changed, "token");
    for path in ["/api/auth/me", "/api/users/me"] {
        assert_eq!(call(&app, Method::GET, path, Some(&token), None).await.0, 200, "{path}");
    }

    // A phone sign-up, with a wrong guess first.
    let phone = "+442079460958";
    let (status, _) =
        call(&app, Method::POST, "/api/auth/send-code", None, Some(&json!({"phoneNumber": phone}))).await;
    assert_eq!(status, 202);
    let code = sms_code(&app.sms_to(phone).await);
    let wrong_code = format!("{:06}", (code.parse::<u32>().expect("a numeric code") + 1) % 1_000_000);
    let body = json!({"phoneNumber": phone, "code": wrong_code});
    assert_eq!(call(&app, Method::POST, "/api/auth/verify-phone", None, Some(&body)).await.0, 400);
    let body = json!({"phoneNumber": phone, "code": code});
    let (status, phone_user) = call(&app, Method::POST, "/api/auth/verify-phone", None, Some(&body)).await;
    assert_eq!(status, 200);
    secrets.extend([text(&phone_user, "token"), text(&phone_user, "refreshToken")]);

    // Opaque tokens: their secret half is the secret (the id half is a public uuid).
    let mut needles: Vec<String> = Vec::new();
    for secret in &secrets {
        needles.push(secret.clone());
        if let Some((_, half)) = secret.split_once('.')
            && half.len() == 43
        {
            needles.push(half.to_owned());
        }
        // A JWT's signature alone.
        if secret.matches('.').count() == 2
            && let Some(signature) = secret.rsplit('.').next()
        {
            needles.push(signature.to_owned());
        }
    }

    let captured = logs().text();
    let lines = logs().lines();
    assert!(
        lines.iter().any(|line| line.to_string().contains("/api/auth/signup")),
        "the capture works: the sign-up's access log line is there"
    );
    for needle in &needles {
        assert!(!captured.contains(needle.as_str()), "a secret is in the logs: {needle}");
    }
    for marker in HASH_MARKERS {
        assert!(!captured.contains(marker), "{marker} in the logs");
    }
    assert!(!contains_number(&captured, &code), "the SMS code {code} is in the logs");
    assert!(!captured.contains("is your Loopync code"), "an SMS text is in the logs");
    assert!(!captured.contains("?token="), "a mail link is in the logs");
    assert!(!captured.to_lowercase().contains("bearer ey"), "an authorization header is in the logs");
}
