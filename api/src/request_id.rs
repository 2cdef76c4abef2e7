//! Request ids: one per request, in every log line, problem body and event it causes.
//!
//! A client (or a proxy in front of us) may send its own `X-Request-Id` so that its logs and
//! ours line up; it is accepted when it is short and made of characters that are safe to log
//! and echo, and replaced by a fresh UUIDv7 otherwise. The id is echoed in the response's
//! `X-Request-Id`, recorded in the request's tracing span, and becomes the correlation id of
//! the events a command appends ([`crate::consistency::command_context`]).

use poem::{FromRequest, Request, RequestBody};
use std::fmt;
use uuid::Uuid;

/// The header that carries the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// Longest client-supplied id we keep; a UUID is 36 characters, a W3C trace id 32.
const MAX_LEN: usize = 128;

/// The id of one request. Handlers take it as an argument (it is a poem extractor).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    /// A client's id, if it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :`: nothing that
    /// could forge a log line, break a header or blow up a log index.
    pub fn accept(value: &str) -> Option<Self> {
        let sane = !value.is_empty()
            && value.len() <= MAX_LEN
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        sane.then(|| Self(value.to_owned()))
    }

    /// The client's id from the request headers, or a fresh one.
    pub fn for_request(request: &Request) -> Self {
        request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::accept)
            .unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id the telemetry layer assigned; outside the app (a handler called directly in a unit
/// test) a fresh one, so handlers never have to cope with its absence.
impl<'a> FromRequest<'a> for RequestId {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(request.data::<RequestId>().cloned().unwrap_or_else(RequestId::generate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_client_ids_are_kept_and_others_replaced() {
        assert_eq!(RequestId::accept("abc-123_x.y:z").map(|id| id.0), Some("abc-123_x.y:z".to_owned()));
        assert!(RequestId::accept("").is_none());
        assert!(RequestId::accept("has space").is_none());
        assert!(RequestId::accept("line\nbreak").is_none());
        assert!(RequestId::accept(&"a".repeat(129)).is_none());
        assert!(RequestId::accept(&"a".repeat(128)).is_some());
        assert_eq!(RequestId::generate().as_str().len(), 36);
    }
}
