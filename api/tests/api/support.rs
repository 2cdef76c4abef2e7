//! The test app: a small API over the core's sample wallet, served on a real socket (port 0)
//! against the test's own database, plus an HTTP client and a raw-socket client for requests
//! reqwest will not send (chunked oversize bodies).

use loopync_api::RateLimitConfig;
use loopync_api::identity::AuthConfig;
use loopync_api::{
    ApiConfig, AppState, CommandResponse, Delivery, DomainProblem, JsonBody, Problem, ReadResponse,
    RequestId, command_context,
};
use loopync_commands::{
    CommandError, CommandOutcome, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig,
};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError, SampleWalletEvent};
use loopync_projections::sample::SampleWalletBalances;
use loopync_projections::{CheckpointBoard, LogWaker, Projection};
use loopync_workers::{ProjectionRunner, RunnerConfig};
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;
use sqlx::PgPool;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
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

/// The app's state over `pool`, and the store (for the projection runner's waker).
pub fn state(pool: &PgPool, nats: Option<async_nats::Client>) -> (AppState, Arc<PgEventStore>) {
    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store.clone(), PipelineConfig::default()));
    // A generous read-your-writes bound: a loaded CI machine must not turn fresh reads stale.
    let config = ApiConfig {
        max_body_bytes: TEST_BODY_LIMIT,
        read_your_writes_timeout: Duration::from_secs(10),
        auth: AuthConfig { bcrypt_cost: 4, ..AuthConfig::default() },
        // These tests send many requests from one address; rate limits have tests of their own.
        rate_limits: RateLimitConfig {
            anonymous_per_minute: 0,
            authenticated_per_minute: 0,
            sign_in_per_minute: 0,
        },
        ..ApiConfig::default()
    };
    let delivery =
        Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(RecordingSmsSender::new()) };
    let state =
        AppState::new(pool.clone(), pipeline, CheckpointBoard::new(pool.clone()), nats, config, delivery)
            .unwrap_or_else(|e| panic!("state: {e}"));
    (state, store)
}

/// A running app; stops (gracefully) when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub store: Arc<PgEventStore>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Signals shutdown and waits for the server to stop.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.unwrap_or_else(|e| panic!("server task: {e}")),
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// POSTs a JSON text (possibly malformed) as `application/json`.
    pub async fn post_json(
        &self,
        path: &str,
        body: &str,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request =
            self.client.post(self.url(path)).header("content-type", "application/json").body(body.to_owned());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Builds the sample wallets' read model in the background until the app is dropped.
    pub fn run_projections(&self) {
        let pool = self.state.pool.clone();
        let waker = LogWaker::new(pool.clone(), Some(self.store.commits()));
        let projections: Vec<Arc<dyn Projection>> = vec![Arc::new(SampleWalletBalances)];
        let runner = ProjectionRunner::new(
            pool,
            projections,
            waker,
            self.state.checkpoints.clone(),
            None,
            RunnerConfig::default(),
        );
        tokio::spawn(runner.run(self.shutdown.clone()));
    }
}

/// Log lines, as JSON, in a buffer tests can read.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Every line logged so far by any test of this binary.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}

/// The process's log subscriber, installed before the first app serves: a global one, because
/// a scoped one misses events when tests on other threads register the same callsites first.
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        if let Err(error) = tracing::subscriber::set_global_default(subscriber) {
            panic!("log subscriber: {error}");
        }
        logs
    })
}

/// Serves the sample API over `state` on a free port.
pub async fn spawn_with(state: AppState, store: Arc<PgEventStore>) -> TestApp {
    logs();
    let acceptor = loopync_api::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = loopync_api::local_addr(&acceptor).unwrap_or_else(|| panic!("no local address"));
    let endpoint = loopync_api::app(state.clone(), SampleApi { state: state.clone() });
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    let server = tokio::spawn(async move {
        let stopped = signal.cancelled_owned();
        loopync_api::serve(acceptor, endpoint, stopped, Duration::from_secs(5)).await
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    TestApp { addr, client, state, store, shutdown, server: Some(server) }
}

/// Serves the sample API against the test's database, without NATS.
pub async fn spawn_app(pool: &PgPool) -> TestApp {
    let (state, store) = state(pool, None);
    spawn_with(state, store).await
}

/// Events in the store: error paths must leave this unchanged.
pub async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts an answer is problem+json with `status` and `code`, and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status of {}", response.url());
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("problem body: {e}"));
    assert_problem_body(&body, status, code);
    body
}

pub fn assert_problem_body(body: &Value, status: u16, code: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], format!("urn:loopync:problem:{code}"), "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    assert!(body["requestId"].is_string(), "{body}");
}

/// The `field`s of a problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// An answer read off a raw socket.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

/// Sends `head` then `body` chunks as written, reads the answer until the server closes.
pub async fn raw_request(addr: SocketAddr, head: &str, chunks: &[Vec<u8>]) -> RawResponse {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
    // Write errors are tolerated: the server may answer (and close) before the whole body is in.
    let _ = socket.write_all(head.as_bytes()).await;
    for chunk in chunks {
        if socket.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server did not answer within 10 s");
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// `data` as one chunk of a chunked body.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut encoded = format!("{:x}\r\n", data.len()).into_bytes();
    encoded.extend_from_slice(data);
    encoded.extend_from_slice(b"\r\n");
    encoded
}
