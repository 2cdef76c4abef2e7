//! A deadline for every request: a handler still working after `ApiConfig::request_timeout`
//! is dropped and the client gets 503 `service_unavailable` with `Retry-After`.
//!
//! Every slow path has a bound of its own (the read statement timeout, the read-your-writes
//! wait, the bcrypt queue, the pool's acquire timeout); this one bounds what they do not
//! foresee, so a stuck dependency cannot pile up requests, and their memory and connections,
//! without end. A command cut off may still commit (its append was under way): the answer says
//! so, and a retry with the same `Idempotency-Key` tells which.
//!
//! The WebSocket upgrade answers at once; the socket it opens lives outside the request and is
//! not bounded by this.

use crate::problem::Problem;
use poem::{Endpoint, Middleware, Request};
use std::time::Duration;

pub(crate) struct RequestTimeout {
    limit: Duration,
}

impl RequestTimeout {
    pub(crate) fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<E: Endpoint> Middleware<E> for RequestTimeout {
    type Output = RequestTimeoutEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestTimeoutEndpoint { inner, limit: self.limit }
    }
}

pub(crate) struct RequestTimeoutEndpoint<E> {
    inner: E,
    limit: Duration,
}

impl<E: Endpoint> Endpoint for RequestTimeoutEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, request: Request) -> poem::Result<Self::Output> {
        let path = request.uri().path().to_owned();
        match tokio::time::timeout(self.limit, self.inner.call(request)).await {
            Ok(answer) => answer,
            Err(_) => {
                metrics::counter!("loopync_http_timeouts_total").increment(1);
                tracing::warn!(%path, limit_ms = self.limit.as_millis() as u64, "a request ran out of time");
                Err(Problem::service_unavailable(format!(
                    "the request took longer than {} ms; a command may still have been applied: \
                     retry it with the same Idempotency-Key",
                    self.limit.as_millis()
                ))
                .into())
            }
        }
    }
}
