//! A present but unusable `Idempotency-Key` — not visible ASCII, empty, too long, or sent
//! twice — is `400 invalid_idempotency_key` on every command that takes a key, before anything
//! is decided. A key dropped as if absent would let a client's retry run again (a retried
//! transfer would move money twice), so no such key is ever ignored.

use crate::contract::{Operation, operations, product_spec};
use loopync_testkit::{Options, event_count, spawn_app};
use reqwest::header::HeaderValue;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The unusable keys, each as the header lines it is sent in.
fn unusable_keys() -> Vec<(&'static str, Vec<HeaderValue>)> {
    let header = |text: &str| HeaderValue::from_bytes(text.as_bytes()).unwrap();
    vec![
        ("not visible ASCII", vec![header("café-order-42")]),
        ("empty", vec![header("")]),
        ("too long", vec![header(&"k".repeat(256))]),
        ("two header lines", vec![header("order-42"), header("order-42")]),
        ("two values in one line", vec![header("order-42, order-43")]),
    ]
}

/// Every operation whose parameters include `Idempotency-Key`.
fn commands_taking_a_key(spec: &Value) -> Vec<Operation<'_>> {
    let commands: Vec<Operation<'_>> = operations(spec)
        .into_iter()
        .filter(|command| {
            let mut params = command.operation["parameters"].as_array().into_iter().flatten();
            params.any(|param| param["name"] == "Idempotency-Key")
        })
        .collect();
    for command in &commands {
        assert!(command.example.as_ref().is_none_or(|e| !e.is_null()), "{}: no example body", command.name);
    }
    commands
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_command_refuses_an_unusable_idempotency_key_and_changes_nothing(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let commands = commands_taking_a_key(&spec);
    let paths: Vec<&str> = commands.iter().map(|command| command.path.as_str()).collect();
    for must in ["/looppay/transfer", "/looppay/pay", "/looppay/topup"] {
        assert!(paths.contains(&must), "{must} takes a key: {paths:?}");
    }

    let app = spawn_app(&pool, Options::default()).await;
    let (ada, _) = app.funded(10_000).await;
    let before = event_count(&pool).await;
    for command in &commands {
        let (method, example) = (&command.method, &command.example);
        // Path parameters get ids that exist nowhere: the key is checked before any lookup.
        let url = command.url(|_| Uuid::now_v7().to_string());
        for (what, lines) in unusable_keys() {
            let mut request =
                reqwest::Client::new().request(method.clone(), app.url(&url)).bearer_auth(&ada.token);
            if let Some(body) = example {
                request = request.json(body);
            }
            for line in lines {
                request = request.header("Idempotency-Key", line);
            }
            let reply = app.execute(request).await;
            assert_eq!(
                (reply.status, reply.body["code"].as_str()),
                (400, Some("invalid_idempotency_key")),
                "{method} {url} with a key {what}: {}",
                reply.text
            );
        }
    }
    assert_eq!(event_count(&pool).await, before, "no command ran");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_transfer_sent_twice_with_a_non_ascii_key_moves_nothing(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let (ada, position) = app.funded(5_000).await;
    let bob = app.signup().await;
    let body = serde_json::json!({"to": bob.id, "amount": 1_000, "note": "rent"});
    for _ in 0..2 {
        let request = reqwest::Client::new()
            .post(app.url("/api/looppay/transfer"))
            .bearer_auth(&ada.token)
            .header("Idempotency-Key", HeaderValue::from_bytes("café-order-42".as_bytes()).unwrap())
            .json(&body);
        app.execute(request).await.problem(400, "invalid_idempotency_key");
    }
    assert_eq!(app.balance(&ada, &position).await, (5_000, 0));
    assert_eq!(app.balance(&bob, &position).await.0, 0);
}
