//! Errors as RFC 9457 problem details, served as `application/problem+json`.
//!
//! Every error the API answers with is a [`Problem`]. Handlers return one (`Result<_, Problem>`)
//! and get there with `?`: from a [`CommandError`] whose domain error implements
//! [`DomainProblem`], from a [`StoreError`] or from a `sqlx::Error`. Everything else — the
//! parse errors of poem-openapi, unknown routes, wrong methods, oversize bodies, wrong content
//! types, panics — is converted in exactly one place, the error layer that [`crate::app`] puts
//! around the whole app, through [`Problem::from_poem_error`].
//!
//! `code` is the stable, machine-readable part that clients branch on (the list is in
//! [`codes`]); `detail` is for humans and may change. A 500 never says what went wrong inside:
//! the cause is logged at error level instead, next to the request id the problem carries.

use crate::request_id::RequestId;
use loopync_commands::{CommandError, StoreError};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};
use std::borrow::Cow;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying when a dependency is down. Short on purpose:
/// PostgreSQL restarts and NATS reconnects take about that long, and clients back off anyway.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The stable codes the API itself produces. Feature modules add their own through
/// [`DomainProblem::code`].
pub mod codes {
    /// The request is malformed: bad JSON, wrong types, missing or unknown fields, bad params.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The `Loopync-Position` header is not a position (`<transaction>-<position>`).
    pub const INVALID_POSITION: &str = "invalid_position";
    /// The `Idempotency-Key` header is empty, too long or not printable ASCII.
    pub const INVALID_IDEMPOTENCY_KEY: &str = "invalid_idempotency_key";
    /// The `Idempotency-Key` was already used for a different request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// The command kept conflicting with concurrent changes; retrying may succeed.
    pub const CONFLICT: &str = "conflict";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    /// No route at this path.
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const NOT_ACCEPTABLE: &str = "not_acceptable";
    pub const LENGTH_REQUIRED: &str = "length_required";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// A 4xx without a more specific code.
    pub const CLIENT_ERROR: &str = "client_error";
    /// Something failed inside; the details are in the server's log, not in the answer.
    pub const INTERNAL_ERROR: &str = "internal_error";
    /// PostgreSQL or NATS cannot be reached; retry after `Retry-After` seconds.
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    /// `/ready`: a dependency is down or the schema is not migrated.
    pub const NOT_READY: &str = "not_ready";
}

/// The request header that carries the client's idempotency key.
pub(crate) const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// The request header that names the position a read must reflect.
pub(crate) const POSITION_HEADER: &str = "Loopync-Position";

/// How a domain refusal is answered over HTTP: every domain error enum gets one impl, in the
/// feature module of `api` that exposes it (the domain crate knows nothing of HTTP).
///
/// Use 422 for a well-formed command the rules refuse (insufficient funds), 409 for a state
/// conflict the client can resolve (already a friend), 404 for an unknown target.
pub trait DomainProblem: std::fmt::Display {
    /// The HTTP status, a 4xx.
    fn status(&self) -> StatusCode;
    /// The stable, machine-readable code, `snake_case`.
    fn code(&self) -> &'static str;
}

/// The codes of one offending field that any request can get; feature modules add their own
/// (`invalid_email`, `invalid_amount`, ...).
pub mod field_codes {
    /// A required field is absent or `null`.
    pub const REQUIRED: &str = "required";
    /// The value has the wrong JSON type, or a parameter does not parse as its type.
    pub const INVALID_TYPE: &str = "invalid_type";
    /// A string is too short or too long, an array has too few or too many items.
    pub const INVALID_LENGTH: &str = "invalid_length";
    /// A number is outside its range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// A value is not one of those allowed.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// A field the request type does not have.
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    /// A value that is the right type but not valid (a cursor of another list, say).
    pub const INVALID: &str = "invalid";
    /// Text with a control character (NUL and the like), or a name with invisible or
    /// direction-changing characters.
    pub const INVALID_CHARACTERS: &str = "invalid_characters";
}

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ProblemField")]
pub struct FieldProblem {
    /// Where the problem is: a JSON path in the body (`amount`, `items[0].id`) or a parameter
    /// or header name (`id`, `Idempotency-Key`).
    pub field: String,
    /// What is wrong, machine-readable: `required`, `invalid_type`, `invalid_length`,
    /// `out_of_range`, `not_allowed`, `unknown_field`, `invalid`, `invalid_characters`, or a
    /// feature's own
    /// (`invalid_email`, `invalid_handle`, `weak_password`, `invalid_amount`, ...).
    pub code: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.to_owned(), message: message.into() }
    }
}

