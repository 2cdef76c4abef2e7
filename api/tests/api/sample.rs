//! The core's sample wallet as a feature API of this binary's own: top-ups, withdrawals and a
//! read over `loopync_domain::sample`, plus two endpoints that misbehave on purpose (a panic, a
//! slow answer). It exercises the HTTP edge (errors, limits, positions, shutdown) without
//! depending on any product feature.

use loopync_api::{
    AppState, CommandResponse, DomainProblem, JsonBody, Problem, ReadResponse, RequestId, command_context,
};
use loopync_commands::{CommandError, CommandOutcome};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError, SampleWalletEvent};
use loopync_projections::sample::SampleWalletBalances;
pub use loopync_testkit::Options;
use loopync_testkit::{TestApp, spawn_app_serving};
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Small enough that oversize bodies are cheap to send.
pub const TEST_BODY_LIMIT: usize = 4096;

/// The sample wallet's refusals over HTTP. A newtype because both the trait (`api`) and the
/// error (`domain`) are foreign here; real features implement `DomainProblem` inside `api`.
pub struct WalletRefusal(pub SampleWalletError);

impl std::fmt::Display for WalletRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl DomainProblem for WalletRefusal {
    fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    fn code(&self) -> &'static str {
        match self.0 {
            SampleWalletError::InsufficientFunds { .. } => "insufficient_funds",
            SampleWalletError::InvalidAmount(_) | SampleWalletError::Overflow => "invalid_amount",
        }
    }
}

/// A top-up or withdrawal.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct Movement {
    /// Minor units of Loop credits.
    pub amount: i64,
}

/// A wallet's balance right after a command.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct WalletBalance {
    pub wallet_id: Uuid,
    pub balance: i64,
    /// The position the command reached (also in `Loopync-Position`).
    pub position: Option<String>,
}

/// A wallet as its read model shows it.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct WalletView {
    pub wallet_id: String,
    pub balance: i64,
    pub operations: i64,
}

/// The test-only feature API.
pub struct SampleApi {
    pub state: AppState,
}

impl SampleApi {
    async fn execute(
        &self,
        id: Uuid,
        command: SampleWalletCommand,
        idempotency_key: Option<String>,
        request_id: &RequestId,
    ) -> Result<CommandResponse<WalletBalance>, Problem> {
        let context = command_context(request_id, idempotency_key);
        let outcome: CommandOutcome<Vec<SampleWalletEvent>> = self
            .state
            .pipeline
            .execute::<SampleWallet>(id, command, &context)
            .await
            .map_err(|error: CommandError<SampleWalletError>| error.map_domain(WalletRefusal))?;
        let balance = match outcome.events.last() {
            Some(SampleWalletEvent::ToppedUp(e)) => e.balance_after,
            Some(SampleWalletEvent::Withdrawn(e)) => e.balance_after,
            None => 0,
        };
        let position = outcome.position;
        Ok(CommandResponse::created(
            WalletBalance { wallet_id: id, balance, position: position.map(|p| p.to_string()) },
            position,
        ))
    }
}

#[OpenApi]
impl SampleApi {
    /// Tops a sample wallet up.
    #[oai(path = "/sample-wallets/:id/top-ups", method = "post")]
    async fn top_up(
        &self,
        id: Path<Uuid>,
        body: JsonBody<Movement>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        request_id: RequestId,
    ) -> Result<CommandResponse<WalletBalance>, Problem> {
        self.execute(
            id.0,
            SampleWalletCommand::TopUp { amount: body.0.amount },
            idempotency_key.0,
            &request_id,
        )
        .await
    }

    /// Withdraws from a sample wallet.
    #[oai(path = "/sample-wallets/:id/withdrawals", method = "post")]
    async fn withdraw(
        &self,
        id: Path<Uuid>,
        body: JsonBody<Movement>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        request_id: RequestId,
    ) -> Result<CommandResponse<WalletBalance>, Problem> {
        self.execute(
            id.0,
            SampleWalletCommand::Withdraw { amount: body.0.amount },
            idempotency_key.0,
            &request_id,
        )
        .await
    }

    /// A sample wallet from its read model.
    #[oai(path = "/sample-wallets/:id", method = "get")]
    async fn wallet(
        &self,
        id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<WalletView>, Problem> {
        let freshness =
            self.state.wait_for_position(None, position.0.as_deref(), &[SampleWalletBalances::NAME]).await?;
        let wallet = loopync_projections::sample::wallet(&self.state.pool, &id.0.to_string())
            .await?
            .ok_or_else(|| Problem::not_found("wallet_not_found", format!("there is no wallet {}", id.0)))?;
        Ok(ReadResponse::ok(
            WalletView {
                wallet_id: wallet.wallet_id,
                balance: wallet.balance,
                operations: wallet.operations,
            },
            freshness,
        ))
    }

    /// Panics, to prove panics become problems.
    #[oai(path = "/test/panic", method = "get")]
    async fn panic(&self) -> Result<Json<i64>, Problem> {
        panic!("a handler bug")
    }

    /// Answers after half a second, to have a request in flight during shutdown.
    #[oai(path = "/test/slow", method = "get")]
    async fn slow(&self) -> Json<i64> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Json(42)
    }
}

/// The sample app's settings: the small body limit, the sample wallets' read model on top of
/// the features' projections, and no projection runner (the tests that read turn it on).
pub fn options() -> Options {
    let mut options = Options { projections: false, ..Options::default() };
    options.config.max_body_bytes = TEST_BODY_LIMIT;
    options.extra_projections.push(Arc::new(SampleWalletBalances));
    options
}

/// Serves the sample API with `options` against the test's database.
pub async fn spawn(pool: &PgPool, options: Options) -> TestApp {
    spawn_app_serving(pool, options, |state| SampleApi { state: state.clone() }).await
}
