//! The one place where errors and panics become `application/problem+json` answers.
//!
//! Every endpoint of the app is wrapped by this layer, so nothing reaches a client as poem's
//! default plain-text error: handler problems pass through with the request's path and id
//! added, framework errors get their stable code from [`Problem::from_poem_error`], and a
//! panicking handler is caught (the connection survives), logged with its message, and
//! answered with a 500 `internal_error`.

use crate::problem::Problem;
use crate::request_id::RequestId;
use crate::routes::DocumentedRoutes;
use futures::FutureExt;
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response};
use poem_openapi::error::ParsePathError;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

pub(crate) struct ProblemLayer {
    routes: Arc<DocumentedRoutes>,
}

impl ProblemLayer {
    pub(crate) fn new(routes: Arc<DocumentedRoutes>) -> Self {
        Self { routes }
    }
}

impl<E: Endpoint> Middleware<E> for ProblemLayer {
    type Output = ProblemEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ProblemEndpoint { inner, routes: self.routes.clone() }
    }
}

pub(crate) struct ProblemEndpoint<E> {
    inner: E,
    routes: Arc<DocumentedRoutes>,
}

impl<E: Endpoint> Endpoint for ProblemEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let path = request.uri().path().to_owned();
        let request_id = request.data::<RequestId>().cloned();

        // AssertUnwindSafe: after a panic nothing of the request is reused; shared state is
        // behind locks and atomics that stay consistent (or poisoned, which they handle).
        let outcome = AssertUnwindSafe(self.inner.call(request)).catch_unwind().await;
        let (problem, pattern) = match outcome {
            Ok(Ok(output)) => return Ok(output.into_response()),
            Ok(Err(error)) => {
                let pattern = error.data::<PathPattern>().cloned();
                (self.problem(error, pattern.as_ref()), pattern)
            }
            Err(panic) => {
                tracing::error!(panic = panic_message(panic.as_ref()), "handler panicked");
                (Problem::internal(), None)
            }
        };
        // RFC 9110: a 405 says which methods the path accepts.
        let allow = (problem.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED)
            .then(|| self.routes.allowed(pattern.as_ref().map(|p| &*p.0), &path))
            .flatten();
        let mut response = problem.with_instance(path).with_request_id(request_id.as_ref()).into_response();
        if let Some(allow) = allow.and_then(|allow| poem::http::HeaderValue::from_str(&allow).ok()) {
            response.headers_mut().insert(poem::http::header::ALLOW, allow);
        }
        if let Some(pattern) = pattern {
            // Keeps the route label of the HTTP metrics for failed requests too.
            response.set_data(pattern);
        }
        Ok(response)
    }
}

impl<E> ProblemEndpoint<E> {
    fn problem(&self, error: poem::Error, pattern: Option<&PathPattern>) -> Problem {
        // A path parameter is reported by its documented name (`id`), not poem-openapi's
        // internal one (`param0`).
        if let Some(parse) = error.downcast_ref::<ParsePathError>()
            && let Some(name) = pattern.and_then(|p| self.routes.param_name(&p.0, parse.name))
        {
            return Problem::from_param_error(name, &parse.reason);
        }
        Problem::from_poem_error(error)
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "non-string panic payload"
    }
}