/// An error answer as it goes over the wire (RFC 9457, plus `code`, `errors` and `requestId`).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Problem", rename_all = "camelCase")]
pub struct ProblemDetails {
    /// A URI naming the problem type: `urn:loopync:problem:<code>`.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for humans.
    pub detail: String,
    /// The stable, machine-readable code: branch on this.
    pub code: String,
    /// The request path this occurrence is about.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// For validation errors: every offending field.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldProblem>>,
    /// The request id (`X-Request-Id`), to quote when reporting the problem.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

/// An error answer: status, stable code, detail, and optionally the offending fields and a
/// `Retry-After`. Boxed: it is the error type of every handler, and `Result`s stay small.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {}: {}", .0.status.as_u16(), .0.code, .0.detail)]
pub struct Problem(Box<ProblemParts>);

#[derive(Debug, Clone)]
struct ProblemParts {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: String,
    instance: Option<String>,
    request_id: Option<String>,
    errors: Vec<FieldProblem>,
    retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemParts {
            status,
            code: code.into(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: Vec::new(),
            retry_after: None,
        }))
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, detail)
    }

    /// 404 with the given code, e.g. `wallet_not_found`.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 500 `internal_error`. Log the cause before answering with this: the answer hides it.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            "the server failed to handle the request; it has been logged",
        )
    }

    /// 503 `service_unavailable` with `Retry-After`.
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, codes::SERVICE_UNAVAILABLE, detail)
            .with_retry_after(RETRY_AFTER_SECONDS)
    }

    /// Adds offending fields (validation errors).
    pub fn with_errors(mut self, errors: impl IntoIterator<Item = FieldProblem>) -> Self {
        self.0.errors.extend(errors);
        self
    }

    /// Adds a `Retry-After` header, in seconds.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// Sets `instance` (the request path), unless already set.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        if self.0.instance.is_none() {
            self.0.instance = Some(instance.into());
        }
        self
    }

    /// Sets the request id quoted in the body, unless already set.
    pub fn with_request_id(mut self, request_id: Option<&RequestId>) -> Self {
        if self.0.request_id.is_none() {
            self.0.request_id = request_id.map(|id| id.as_str().to_owned());
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }

    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    pub fn errors(&self) -> &[FieldProblem] {
        &self.0.errors
    }

    pub fn retry_after(&self) -> Option<u32> {
        self.0.retry_after
    }

    /// The body as it goes over the wire.
    pub fn details(&self) -> ProblemDetails {
        ProblemDetails {
            problem_type: format!("urn:loopync:problem:{}", self.0.code),
            title: self.0.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            code: self.0.code.to_string(),
            instance: self.0.instance.clone(),
            errors: (!self.0.errors.is_empty()).then(|| self.0.errors.clone()),
            request_id: self.0.request_id.clone(),
        }
    }

    fn to_response(&self) -> Response {
        let body = self.details().to_json().map(|json| json.to_string()).unwrap_or_default();
        let mut response =
            Response::builder().status(self.0.status).header(header::CONTENT_TYPE, PROBLEM_JSON).body(body);
        if let Some(seconds) = self.0.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    /// Converts any error of poem or poem-openapi into a problem: the one place where the
    /// framework's errors get their stable codes. A [`Problem`] returned by a handler comes
    /// back unchanged.
    pub fn from_poem_error(error: poem::Error) -> Self {
        let error = match error.downcast::<Problem>() {
            Ok(problem) => return problem,
            Err(error) => error,
        };
        if let Some(e) = error.downcast_ref::<poem_openapi::error::ParseParamError>() {
            return Self::from_param_error(e.name, &e.reason);
        }
        if let Some(e) = error.downcast_ref::<poem_openapi::error::ParsePathError>() {
            return Self::from_param_error(e.name, &e.reason);
        }
        if error.is::<poem_openapi::error::ParseRequestPayloadError>() {
            // The framework's reason names its own types; the body extractor says which
            // fields are wrong, this only happens for bodies it does not parse.
            return Self::invalid_request("the request body is not valid for this operation");
        }
        if error.is::<poem::error::NotFoundError>() {
            return Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "there is nothing at this path");
        }
        if error.is::<poem::error::MethodNotAllowedError>() {
            return Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "this path does not accept this method",
            );
        }
        let status = error.status();
        if status.is_server_error() {
            // Framework errors with a 5xx status are bugs or lost dependencies: log the cause,
            // never show it.
            tracing::error!(error = %error, status = status.as_u16(), "request failed inside the server");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return Self::service_unavailable("a dependency of the server is unavailable");
            }
            return Self::internal();
        }
        // poem's own 4xx messages describe the request, not the server: safe to show.
        Self::new(status, code_for_status(status), error.to_string())
    }

    /// 400 for a parameter that does not parse; the two headers with codes of their own get them.
    /// The framework's reason names Rust-side types, so the message is said again in plain words.
    pub(crate) fn from_param_error(name: &str, reason: &str) -> Self {
        let (code, detail) = match name {
            IDEMPOTENCY_KEY_HEADER => {
                (codes::INVALID_IDEMPOTENCY_KEY, "the Idempotency-Key header is invalid".to_owned())
            }
            POSITION_HEADER => (codes::INVALID_POSITION, "the Loopync-Position header is invalid".to_owned()),
            _ => (codes::INVALID_REQUEST, format!("the parameter `{name}` is invalid")),
        };
        let (field_code, message) = plain_param_reason(reason);
        Self::new(StatusCode::BAD_REQUEST, code, detail)
            .with_errors([FieldProblem::new(name, field_code, message)])
    }
}

