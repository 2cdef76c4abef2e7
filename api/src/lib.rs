//! The HTTP edge of Loopync: poem + poem-openapi.
//!
//! - [`app`]: the app — feature APIs under `/api`, the OpenAPI document at
//!   `/api/openapi.json`, Swagger UI at `/docs`, `/health`, `/ready`, `/metrics` — and the
//!   layers every request goes through (request id, tracing, metrics, body limit, errors).
//! - [`problem`]: errors as RFC 9457 problem details with a stable `code`; [`DomainProblem`]
//!   maps a domain's refusals to HTTP, the only place where they are.
//! - [`auth`]: the caller, from a bearer token verified once per request, and the security
//!   scheme every protected endpoint takes.
//! - [`consistency`]: read-your-writes (per session, automatic and shared between nodes; and
//!   `Loopync-Position`, `Loopync-Consistency`) and the command context of a request
//!   (`Idempotency-Key`, correlation id).
//! - [`json`]: [`JsonBody`], a JSON request body whose errors name the offending fields.
//! - [`state`]: [`AppState`] shared by handlers and [`ApiConfig`].
//! - [`identity`]: accounts, sign-in, tokens, sessions, profiles and roles.
//! - [`looppay`]: the wallet — top-ups (with provider webhooks), transfers, payments,
//!   refunds, balances, transactions and ledger history.
//! - [`request_id`], [`metrics`], [`serve`]: request ids, the Prometheus recorder, serving
//!   with graceful shutdown.
//! - The API contract, written once ([`contract`]): [`timestamp`] (one format for instants),
//!   [`refusals`] (each operation's error codes as enums), one success status per operation
//!   ([`Created`], [`Applied`], [`Done`], [`Answer`], [`ReadResponse`]), and the request
//!   extractors [`command_request`] (caller, `Idempotency-Key`, request id) and [`pagination`]
//!   (`limit`, `cursor`).
//!
//! A feature endpoint, end to end:
//!
//! ```ignore
//! refusals!(TopUpRefusals, "TopUp", |set| set.signed_in().body().idempotent()
//!     .with(400, &[INVALID_AMOUNT]));
//!
//! #[oai(path = "/wallets/:id/top-ups", method = "post")]
//! async fn top_up(
//!     &self,
//!     #[oai(name = "Idempotency-Key")] command: CommandRequest,
//!     /// The wallet.
//!     id: Path<Uuid>,
//!     body: JsonBody<TopUp>,
//! ) -> Result<Created<Balance>, Refused<TopUpRefusals>> {
//!     let outcome = self.state.pipeline.execute::<Wallet>(id.0, body.0.into(), &command.context()).await?;
//!     Ok(Created::new(Balance::from(&outcome.events), outcome.position))
//! }
//!
//! #[oai(path = "/wallets/:id", method = "get")]
//! async fn wallet(
//!     &self,
//!     auth: BearerAuth,
//!     /// The wallet.
//!     id: Path<Uuid>,
//!     #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
//! ) -> Result<ReadResponse<Wallet>, Refused<WalletRefusals>> {
//!     let freshness = self
//!         .state
//!         .wait_for_position(Some(&auth.0), position.0.as_deref(), &[WalletBalances::NAME])
//!         .await?;
//!     let wallet = queries::wallet(&self.state.pool, id.0).await?
//!         .ok_or_else(|| Problem::not_found("wallet_not_found", "no such wallet"))?;
//!     Ok(ReadResponse::ok(wallet, freshness))
//! }
//! ```

pub mod app;
pub mod auth;
mod body_limit;
pub mod client_address;
pub mod command_request;
pub mod consistency;
pub mod contract;
pub mod feature;
pub mod features;
pub mod identity;
pub mod json;
pub mod looppay;
pub mod metrics;
pub mod notifications;
pub mod pagination;
pub mod problem;
mod problem_layer;
pub mod rate_limit;
pub mod realtime;
pub mod refusals;
pub mod request_id;
mod request_timeout;
mod routes;
pub mod serve;
pub mod social;
pub mod state;
mod system;
mod telemetry;
pub mod timestamp;

pub use app::{FeatureApis, app, feature_apis, openapi_service};
pub use auth::{BearerAuth, Caller};
pub use client_address::{IpNet, TrustedProxies, client_ip, parse_network};
pub use command_request::{CommandRequest, WithoutKey};
pub use consistency::{
    Answer, Applied, CommandResponse, Created, Done, Freshness, ReadResponse, SessionConsistencyConfig,
    SessionPositions, command_context, parse_position,
};
pub use feature::{Feature, Job, JobContext};
pub use features::FeatureSettings;
pub use json::JsonBody;
pub use pagination::{PageCursor, PageLimit, Pagination};
pub use problem::{DomainProblem, FieldProblem, Problem, ProblemDetails, codes, field_codes};
pub use rate_limit::{Budget, RateLimitClass, RateLimitConfig};
pub use refusals::{RefusalSet, Refusals, Refused};
pub use request_id::RequestId;
pub use serve::{bind, local_addr, serve};
pub use state::{ApiConfig, AppState, Delivery};
pub use timestamp::Timestamp;
