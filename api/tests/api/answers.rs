//! Answers as the OpenAPI document describes them. A client generated from the document (and
//! the schemathesis run of `just fuzz`) reads an optional field as "absent or of its type":
//! a `null` where the document does not say `nullable` breaks it. So a field with no value is
//! left out, unless the document declares it nullable.

use crate::contract::{product_spec, resolve};
use loopync_testkit::{Options, Reply, expect_status, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The schema of the body `operation` (`METHOD /path`, the document's path) answers with `status`.
fn answer_schema<'a>(spec: &'a Value, operation: &str, status: u16) -> &'a Value {
    let (method, path) = operation.split_once(' ').unwrap();
    let response = &spec["paths"][path][method.to_ascii_lowercase()]["responses"][status.to_string()];
    let content =
        response["content"].as_object().unwrap_or_else(|| panic!("{operation} {status}: {response}"));
    &content.values().next().unwrap()["schema"]
}

/// Every JSON path of `value` that is `null` where `schema` does not allow it.
fn undeclared_nulls(spec: &Value, schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    // poem-openapi wraps a `$ref` that a field narrows (a description, `nullable`) in `allOf`.
    let parts: Vec<&Value> = match schema["allOf"].as_array() {
        Some(parts) => parts.iter().map(|part| resolve(spec, part)).collect(),
        None => vec![schema],
    };
    let nullable = schema["nullable"] == true || parts.iter().any(|part| part["nullable"] == true);
    match value {
        Value::Null if !nullable => found.push(path.to_owned()),
        Value::Object(fields) => {
            for (name, field) in fields {
                if let Some(declared) =
                    parts.iter().map(|part| &part["properties"][name]).find(|p| !p.is_null())
                {
                    undeclared_nulls(spec, declared, field, &format!("{path}.{name}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if let Some(declared) = parts.iter().map(|part| &part["items"]).find(|p| !p.is_null()) {
                    undeclared_nulls(spec, declared, item, &format!("{path}[{index}]"), found);
                }
            }
        }
        _ => {}
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn no_answer_is_null_where_the_document_does_not_allow_it(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let app = spawn_app(&pool, Options::default()).await;
    // Accounts with nothing optional filled in: no bio, no phone, no note, never online.
    let (ada, _) = app.funded(10_000).await;
    let bob = app.signup().await;
    let grace = app.signup().await;
    let settings = format!("/api/users/{}/settings", grace.id);
    expect_status(app.patch_as(&grace.token, &settings, &json!({"privacy": "private"})).await, 200);
    let transfer = app.transfer(&ada, bob.id, 100, None, None).await;
    let top_up = app.top_up(&ada, 500, None).await;
    let top_up_id = top_up.created()["topUpId"].as_str().unwrap().to_owned();
    let payment = app.pay(&ada, &bob.id.to_string(), 200, "order:1", None).await;
    let payment_id = payment.created()["paymentId"].as_str().unwrap().to_owned();

    let get = |path: String| {
        let app = &app;
        let token = ada.token.clone();
        async move { app.call(Method::GET, &path, Some(&token), None, None).await }
    };
    let answers: Vec<(&str, Reply)> = vec![
        ("POST /auth/signup", app.post("/api/auth/signup", &json!({
            "email": "lin@example.com", "password": "correct horse battery", "name": "Lin", "handle": "lin"
        })).await),
        ("POST /auth/login", app.login(&bob.email, &bob.password).await),
        ("GET /auth/me", get("/api/auth/me".into()).await),
        ("GET /auth/sessions", get("/api/auth/sessions".into()).await),
        ("GET /users/{userId}", get(format!("/api/users/{}", bob.id)).await),
        ("GET /users/{userId}", get(format!("/api/users/{}", grace.id)).await),
        ("GET /users/search", get(format!("/api/users/search?q={}", bob.handle)).await),
        ("POST /looppay/transfer", transfer),
        ("POST /looppay/topup", top_up),
        ("GET /looppay/topups/{topUpId}", get(format!("/api/looppay/topups/{top_up_id}")).await),
        ("POST /looppay/pay", payment),
        ("GET /looppay/payments/{paymentId}", get(format!("/api/looppay/payments/{payment_id}")).await),
        ("GET /looppay/transactions", get("/api/looppay/transactions".into()).await),
        ("GET /looppay/balance", get("/api/looppay/balance".into()).await),
    ];

    let mut found = Vec::new();
    for (operation, reply) in &answers {
        assert!((200..300).contains(&reply.status), "{operation}: {} {}", reply.status, reply.text);
        let schema = answer_schema(&spec, operation, reply.status);
        undeclared_nulls(&spec, schema, &reply.body, operation, &mut found);
    }
    assert!(found.is_empty(), "null where the document does not allow it:\n{}", found.join("\n"));

    // What is not there is left out.
    let me = &answers[2].1.body;
    for absent in ["bio", "phoneNumber", "avatar", "website"] {
        assert!(me.get(absent).is_none(), "`{absent}` is absent, not null: {me}");
    }
    let private_card = &answers[5].1.body;
    assert_eq!(private_card["private"], true, "{private_card}");
    assert!(private_card.get("createdAt").is_none(), "{private_card}");
    assert!(answers[7].1.body.get("note").is_none(), "{}", answers[7].1.text);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_check_catches_a_null_the_document_does_not_allow(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let schema = answer_schema(&spec, "GET /auth/me", 200);
    let mut found = Vec::new();
    let answer =
        json!({"id": "0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10", "bio": null, "settings": {"darkMode": null}});
    undeclared_nulls(&spec, schema, &answer, "me", &mut found);
    assert_eq!(found, ["me.bio", "me.settings.darkMode"]);
}
