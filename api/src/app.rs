//! The app: routes and the layers around them.
//!
//! ```text
//! Telemetry          request id, span, access log, HTTP metrics   (outermost: sees final answers)
//!  ProblemLayer      every error and panic → problem+json
//!   BodyLimit        413 past `max_body_bytes`, declared or streamed
//!    Authenticate    verifies the bearer token, once per request, for everything inside
//!     RateLimit      429 past the caller's budget (per user, or per IP when anonymous)
//!      RememberPositions  the position of a session's command, remembered for its next reads
//!       Route        /api/*            feature APIs (poem-openapi)
//!                    /api/ws           the WebSocket gateway (realtime)
//!                    /api/openapi.json the OpenAPI document
//!                    /api/asyncapi.json the AsyncAPI document of /api/ws
//!                    /docs             Swagger UI
//!                    /health /ready /metrics
//! ```

use crate::auth::Authenticate;
use crate::body_limit::BodyLimit;
use crate::client_address::ClientAddress;
use crate::consistency::sessions::RememberPositions;
use crate::contract::Documented;
use crate::identity::{AdminApi, AuthApi, UsersApi};
use crate::looppay::LoopPayApi;
use crate::notifications::NotificationsApi;
use crate::problem_layer::ProblemLayer;
use crate::rate_limit::{Budget, RateLimit, RateLimitClass};
use crate::realtime::{self, PresenceApi};
use crate::request_id::REQUEST_ID_HEADER;
use crate::request_timeout::RequestTimeout;
use crate::routes::DocumentedRoutes;
use crate::social::{FriendsApi, PostsApi};
use crate::state::AppState;
use crate::system;
use crate::telemetry::Telemetry;
use poem::{Endpoint, EndpointExt, Response, Route, get};
use poem_openapi::{ExtraHeader, OpenApi, OpenApiService};
use std::sync::Arc;

/// Where the feature APIs are mounted.
const API_PREFIX: &str = "/api";

/// Every feature API of the product, as `loopync serve` mounts them.
pub type FeatureApis =
    (AuthApi, UsersApi, AdminApi, LoopPayApi, PresenceApi, FriendsApi, PostsApi, NotificationsApi);

/// The product's feature APIs over `state`: what `serve` and the test apps mount alike.
pub fn feature_apis(state: &AppState) -> FeatureApis {
    (
        AuthApi::new(state),
        UsersApi::new(state),
        AdminApi::new(state),
        LoopPayApi::new(state),
        PresenceApi::new(state),
        FriendsApi::new(state),
        PostsApi::new(state),
        NotificationsApi::new(state),
    )
}

/// The OpenAPI service for `feature_apis`, as mounted under `/api`, with the parameters every
/// operation shares documented once ([`Documented`]).
pub fn openapi_service<T: OpenApi>(feature_apis: T) -> OpenApiService<Documented<T>, ()> {
    OpenApiService::new(Documented(feature_apis), "Loopync API", env!("CARGO_PKG_VERSION"))
        .description(
            "Loopync's HTTP API. Errors are `application/problem+json` (RFC 9457) with a stable \
             `code`. Commands accept an `Idempotency-Key` header and answer with the position \
             they reached in `Loopync-Position`. A session's reads reflect its own earlier \
             commands, on any node; a read that sends a position back reflects that one too. \
             Reads that waited say whether they reflect it (`Loopync-Consistency: fresh`) or \
             may not yet (`stale`).",
        )
        .server(API_PREFIX)
        .extra_request_header::<Option<String>, _>(ExtraHeader::new(REQUEST_ID_HEADER).description(
            "Optional id of this request (1–128 of `A-Za-z0-9-_.:`); one is generated otherwise.",
        ))
        .extra_response_header::<String, _>(
            ExtraHeader::new(REQUEST_ID_HEADER)
                .description("The id of this request, as logged by the server."),
        )
}

/// The whole HTTP app: `feature_apis` (one poem-openapi API or a tuple of them) under `/api`,
/// the spec, the docs, the operational endpoints, and the layers that give every answer a
/// request id, a log line, metrics, a body limit and problem+json errors. Installs the
/// Prometheus recorder on first use.
pub fn app<T: OpenApi + 'static>(
    state: AppState,
    feature_apis: T,
) -> impl Endpoint<Output = Response> + 'static {
    crate::metrics::install();
    let routes = Arc::new(DocumentedRoutes::of::<T>(API_PREFIX));
    let service = openapi_service(feature_apis);
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui();
    let max_body_bytes = state.config.max_body_bytes;
    let request_timeout = state.config.request_timeout;
    let rate_limits = state.config.rate_limits;
    let mut rate_limit_classes: Vec<RateLimitClass> =
        crate::features::all().iter().flat_map(|feature| feature.rate_limit_classes(&state.config)).collect();
    // `/ready` asks PostgreSQL several questions and `/metrics` renders every series: cheap
    // for a probe or a scraper, not for a flood. (`/health` answers from memory.)
    rate_limit_classes.push(RateLimitClass {
        name: "operations",
        paths: &["/ready", "/metrics"],
        per_minute: rate_limits.operations_per_minute,
        budget: Budget::PerAddress,
    });
    let trusted_proxies = state.config.trusted_proxies.clone();
    let session_positions = state.session_positions.clone();
    Route::new()
        .at("/health", get(system::health))
        .at("/ready", get(system::ready))
        .at("/metrics", get(system::prometheus))
        .at("/api/openapi.json", get(spec))
        .at("/api/asyncapi.json", get(realtime::asyncapi_document))
        .at("/api/ws", get(realtime::ws_endpoint))
        .nest(API_PREFIX, service)
        .nest("/docs", get(docs))
        .with(RememberPositions::new(session_positions))
        .with(RateLimit::new(rate_limits, rate_limit_classes))
        // Inside `data`: it reads the token keys from the app state. Outside the layers above,
        // which read the caller it verified.
        .with(Authenticate)
        .with(ClientAddress::new(trusted_proxies))
        .data(state)
        .with(BodyLimit::new(max_body_bytes))
        .with(RequestTimeout::new(request_timeout))
        .with(ProblemLayer::new(routes.clone()))
        .with(Telemetry::new(routes))
}
