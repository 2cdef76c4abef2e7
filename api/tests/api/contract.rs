//! The API contract, checked on the product's own OpenAPI document (every feature API, as
//! `loopync serve` mounts them): a client developer reading `/docs` finds, for every
//! operation, an example of each request and response, a description of each parameter and
//! header, exactly one success status, and its error codes as an enum per status.

use loopync_testkit::{Options, spawn_app};
use serde_json::Value;
use sqlx::PgPool;

/// The product's OpenAPI document.
pub async fn product_spec(pool: &PgPool) -> Value {
    let app = spawn_app(pool, Options::default().without_projections()).await;
    let spec = loopync_api::openapi_service(loopync_api::feature_apis(&app.state)).spec();
    serde_json::from_str(&spec).expect("the spec is JSON")
}

/// `schema`, or the component it refers to.
pub fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => &spec["components"]["schemas"][name],
        None => schema,
    }
}

/// One operation of the document, as the tests that sweep every operation call it.
pub struct Operation<'a> {
    pub method: reqwest::Method,
    /// `METHOD /path`, with the document's path (`POST /users/{userId}/role`).
    pub name: String,
    /// The document's path, without the `/api` prefix.
    pub path: String,
    pub operation: &'a Value,
    /// The schema of its request body (a `$ref` or inline), if it takes one.
    pub body_schema: Option<&'a Value>,
    /// The example of its request body, whatever JSON media type it is documented under.
    pub example: Option<Value>,
}

impl Operation<'_> {
    /// The URL to call: `/api` and the path, each `{parameter}` filled by `fill(name)`.
    pub fn url(&self, fill: impl Fn(&str) -> String) -> String {
        let parts: Vec<String> = self
            .path
            .split('/')
            .map(|part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => fill(name),
                None => part.to_owned(),
            })
            .collect();
        format!("/api{}", parts.join("/"))
    }
}

/// Every operation of `spec`, in the document's order.
pub fn operations(spec: &Value) -> Vec<Operation<'_>> {
    let mut found = Vec::new();
    for (path, methods) in spec["paths"].as_object().into_iter().flatten() {
        for (method, operation) in methods.as_object().into_iter().flatten() {
            let content = operation["requestBody"]["content"].as_object();
            let schema = content.and_then(|content| content.values().next()).map(|media| &media["schema"]);
            found.push(Operation {
                method: reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap(),
                name: format!("{} {path}", method.to_ascii_uppercase()),
                path: path.clone(),
                operation,
                body_schema: schema,
                example: schema.map(|schema| resolve(spec, schema)["example"].clone()),
            });
        }
    }
    found
}

fn described(value: &Value) -> bool {
    value["description"].as_str().is_some_and(|d| !d.trim().is_empty())
}

/// Every way `operation` (`METHOD /path`) breaks the contract.
fn violations(spec: &Value, name: &str, operation: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut fail = |why: String| found.push(format!("{name}: {why}"));
    if operation["summary"].as_str().is_none_or(str::is_empty) {
        fail("no summary".into());
    }
    for param in operation["parameters"].as_array().into_iter().flatten() {
        if !described(param) {
            fail(format!("parameter `{}` ({}) has no description", param["name"], param["in"]));
        }
    }
    for (media, content) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
        if resolve(spec, &content["schema"]).get("example").is_none() {
            fail(format!("the {media} request has no example"));
        }
    }
    let responses = operation["responses"].as_object().cloned().unwrap_or_default();
    let successes: Vec<&String> = responses.keys().filter(|status| status.starts_with('2')).collect();
    if successes.len() != 1 {
        fail(format!("declares {} success statuses {successes:?}; exactly one expected", successes.len()));
    }
    for (status, response) in &responses {
        if status.contains('X') {
            fail(format!("declares the status range {status}; each status is listed"));
        }
        if !described(response) {
            fail(format!("{status} has no description"));
        }
        for (header, meta) in response["headers"].as_object().into_iter().flatten() {
            if !described(meta) {
                fail(format!("{status} header {header} has no description"));
            }
        }
        for (media, content) in response["content"].as_object().into_iter().flatten() {
            let schema = resolve(spec, &content["schema"]);
            if schema.get("example").is_none() {
                fail(format!("{status} {media} has no example"));
            }
            if !status.starts_with('2') {
                let code = resolve(spec, &schema["properties"]["code"]);
                let codes = code["enum"].as_array().map_or(0, Vec::len);
                if codes == 0 {
                    fail(format!("{status} has a free-string `code`; its codes belong in an enum"));
                }
                if schema["example"]["code"].as_str().is_none_or(|example| {
                    !code["enum"].as_array().is_some_and(|codes| codes.iter().any(|c| c == example))
                }) {
                    fail(format!("{status}'s example code is not one of its codes"));
                }
            }
        }
    }
    found
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_operation_documents_examples_parameters_one_success_and_its_error_codes(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let mut operations = 0;
    let mut found = Vec::new();
    for (path, methods) in spec["paths"].as_object().into_iter().flatten() {
        for (method, operation) in methods.as_object().into_iter().flatten() {
            operations += 1;
            found.extend(violations(&spec, &format!("{} /api{path}", method.to_uppercase()), operation));
        }
    }
    assert!(operations >= 30, "the product's operations are all in the document: {operations}");
    assert!(found.is_empty(), "the API contract is broken:\n{}", found.join("\n"));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn the_walk_catches_what_it_is_meant_to_catch(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let mut transfer = spec["paths"]["/looppay/transfer"]["post"].clone();
    assert!(violations(&spec, "transfer", &transfer).is_empty(), "{transfer}");

    let mut broken = transfer.clone();
    broken["responses"]["200"] = broken["responses"]["201"].clone();
    broken["parameters"][0]["description"] = Value::Null;
    broken["responses"]["4XX"] = serde_json::json!({"description": "any error"});
    let why = violations(&spec, "transfer", &broken).join("\n");
    for expected in ["success statuses", "has no description", "status range"] {
        assert!(why.contains(expected), "{expected} not caught:\n{why}");
    }

    let mut free = spec.clone();
    let schema = transfer["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("422 refers to a schema: {transfer}"))
        .to_owned();
    free["components"]["schemas"][&schema]["properties"]["code"] = serde_json::json!({"type": "string"});
    let why = violations(&free, "transfer", &transfer).join("\n");
    assert!(why.contains("free-string"), "a free-string code is caught: {why}");

    transfer["requestBody"]["content"]["application/json; charset=utf-8"]["schema"] =
        serde_json::json!({"type": "object"});
    let why = violations(&spec, "transfer", &transfer).join("\n");
    assert!(why.contains("request has no example"), "{why}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn commands_name_one_concept_one_way(pool: PgPool) {
    let spec = product_spec(&pool).await;
    let schemas = &spec["components"]["schemas"];
    // The receiving account is `to` in every movement; a movement's id is `entryId`.
    assert!(schemas["TransferRequest"]["properties"]["to"].is_object(), "{}", schemas["TransferRequest"]);
    assert!(schemas["PayRequest"]["properties"]["to"].is_object(), "{}", schemas["PayRequest"]);
    for name in ["TransferView", "TransactionView"] {
        let properties = &schemas[name]["properties"];
        assert!(
            properties["entryId"].is_object() && properties["transactionId"].is_null(),
            "{name}: {properties}"
        );
    }
    assert!(schemas["TransferRequest"]["properties"]["toUserId"].is_null());
    // Settings change per field.
    assert!(spec["paths"]["/users/{userId}/settings"]["patch"].is_object());
}
