//! Wrong JSON types are a 400 on every endpoint. Every request schema of the OpenAPI document
//! is swept: starting from its example, each field in turn gets a value of another JSON type —
//! a number, boolean, array or object where a string is declared, a string where a number or
//! boolean is — and the answer must be a 400 naming that field (`invalid_request`, or a
//! feature's more specific code such as LoopPay's `invalid_amount`), with nothing appended. (poem-openapi alone takes `"password": 12345678` as the string "12345678".)

use crate::contract::{Operation, operations, product_spec, resolve};
use loopync_testkit::{Options, event_count, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Operations whose body is checked before anything else but is not a typed JSON document:
/// the provider's webhook verifies its signature over the raw bytes first.
const RAW_BODIES: &[&str] = &["/looppay/webhooks/{provider}"];

/// Every leaf field of `example` under `schema`, as `(path, replacement values of other JSON
/// types)`.
fn mistypings(
    spec: &Value,
    schema: &Value,
    example: &Value,
    path: &str,
    found: &mut Vec<(String, Vec<Value>)>,
) {
    let schema = resolve(spec, schema);
    match schema["type"].as_str() {
        Some("object") => {
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let Some(value) = example.get(name).filter(|value| !value.is_null()) else { continue };
                let inner = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                mistypings(spec, property, value, &inner, found);
            }
        }
        Some("string") => {
            found.push((path.to_owned(), vec![json!(12_345_678), json!(true), json!(["x"]), json!({"x": 1})]))
        }
        Some("integer" | "number") => {
            found.push((path.to_owned(), vec![json!("12"), json!(true), json!([1]), json!({})]))
        }
        Some("boolean") => found.push((path.to_owned(), vec![json!("true"), json!(1), json!([true])])),
        _ => {}
    }
}

/// `example` with the field at `path` (dotted) set to `value`.
fn with_field(example: &Value, path: &str, value: Value) -> Value {
    let mut body = example.clone();
    let mut target = &mut body;
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        if names.peek().is_none() {
            target[name] = value;
            break;
        }
        target = &mut target[name];
    }
    body
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_value_of_the_wrong_json_type_is_a_400_naming_the_field_on_every_endpoint(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let app = spawn_app(&pool, Options::default().without_projections()).await;
    let ada = app.signup().await;
    let before = event_count(&pool).await;
    let mut swept = Vec::new();
    for operation in operations(&spec) {
        let (Some(schema), Some(example)) = (operation.body_schema, &operation.example) else { continue };
        if RAW_BODIES.contains(&operation.path.as_str()) {
            continue;
        }
        let Operation { method, path, .. } = &operation;
        let mut fields = Vec::new();
        mistypings(&spec, schema, example, "", &mut fields);
        assert!(!fields.is_empty(), "{method} {path}: an example with no fields to sweep: {example}");
        let url = operation.url(|_| ada.id.to_string());
        for (field, values) in fields {
            for value in values {
                let body = with_field(example, &field, value.clone());
                let reply = app.call(method.clone(), &url, Some(&ada.token), Some(&body), None).await;
                let named: Vec<&str> = reply.body["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["field"].as_str())
                    .collect();
                assert!(
                    reply.status == 400 && named.contains(&field.as_str()),
                    "{method} {path} with {field} = {value}: {} {}",
                    reply.status,
                    reply.text
                );
            }
            swept.push(format!("{method} {path} {field}"));
        }
    }
    assert!(swept.iter().any(|s| s == "POST /auth/signup password"), "{swept:?}");
    assert!(swept.iter().any(|s| s == "POST /looppay/transfer amount"), "{swept:?}");
    assert_eq!(event_count(&pool).await, before, "nothing was appended");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_number_for_a_password_makes_no_account(pool: PgPool) {
    let app = spawn_app(&pool, Options::default().without_projections()).await;
    let body = json!({"email": "ada@example.com", "password": 12_345_678, "name": "Ada", "handle": "ada"});
    let reply = app.post("/api/auth/signup", &body).await;
    let problem = reply.field_problem(400, "invalid_request", "password");
    assert_eq!(problem["errors"][0]["code"], "invalid_type");
    assert_eq!(event_count(&pool).await, 0);
}