/// A parameter's parse error in plain words, from the type the framework names in it.
fn plain_param_reason(reason: &str) -> (&'static str, &'static str) {
    use field_codes::*;
    let types = [
        ("uuid", "must be a UUID"),
        ("date-time", "must be an RFC 3339 timestamp"),
        ("integer", "must be an integer"),
        ("boolean", "must be true or false"),
    ];
    if reason.contains("expects an input value") || reason.contains("Expected input") {
        return (REQUIRED, "is required");
    }
    for (ty, message) in types {
        if reason.contains(ty) {
            return (INVALID_TYPE, message);
        }
    }
    (INVALID, "is not valid")
}

/// The code of a 4xx that no more specific rule named.
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => codes::INVALID_REQUEST,
        StatusCode::UNAUTHORIZED => codes::UNAUTHORIZED,
        StatusCode::FORBIDDEN => codes::FORBIDDEN,
        StatusCode::NOT_FOUND => codes::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => codes::METHOD_NOT_ALLOWED,
        StatusCode::NOT_ACCEPTABLE => codes::NOT_ACCEPTABLE,
        StatusCode::CONFLICT => codes::CONFLICT,
        StatusCode::LENGTH_REQUIRED => codes::LENGTH_REQUIRED,
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::TOO_MANY_REQUESTS => codes::TOO_MANY_REQUESTS,
        _ => codes::CLIENT_ERROR,
    }
}

