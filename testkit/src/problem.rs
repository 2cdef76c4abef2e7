//! Assertions on answers: problem+json refusals (RFC 9457, a stable `code`) and expected
//! statuses.

use crate::client::Reply;
use serde_json::Value;
use std::borrow::Borrow;

/// Asserts an answer is problem+json with `status` and `code` (and the fields every problem
/// has), and returns its body.
#[track_caller]
pub fn assert_problem(reply: impl Borrow<Reply>, status: u16, code: &str) -> Value {
    let reply = reply.borrow();
    check_problem(reply, status, code);
    reply.body.clone()
}

#[track_caller]
pub(crate) fn check_problem(reply: &Reply, status: u16, code: &str) {
    let (what, body) = (&reply.what, &reply.body);
    assert_eq!(reply.status, status, "status of {what}: {}", reply.text);
    assert_eq!(reply.content_type.as_deref(), Some("application/problem+json"), "{what}: {}", reply.text);
    assert_eq!(body["status"], status, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["type"], format!("urn:loopync:problem:{code}"), "{what}: {body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{what}: {body}");
    assert!(body["requestId"].is_string(), "{what}: {body}");
}

/// Asserts a 400 `invalid_request` naming `field` among its `errors`.
#[track_caller]
pub fn assert_invalid_field(reply: impl Borrow<Reply>, field: &str) -> Value {
    let body = assert_problem(reply, 400, "invalid_request");
    let fields = error_fields(&body);
    assert!(fields.iter().any(|f| f == field), "expected field {field:?} in {fields:?}: {body}");
    body
}

/// Asserts `status` and returns the JSON body.
#[track_caller]
pub fn expect_status(reply: impl Borrow<Reply>, status: u16) -> Value {
    reply.borrow().expect(status).clone()
}

/// The `field`s of a problem's `errors` (none when it has no `errors`).
pub fn error_fields(body: &Value) -> Vec<String> {
    let Some(errors) = body["errors"].as_array() else { return Vec::new() };
    errors.iter().filter_map(|error| error["field"].as_str().map(str::to_owned)).collect()
}
