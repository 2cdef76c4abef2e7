//! The request body size limit.
//!
//! poem's own `SizeLimit` trusts `Content-Length` alone and answers 411 to a chunked body, so
//! this layer does both halves itself: a declared length over the limit is refused before a
//! byte is read, and a body without a declared length (chunked, or HTTP/2) is counted as it
//! streams in and cut off at the limit. The handler then sees a read error, whatever it makes
//! of it; the layer knows the real reason and answers 413 `payload_too_large` regardless, so an
//! oversize body never turns into a 400, and is never buffered beyond the limit.

use crate::problem::Problem;
use futures::StreamExt;
use poem::http::header;
use poem::{Body, Endpoint, Middleware, Request};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Refuses request bodies over `max_bytes` with 413.
pub(crate) struct BodyLimit {
    max_bytes: usize,
}

impl BodyLimit {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max_bytes: self.max_bytes }
    }
}

pub(crate) struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body exceeds the limit")]
struct BodyTooLarge;

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        match declared {
            Some(length) if length > self.max_bytes as u64 => {
                return Err(Problem::payload_too_large(self.max_bytes).into());
            }
            // hyper holds a body to its declared length: nothing more to count.
            Some(_) => return self.inner.call(request).await,
            None => {}
        }
        let body = request.take_body();
        if body.is_empty() {
            return self.inner.call(request).await;
        }

        let exceeded = Arc::new(AtomicBool::new(false));
        let max_bytes = self.max_bytes;
        let mut received = 0_usize;
        let flag = exceeded.clone();
        let counted = body.into_bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            received = received.saturating_add(chunk.len());
            if received > max_bytes {
                flag.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other(BodyTooLarge));
            }
            Ok(chunk)
        });
        request.set_body(Body::from_bytes_stream(counted));

        let result = self.inner.call(request).await;
        if exceeded.load(Ordering::Relaxed) {
            return Err(Problem::payload_too_large(self.max_bytes).into());
        }
        result
    }
}