impl<E: DomainProblem> From<CommandError<E>> for Problem {
    fn from(error: CommandError<E>) -> Self {
        match error {
            CommandError::Domain(refusal) => Self::new(refusal.status(), refusal.code(), refusal.to_string()),
            CommandError::Conflict { attempts } => Self::new(
                StatusCode::CONFLICT,
                codes::CONFLICT,
                format!("the command conflicted with concurrent changes {attempts} times; retry it"),
            ),
            CommandError::IdempotencyKeyReused { key } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::IDEMPOTENCY_KEY_REUSED,
                format!("the idempotency key `{key}` was already used for a different request"),
            ),
            CommandError::InvalidIdempotencyKey(reason) => Self::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_IDEMPOTENCY_KEY,
                "the Idempotency-Key header is invalid",
            )
            .with_errors([FieldProblem::new(
                IDEMPOTENCY_KEY_HEADER,
                field_codes::INVALID,
                reason,
            )]),
            CommandError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "event store unavailable");
            return Self::service_unavailable("the event store is unavailable");
        }
        match error {
            // What PostgreSQL said is read the same way for the event store as for read models.
            StoreError::Database(database) => database.into(),
            other => {
                tracing::error!(error = %other, "event store failed");
                Self::internal()
            }
        }
    }
}

/// PostgreSQL's errors, for the event store and the read models alike. The request is at
/// fault when PostgreSQL refused one of its values (SQLSTATE class 22, "data exception": a NUL
/// or an invalid byte sequence in text, a number out of range): 400. A moment's wait helps when
/// the database is unreachable, a statement ran past `statement_timeout` (57014), or a read
/// model is not built yet on a brand-new database (42P01, 3F000): 503. Anything else is ours.
impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        if loopync_commands::error::is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            return Self::service_unavailable("the database is unavailable");
        }
        let code = match &error {
            sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
            _ => None,
        };
        match code.as_deref() {
            Some(code) if code.starts_with("22") => {
                tracing::info!(%error, "the database refused a value of the request");
                Self::invalid_request(
                    "a value in the request cannot be stored (a NUL, say, or a number out of range)",
                )
            }
            Some("57014") => {
                tracing::warn!(%error, "a query ran past the statement timeout");
                Self::service_unavailable("the database took too long; try again shortly")
            }
            Some("42P01" | "3F000") => {
                tracing::warn!(%error, "a read model does not exist yet");
                Self::service_unavailable("the read models are being built; try again shortly")
            }
            _ => {
                tracing::error!(%error, "database query failed");
                Self::internal()
            }
        }
    }
}

