//! The outermost layer: request id, tracing span, access log line and HTTP metrics.
//!
//! It sits outside the error layer so that what it logs and counts is what the client
//! received, problem responses included. Every log line emitted while handling a request is
//! inside the `request` span, so it carries `request_id`, `method` and `path`.

use crate::request_id::{REQUEST_ID_HEADER, RequestId};
use crate::routes::DocumentedRoutes;
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Assigns the request id, opens the request's span, logs and measures the answer.
pub(crate) struct Telemetry {
    routes: Arc<DocumentedRoutes>,
}

impl Telemetry {
    pub(crate) fn new(routes: Arc<DocumentedRoutes>) -> Self {
        Self { routes }
    }
}

impl<E: Endpoint> Middleware<E> for Telemetry {
    type Output = TelemetryEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TelemetryEndpoint { inner, routes: self.routes.clone() }
    }
}

pub(crate) struct TelemetryEndpoint<E> {
    inner: E,
    routes: Arc<DocumentedRoutes>,
}

impl<E: Endpoint> Endpoint for TelemetryEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let request_id = RequestId::for_request(&request);
        request.set_data(request_id.clone());
        let method = method_label(request.method());
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method,
            path = %request.uri().path(),
        );

        let result = self.inner.call(request).instrument(span.clone()).await;
        // The error layer inside answers every error itself; this is only a safety net.
        let mut response = match result {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };

        let status = response.status().as_u16();
        let latency = started.elapsed();
        // The route, not the path: ids in paths would make one series per resource.
        let route = match response.data::<PathPattern>() {
            Some(pattern) => match self.routes.route(&pattern.0) {
                Some(documented) => documented.path.clone(),
                None => pattern.0.to_string(),
            },
            None => "unmatched".to_owned(),
        };
        metrics::counter!(
            "loopync_http_requests_total",
            "method" => method, "route" => route.clone(), "status" => status.to_string()
        )
        .increment(1);
        metrics::histogram!("loopync_http_request_duration_seconds", "method" => method, "route" => route)
            .record(latency.as_secs_f64());

        if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let latency_ms = latency.as_secs_f64() * 1000.0;
        span.in_scope(|| {
            if status >= 500 {
                tracing::warn!(status, latency_ms, "request failed");
            } else {
                tracing::info!(status, latency_ms, "request finished");
            }
        });
        Ok(response)
    }
}

/// Standard methods by name; anything else is one label, so clients cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
