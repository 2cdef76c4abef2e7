//! Each operation's error answers, declared once and documented as they are: per status, the
//! `code`s the operation can answer with, as an enum in the OpenAPI document.
//!
//! A handler returns `Result<_, Refused<R>>` where `R` is its [`Refusals`]: a marker type
//! listing the operation's own codes per status on top of what every operation of its kind can
//! answer ([`RefusalSet`]: bad parameters, rate limits, tokens, idempotency keys, bodies,
//! outages). `?` works on anything that becomes a [`Problem`], so handlers and services keep
//! their typed errors; the marker only documents. The document then shows, for each status,
//! a schema `<Operation>Problem<status>`: the `Problem` schema with `code` as an enum of exactly
//! those codes, and an example.
//!
//! The list cannot drift from what the code does unnoticed: in debug builds (every test) an
//! answer with a status or code its operation does not declare panics, which the error layer
//! turns into a 500 that the test sees; in release it is logged.
//!
//! ```ignore
//! refusals!(TransferRefusals, "Transfer", |set| set
//!     .signed_in().command().body()
//!     .with(400, &[pay_codes::INVALID_AMOUNT])
//!     .with(422, &[pay_codes::INSUFFICIENT_FUNDS]));
//!
//! async fn transfer(&self, ...) -> Result<Created<TransferView>, Refused<TransferRefusals>> { ... }
//! ```

use crate::problem::{PROBLEM_JSON, Problem, ProblemDetails, codes};
use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// An operation's error answers. Implement with [`refusals!`].
pub trait Refusals: Send + Sync + 'static {
    /// The operation, in schema names: `Transfer` → `TransferProblem422`.
    const OPERATION: &'static str;

    /// Every status and code the operation answers with.
    fn refusals() -> RefusalSet;
}

/// Declares a [`Refusals`] marker type: `refusals!(Name, "Operation", |set| set.with(..))`.
#[macro_export]
macro_rules! refusals {
    ($(#[$meta:meta])* $name:ident, $operation:literal, |$set:ident| $body:expr) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;

        impl $crate::refusals::Refusals for $name {
            const OPERATION: &'static str = $operation;

            fn refusals() -> $crate::refusals::RefusalSet {
                let $set = $crate::refusals::RefusalSet::new();
                $body
            }
        }
    };
}

/// Statuses and their codes. [`RefusalSet::new`] starts with what every `/api` operation can
/// answer: 400 `invalid_request` (a parameter that does not parse), 429 `rate_limited`, 500
/// `internal_error` and 503 `service_unavailable`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalSet(BTreeMap<u16, Vec<&'static str>>);

impl RefusalSet {
    pub fn new() -> Self {
        Self::default()
            .with(400, &[codes::INVALID_REQUEST])
            .with(429, &[RATE_LIMITED])
            .with(500, &[codes::INTERNAL_ERROR])
            .with(503, &[codes::SERVICE_UNAVAILABLE])
    }

    /// Adds `codes` under `status` (each once).
    pub fn with(mut self, status: u16, codes: &[&'static str]) -> Self {
        let entry = self.0.entry(status).or_default();
        for code in codes {
            if !entry.contains(code) {
                entry.push(code);
            }
        }
        self
    }

    /// Takes a bearer token: 401 `unauthorized` (missing or invalid), `token_expired`, and
    /// `session_ended` (a valid token of a session that was signed out or revoked; the
    /// authentication layer answers it before the handler runs, so no handler's own error
    /// would ever declare it).
    pub fn signed_in(self) -> Self {
        self.with(401, &[codes::UNAUTHORIZED, TOKEN_EXPIRED, SESSION_ENDED])
    }

    /// Takes a JSON body: 400 with the offending fields, 413 and 415.
    pub fn body(self) -> Self {
        self.with(400, &[codes::INVALID_REQUEST])
            .with(413, &[codes::PAYLOAD_TOO_LARGE])
            .with(415, &[codes::UNSUPPORTED_MEDIA_TYPE])
    }

    /// Appends events: 409 `conflict` when concurrent changes kept winning.
    pub fn command(self) -> Self {
        self.with(409, &[codes::CONFLICT])
    }

    /// Takes an `Idempotency-Key`: 400 `invalid_idempotency_key`, 422 `idempotency_key_reused`.
    pub fn idempotent(self) -> Self {
        self.command()
            .with(400, &[codes::INVALID_IDEMPOTENCY_KEY])
            .with(422, &[codes::IDEMPOTENCY_KEY_REUSED])
    }

    /// Waits for a `Loopync-Position`: 400 `invalid_position`.
    pub fn reads_position(self) -> Self {
        self.with(400, &[codes::INVALID_POSITION])
    }

    /// Whether the set declares `code` under `status`.
    pub fn declares(&self, status: u16, code: &str) -> bool {
        self.0.get(&status).is_some_and(|codes| codes.contains(&code))
    }

    /// Statuses in order, each with its codes.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[&'static str])> {
        self.0.iter().map(|(status, codes)| (*status, codes.as_slice()))
    }
}

/// The identity codes every signed-in operation shares (kept here so the platform's sets do
/// not depend on a feature module's list).
const TOKEN_EXPIRED: &str = "token_expired";
const SESSION_ENDED: &str = "session_ended";
const RATE_LIMITED: &str = "rate_limited";

/// An error answer of the operation `R`: a [`Problem`] that `R` declares.
pub struct Refused<R>(Problem, PhantomData<R>);

impl<R> Refused<R> {
    /// The problem answered.
    pub fn problem(&self) -> &Problem {
        &self.0
    }
}

impl<R> std::fmt::Debug for Refused<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<R: Refusals, E: Into<Problem>> From<E> for Refused<R> {
    fn from(error: E) -> Self {
        let problem = error.into();
        check_declared::<R>(&problem);
        Self(problem, PhantomData)
    }
}

/// An answer the operation does not document is a bug of the declaration or of the handler.
fn check_declared<R: Refusals>(problem: &Problem) {
    let status = problem.status().as_u16();
    if R::refusals().declares(status, problem.code()) {
        return;
    }
    let message =
        format!("{} answered {status} `{}`, which its refusals do not declare", R::OPERATION, problem.code());
    if cfg!(debug_assertions) {
        panic!("{message}");
    }
    tracing::error!(operation = R::OPERATION, status, code = problem.code(), "undeclared refusal: {message}");
}

impl<R> From<Refused<R>> for poem::Error {
    fn from(refused: Refused<R>) -> Self {
        refused.0.into()
    }
}

/// What a status means, for the document.
fn description(status: u16) -> &'static str {
    match status {
        400 => "The request is malformed or has invalid fields; `errors` lists every invalid field.",
        401 => "No valid credentials: a missing, invalid or expired token or signature.",
        403 => "The caller may not do this.",
        404 => "The target does not exist, or is not the caller's to see.",
        409 => "The request conflicts with the current state; `code` says how.",
        413 => "The request body is larger than the limit.",
        415 => "The request body is not JSON.",
        422 => "The request is well formed but a rule refuses it.",
        429 => "Too many requests; retry after `Retry-After` seconds.",
        500 => "The server failed; the cause is logged, not shown.",
        503 => "A dependency is unavailable; retry after `Retry-After` seconds.",
        _ => "The request was refused.",
    }
}