impl poem::error::ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.0.status
    }

    fn as_response(&self) -> Response {
        self.to_response()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// Documents an operation that can fail with any 4xx or 5xx as a `Problem` (a 503 with
/// `Retry-After`). The product's operations declare their codes instead
/// ([`crate::refusals::Refused`]); this is for APIs that do not, such as the tests' samples.
impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        let content =
            || vec![MetaMediaType { content_type: PROBLEM_JSON, schema: ProblemDetails::schema_ref() }];
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The request was refused: malformed, invalid, not found, conflicting \
                                  or refused by a business rule. Branch on `code`.",
                    status: None,
                    status_range: Some("4XX".to_owned()),
                    content: content(),
                    headers: Vec::new(),
                },
                MetaResponse {
                    description: "The server failed (500) or a dependency is unavailable (503, with \
                                  `Retry-After`).",
                    status: None,
                    status_range: Some("5XX".to_owned()),
                    content: content(),
                    headers: vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds to wait before retrying (503 only).".to_owned()),
                        required: false,
                        deprecated: false,
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                            "integer", "int32",
                        ))),
                    }],
                },
            ],
        }
    }

    fn register(registry: &mut Registry) {
        ProblemDetails::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("not enough credits")]
    struct Broke;

    impl DomainProblem for Broke {
        fn status(&self) -> StatusCode {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        fn code(&self) -> &'static str {
            "insufficient_funds"
        }
    }

    #[test]
    fn command_errors_get_their_status_and_code() {
        let cases: Vec<(CommandError<Broke>, u16, &str)> = vec![
            (CommandError::Domain(Broke), 422, "insufficient_funds"),
            (CommandError::Conflict { attempts: 17 }, 409, codes::CONFLICT),
            (CommandError::IdempotencyKeyReused { key: "k".into() }, 422, codes::IDEMPOTENCY_KEY_REUSED),
            (CommandError::InvalidIdempotencyKey("too long".into()), 400, codes::INVALID_IDEMPOTENCY_KEY),
            (CommandError::Store(StoreError::WriterStopped), 503, codes::SERVICE_UNAVAILABLE),
            (CommandError::Store(StoreError::Database(sqlx::Error::RowNotFound)), 500, codes::INTERNAL_ERROR),
        ];
        for (error, status, code) in cases {
            let problem = Problem::from(error);
            assert_eq!((problem.status().as_u16(), problem.code()), (status, code));
        }
    }

    #[test]
    fn unavailability_says_when_to_retry_and_internal_errors_hide_their_cause() {
        let unavailable = Problem::from(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        assert_eq!(unavailable.retry_after(), Some(RETRY_AFTER_SECONDS));
        let response = unavailable.into_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));

        let internal = Problem::from(sqlx::Error::Protocol("secret table xyz is corrupt".into()));
        assert!(!internal.detail().contains("xyz"));
    }

    #[test]
    fn the_body_is_rfc_9457_with_a_stable_code() {
        let problem = Problem::invalid_request("bad")
            .with_errors([FieldProblem::new("amount", field_codes::REQUIRED, "is required")])
            .with_instance("/api/x");
        let response = problem.into_response();
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some(PROBLEM_JSON)
        );
        let details = Problem::invalid_request("bad").with_instance("/api/x").details();
        let json = details.to_json().unwrap_or_default();
        assert_eq!(json["type"], "urn:loopync:problem:invalid_request");
        assert_eq!(json["title"], "Bad Request");
        assert_eq!(json["status"], 400);
        assert_eq!(json["code"], "invalid_request");
        assert_eq!(json["instance"], "/api/x");
        assert!(json.get("errors").is_none(), "no empty errors list");
    }

    #[test]
    fn framework_errors_become_problems() {
        let not_found = Problem::from_poem_error(poem::error::NotFoundError.into());
        assert_eq!((not_found.status().as_u16(), not_found.code()), (404, codes::NOT_FOUND));
        let method = Problem::from_poem_error(poem::error::MethodNotAllowedError.into());
        assert_eq!(method.code(), codes::METHOD_NOT_ALLOWED);
        let media = Problem::from_poem_error(
            poem_openapi::error::ContentTypeError::NotSupported { content_type: "text/plain".into() }.into(),
        );
        assert_eq!((media.status().as_u16(), media.code()), (415, codes::UNSUPPORTED_MEDIA_TYPE));
        let param = Problem::from_poem_error(
            poem_openapi::error::ParsePathError { name: "id", reason: "not a uuid".into() }.into(),
        );
        assert_eq!(param.code(), codes::INVALID_REQUEST);
        assert_eq!(param.errors(), &[FieldProblem::new("id", field_codes::INVALID_TYPE, "must be a UUID")]);
        let key = Problem::from_poem_error(
            poem_openapi::error::ParseParamError { name: IDEMPOTENCY_KEY_HEADER, reason: "x".into() }.into(),
        );
        assert_eq!(key.code(), codes::INVALID_IDEMPOTENCY_KEY);
        let internal = Problem::from_poem_error(poem::Error::from_status(StatusCode::BAD_GATEWAY));
        assert_eq!(internal.code(), codes::INTERNAL_ERROR);
        let original = Problem::not_found("wallet_not_found", "no wallet");
        let back = Problem::from_poem_error(original.into());
        assert_eq!(back.code(), "wallet_not_found");
    }
}
