//! Tokens: refresh rotation and reuse detection, malformed refresh tokens, and forged,
//! tampered or expired access tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use loopync_testkit::{JWT_SECRET, Options, assert_problem, expect_status, spawn_app, string, unique, uuid};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_refresh_rotates_and_a_reused_token_ends_the_whole_family(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;

    let first = expect_status(app.refresh(&user.refresh).await, 200);
    let next_refresh = string(&first["refreshToken"]);
    let next_token = string(&first["token"]);
    assert_ne!(next_refresh, user.refresh, "a new refresh token");
    assert_eq!(uuid(&first["sessionId"]), user.session_id, "the same session");
    assert_eq!(uuid(&first["user"]["id"]), user.id);
    assert_eq!(first["tokenType"], "Bearer");
    expect_status(app.get_as(&next_token, "/api/auth/me").await, 200);

    // The retired token again: a reuse, and the session ends.
    assert_problem(app.refresh(&user.refresh).await, 401, "token_reused");
    // The token the rotation handed out is refused now too: the whole family is revoked.
    assert_problem(app.refresh(&next_refresh).await, 401, "session_ended");
    assert_problem(app.refresh(&user.refresh).await, 401, "session_ended");

    // Other sessions of the account are not affected.
    let other = app.login_ok("ada@example.com", &user.password).await;
    expect_status(app.refresh(&other.refresh).await, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_refresh_chain_keeps_working_while_each_token_is_used_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let mut refresh = user.refresh.clone();
    let mut seen = vec![refresh.clone()];
    for _ in 0..5 {
        let body = expect_status(app.refresh(&refresh).await, 200);
        refresh = string(&body["refreshToken"]);
        assert!(!seen.contains(&refresh), "every rotation mints a new token");
        seen.push(refresh.clone());
    }
    // A token from the middle of the chain is a reuse.
    assert_problem(app.refresh(&seen[2]).await, 401, "token_reused");
    assert_problem(app.refresh(&refresh).await, 401, "session_ended");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn garbage_and_malformed_refresh_tokens_are_invalid_token(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let secret = "A".repeat(43);
    let cases = [
        "garbage".to_owned(),
        String::new(),
        "not.a.token".to_owned(),
        format!("{}.short", user.session_id),
        format!("{}.{}", user.session_id, "!".repeat(43)),
        format!("not-a-uuid.{secret}"),
        // Well formed, but no such session.
        format!("{}.{secret}", Uuid::now_v7()),
        // The real session, another secret: refused, and it must not end the session.
        format!("{}.{secret}", user.session_id),
    ];
    for token in &cases {
        let response = app.refresh(token).await;
        assert_problem(response, 401, "invalid_token");
    }
    // The real refresh token still works: guesses do not end a session.
    expect_status(app.refresh(&user.refresh).await, 200);

    // An access token is not a refresh token (and longer than one may be).
    let response = app.refresh(&user.token).await;
    loopync_testkit::assert_invalid_field(response, "refreshToken");
    // A missing field is malformed, not an invalid token.
    let response = app.post("/api/auth/refresh", &json!({})).await;
    loopync_testkit::assert_invalid_field(response, "refreshToken");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn two_concurrent_refreshes_with_one_token_let_at_most_one_win_and_end_the_session(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    for round in 0..3 {
        let email = format!("racer{round}-{}@example.com", unique());
        let user = app.signup_named(&email, &format!("racer{round}_{}", unique())).await;
        let (a, b) = tokio::join!(app.refresh(&user.refresh), app.refresh(&user.refresh));
        let mut winners = Vec::new();
        for response in [a, b] {
            let status = response.status;
            let body = response.body;
            match status {
                200 => winners.push(body),
                401 => assert!(
                    body["code"] == "token_reused" || body["code"] == "session_ended",
                    "the loser: {body}"
                ),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert!(winners.len() <= 1, "round {round}: both refreshes won");
        // Either way, the session is over: neither the old nor any new token refreshes.
        assert_problem(app.refresh(&user.refresh).await, 401, "session_ended");
        for winner in &winners {
            assert_problem(app.refresh(&string(&winner["refreshToken"])).await, 401, "session_ended");
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT signed by hand: HMAC-SHA-256 over `header.payload` with `key`.
fn sign_hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

fn claims(user: Uuid, session: Uuid, role: &str, issued: i64, expires: i64, issuer: &str) -> Value {
    json!({
        "sub": user, "sid": session, "role": role, "iat": issued, "exp": expires,
        "jti": Uuid::now_v7(), "iss": issuer,
    })
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn forged_tampered_and_expired_access_tokens_are_refused(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let user = app.signup_named("ada@example.com", "ada").await;
    let now = Utc::now().timestamp();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let valid_claims = claims(user.id, user.session_id, "user", now, now + 600, "loopync");

    // The control: a token crafted here with the server's key and valid claims is accepted,
    // so each refusal below is for the one thing that case changes.
    let crafted = sign_hs256(&hs256, &valid_claims, JWT_SECRET.as_bytes());
    let me = expect_status(app.get_as(&crafted, "/api/auth/me").await, 200);
    assert_eq!(uuid(&me["id"]), user.id);
    let via_library = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    expect_status(app.get_as(&via_library, "/api/auth/me").await, 200);

    let parts: Vec<&str> = user.token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["role"], "user");
    payload["role"] = json!("founder");
    let tampered = format!("{}.{}.{}", parts[0], b64(payload.to_string().as_bytes()), parts[2]);

    let none_header = json!({"alg": "none", "typ": "JWT"});
    let founder_claims = claims(user.id, user.session_id, "founder", now, now + 600, "loopync");
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!(
                "{}.{}.",
                b64(none_header.to_string().as_bytes()),
                b64(founder_claims.to_string().as_bytes())
            ),
        ),
        ("alg none, the real signature", {
            format!("{}.{}.{}", b64(none_header.to_string().as_bytes()), parts[1], parts[2])
        }),
        (
            "signed with another key",
            sign_hs256(&hs256, &founder_claims, b"another-secret-of-at-least-32-bytes-long!!"),
        ),
        ("role changed, original signature", tampered),
        (
            "HS512 with the server's key",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS512),
                &valid_claims,
                &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        (
            "another issuer",
            sign_hs256(
                &hs256,
                &claims(user.id, user.session_id, "user", now, now + 600, "evil"),
                JWT_SECRET.as_bytes(),
            ),
        ),
        ("no issuer", {
            let mut c = valid_claims.clone();
            c.as_object_mut().map(|o| o.remove("iss"));
            sign_hs256(&hs256, &c, JWT_SECRET.as_bytes())
        }),
        ("no expiry", {
            let mut c = valid_claims.clone();
            c.as_object_mut().map(|o| o.remove("exp"));
            sign_hs256(&hs256, &c, JWT_SECRET.as_bytes())
        }),
        ("signature cut off", format!("{}.{}", parts[0], parts[1])),
        ("garbage", "garbage".to_owned()),
        ("a refresh token", user.refresh.clone()),
    ];
    for (case, token) in &cases {
        let response = app.get_as(token, "/api/auth/me").await;
        let body = assert_problem(response, 401, "unauthorized");
        assert!(body["requestId"].is_string(), "{case}: {body}");
        // The admin endpoint refuses it the same way: a forged role gets nowhere.
        let response = app
            .put_as(token, &format!("/api/admin/users/{}/role", user.id), &json!({"role": "founder"}))
            .await;
        assert_problem(response, 401, "unauthorized");
    }

    // Expired (past the 5 s leeway), with the server's key: its own code.
    let expired = sign_hs256(
        &hs256,
        &claims(user.id, user.session_id, "user", now - 4000, now - 3600, "loopync"),
        JWT_SECRET.as_bytes(),
    );
    assert_problem(app.get_as(&expired, "/api/auth/me").await, 401, "token_expired");

    // No header, another scheme, an empty bearer.
    let anonymous = app.execute(app.client.get(app.url("/api/auth/me"))).await;
    assert_problem(anonymous, 401, "unauthorized");
    for value in [
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ada@example.com:correct horse battery")
        ),
        format!("Token {}", user.token),
        user.token.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        let response =
            app.execute(app.client.get(app.url("/api/auth/me")).header("authorization", &value)).await;
        assert_problem(response, 401, "unauthorized");
    }
    // After all that, the real token still works.
    expect_status(app.get_as(&user.token, "/api/auth/me").await, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_expired_refresh_token_is_token_expired(pool: PgPool) {
    let app = spawn_app(
        &pool,
        Options::default().with_auth(|auth| {
            auth.refresh_ttl = std::time::Duration::from_secs(1);
        }),
    )
    .await;
    let user = app.signup_named("ada@example.com", "ada").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_problem(app.refresh(&user.refresh).await, 401, "token_expired");
    // A fresh login is a fresh session.
    let again = app.login_ok("ada@example.com", &user.password).await;
    expect_status(app.refresh(&again.refresh).await, 200);
}