/// The schema name of `R`'s problems with `status`.
fn schema_name<R: Refusals>(status: u16) -> String {
    format!("{}Problem{status}", R::OPERATION)
}

impl<R: Refusals> ApiResponse for Refused<R> {
    fn meta() -> MetaResponses {
        let responses = R::refusals()
            .iter()
            .map(|(status, _)| {
                let retry_after = matches!(status, 429 | 503).then(|| MetaHeader {
                    name: "Retry-After".to_owned(),
                    description: Some("Seconds to wait before retrying.".to_owned()),
                    required: true,
                    deprecated: false,
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("integer", "int32"))),
                });
                MetaResponse {
                    description: description(status),
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: MetaSchemaRef::Reference(schema_name::<R>(status)),
                    }],
                    headers: retry_after.into_iter().collect(),
                }
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ProblemDetails::register(registry);
        let Some(base) = registry.schemas.get(&ProblemDetails::name().into_owned()).cloned() else { return };
        for (status, codes) in R::refusals().iter() {
            let mut schema = base.clone();
            schema.title = Some(format!("{} refused ({status})", R::OPERATION));
            for (name, property) in &mut schema.properties {
                if *name == "code" {
                    *property = MetaSchemaRef::Inline(Box::new(MetaSchema {
                        description: Some("The stable, machine-readable code: branch on this."),
                        enum_items: codes.iter().map(|code| Value::from(*code)).collect(),
                        ..MetaSchema::new("string")
                    }));
                }
            }
            schema.example = Some(example(status, codes.first().copied().unwrap_or(codes::CLIENT_ERROR)));
            registry.schemas.insert(schema_name::<R>(status), schema);
        }
    }
}

/// An example answer with `status` and `code`.
fn example(status: u16, code: &str) -> Value {
    let title = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut example = json!({
        "type": format!("urn:loopync:problem:{code}"),
        "title": title,
        "status": status,
        "detail": description(status),
        "code": code,
        "requestId": "0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10",
    });
    if status == 400 {
        example["errors"] = json!([{"field": "name", "code": "required", "message": "is required"}]);
    }
    example
}

#[cfg(test)]
mod tests {
    use super::*;

    refusals!(Sample, "Sample", |set| set.signed_in().idempotent().with(422, &["insufficient_funds"]));

    #[test]
    fn every_operation_gets_the_common_codes_and_its_own() {
        let set = Sample::refusals();
        for (status, code) in [
            (400, "invalid_request"),
            (401, "token_expired"),
            (401, "session_ended"),
            (409, "conflict"),
            (422, "insufficient_funds"),
            (429, "rate_limited"),
            (503, "service_unavailable"),
        ] {
            assert!(set.declares(status, code), "{status} {code}");
        }
        assert!(!set.declares(404, "not_found"));
    }

    #[test]
    fn each_status_is_documented_with_its_codes_as_an_enum() {
        let mut registry = Registry::new();
        <Refused<Sample> as ApiResponse>::register(&mut registry);
        let schema = registry.schemas.get("SampleProblem422");
        let code = schema.and_then(|s| s.properties.iter().find(|(name, _)| *name == "code"));
        let Some((_, MetaSchemaRef::Inline(code))) = code else { panic!("no inline code in {schema:?}") };
        assert_eq!(
            code.enum_items,
            vec![Value::from("idempotency_key_reused"), Value::from("insufficient_funds")]
        );
        let statuses: Vec<_> =
            <Refused<Sample> as ApiResponse>::meta().responses.iter().filter_map(|r| r.status).collect();
        assert_eq!(statuses, [400, 401, 409, 422, 429, 500, 503]);
    }
}
