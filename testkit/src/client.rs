//! The HTTP client side of [`TestApp`]: requests anonymous or as someone, every answer read in
//! full into a [`Reply`].

use crate::app::TestApp;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// An answer, read in full: status, body (as text and as JSON), and headers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `METHOD path`, for assertion messages.
    pub what: String,
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    pub text: String,
    pub headers: HeaderMap,
    pub content_type: Option<String>,
    /// `Loopync-Position`.
    pub position: Option<String>,
    /// `Loopync-Consistency`.
    pub consistency: Option<String>,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    }

    /// Asserts `status` and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
        &self.body
    }

    /// Asserts a 201 with a `Loopync-Position`, and returns the body.
    #[track_caller]
    pub fn created(&self) -> &Value {
        self.expect(201);
        assert!(self.position.is_some(), "{}: no Loopync-Position", self.what);
        &self.body
    }

    /// Asserts a problem+json answer with `status` and `code` that names no position (a
    /// refusal changed nothing), and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        crate::problem::check_problem(self, status, code);
        assert!(self.position.is_none(), "{}: a refusal names no position", self.what);
        &self.body
    }

    /// Asserts a problem that names `field` among its `errors`.
    #[track_caller]
    pub fn field_problem(&self, status: u16, code: &str, field: &str) -> &Value {
        let body = self.problem(status, code);
        let fields = crate::error_fields(body);
        assert!(fields.iter().any(|f| f == field), "{}: expected field {field:?} in {fields:?}", self.what);
        body
    }

    /// Asserts 200 and, since a position was sent, that the read is fresh.
    #[track_caller]
    pub fn fresh(&self) -> &Value {
        self.expect(200);
        assert_eq!(self.consistency.as_deref(), Some("fresh"), "{}: not fresh", self.what);
        &self.body
    }

    /// The position this command reached (panics when there is none).
    #[track_caller]
    pub fn pos(&self) -> String {
        self.position.clone().unwrap_or_else(|| panic!("{}: no Loopync-Position", self.what))
    }
}

/// Sends `request` and reads the answer in full; `what` names it in assertion messages.
pub async fn send(what: String, request: reqwest::RequestBuilder) -> Reply {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("{what}: {error}"),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => panic!("{what}: body: {error}"),
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, position, consistency) =
        (header("content-type"), header("loopync-position"), header("loopync-consistency"));
    Reply { what, status, body, text, headers, content_type, position, consistency }
}

impl TestApp {
    /// Sends `request` and reads the answer in full.
    pub async fn send(&self, what: String, request: reqwest::RequestBuilder) -> Reply {
        send(what, request).await
    }

    /// Sends a request built by hand (headers a test sets itself), naming it by its method
    /// and path in assertion messages.
    pub async fn execute(&self, request: reqwest::RequestBuilder) -> Reply {
        let what = match request.try_clone().map(|copy| copy.build()) {
            Some(Ok(built)) => format!("{} {}", built.method(), built.url().path()),
            _ => "a request".to_owned(),
        };
        send(what, request).await
    }

    /// Any request with an optional bearer token, JSON body and idempotency key.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(format!("{method} {path}"), request).await
    }

    /// An anonymous GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None, None).await
    }

    /// A GET as `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, None).await
    }

    /// A GET as `token` that sends `position` as `Loopync-Position` (read-your-writes).
    pub async fn get_at(&self, token: &str, path: &str, position: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path)).bearer_auth(token);
        if let Some(position) = position {
            request = request.header("Loopync-Position", position);
        }
        self.send(format!("GET {path}"), request).await
    }

    /// An anonymous POST of `body`.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, None, Some(body), None).await
    }

    /// A POST of `body` as `token`.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), None).await
    }

    /// A command: a POST of `body` as `token`, with an optional idempotency key.
    pub async fn command(&self, token: &str, path: &str, body: &Value, key: Option<&str>) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), key).await
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body), None).await
    }

    pub async fn put_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body), None).await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None, None).await
    }

    /// POSTs a raw text (possibly not JSON) as `application/json`, with an optional bearer
    /// token and idempotency key.
    pub async fn post_raw(
        &self,
        token: Option<&str>,
        path: &str,
        body: impl Into<String>,
        key: Option<&str>,
    ) -> Reply {
        let mut request =
            self.client.post(self.url(path)).header("content-type", "application/json").body(body.into());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(format!("POST {path}"), request).await
    }
}

pub use crate::accounts::{DELIVERY_TIMEOUT, PASSWORD, User};
