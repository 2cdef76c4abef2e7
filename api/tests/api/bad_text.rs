//! Bad text is a 400 and changes nothing. A NUL (or any other control character but tab and
//! line breaks) in any free-text field of any body is `400 invalid_request` naming the field
//! (`invalid_characters`) before anything runs; names refuse invisible and direction-changing
//! characters; text PostgreSQL itself refuses (a NUL in a query parameter) is a 400, never a 500.

use loopync_testkit::{Options, event_count, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The field named with `code` in a 400 `invalid_request`.
#[track_caller]
fn refused_field(reply: &loopync_testkit::Reply, field: &str) -> String {
    let problem = reply.problem(400, "invalid_request");
    let errors = problem["errors"].as_array().cloned().unwrap_or_default();
    let named = errors.iter().find(|error| error["field"] == field);
    let named = named.unwrap_or_else(|| panic!("{}: {field} not named: {}", reply.what, reply.text));
    named["code"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn control_characters_in_any_free_text_field_are_refused_and_nothing_is_appended(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(10_000).await;
    let bob = app.signup().await;
    let paid = app.pay(&ada, &bob.id.to_string(), 100, "order:1", None).await.created().clone();
    let payment = paid["paymentId"].as_str().unwrap().to_owned();
    let before = event_count(&pool).await;

    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            "/api/looppay/transfer".into(),
            json!({"to": bob.id, "amount": 1, "note": "rent\u{0}"}),
            "note",
        ),
        (
            Method::POST,
            "/api/looppay/pay".into(),
            json!({"to": bob.id, "amount": 1, "reference": "order:2", "note": "a\u{7}"}),
            "note",
        ),
        (
            Method::POST,
            format!("/api/looppay/payments/{payment}/refund"),
            json!({"reason": "x\u{0}y"}),
            "reason",
        ),
        (Method::PATCH, format!("/api/users/{}/profile", ada.id), json!({"bio": "poet\u{0}"}), "bio"),
        (
            Method::PATCH,
            format!("/api/users/{}/profile", ada.id),
            json!({"location": "\u{1b}[31mLondon"}),
            "location",
        ),
        (Method::PATCH, format!("/api/users/{}/profile", ada.id), json!({"name": "Ada\u{0}"}), "name"),
        (
            Method::POST,
            "/api/auth/signup".into(),
            json!({"email": "x@example.com", "password": "a long password", "name": "X\u{85}", "handle": "xx_x"}),
            "name",
        ),
    ];
    for (method, path, body, field) in cases {
        let token = if path.contains("/refund") { &bob.token } else { &ada.token };
        let reply = app.call(method, &path, Some(token), Some(&body), None).await;
        assert_eq!(refused_field(&reply, field), "invalid_characters", "{}", reply.text);
    }
    assert_eq!(event_count(&pool).await, before, "nothing was appended");

    // Tabs and line breaks are text.
    let note = "line one\nline two\tindented";
    let reply = app.transfer(&ada, bob.id, 1, Some(note), None).await;
    assert_eq!(reply.created()["note"], note, "{}", reply.text);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn names_refuse_invisible_and_direction_changing_characters(pool: PgPool) {
    let app = spawn_app(&pool, Options::default().without_projections()).await;
    let ada = app.signup().await;
    let before = event_count(&pool).await;
    for name in ["Ada\u{202E}ecalevoL", "A\u{200B}da", "\u{2066}Ada\u{2069}", "Ada\u{FEFF}"] {
        let reply =
            app.patch_as(&ada.token, &format!("/api/users/{}/profile", ada.id), &json!({"name": name})).await;
        assert_eq!(refused_field(&reply, "name"), "invalid_name", "{name:?}");
    }
    let signup = json!({"email": "y@example.com", "password": "a long password", "name": "Y\u{200F}", "handle": "yy_y"});
    assert_eq!(refused_field(&app.post("/api/auth/signup", &signup).await, "name"), "invalid_name");
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn text_postgresql_refuses_in_a_query_is_a_400_not_a_500(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup().await;
    app.caught_up().await;
    let reply = app.get_as(&ada.token, "/api/users/search?q=ada%00").await;
    reply.problem(400, "invalid_request");
}
