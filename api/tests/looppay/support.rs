//! The LoopPay test app: the product's feature APIs (`loopync_api::feature_apis`) served on a real
//! socket (port 0) against the test's own database, with the read models LoopPay's reads need
//! (`UserProfiles`, `UserSessions`, `LedgerReadModel`) built by a projection runner, and
//! helpers to sign up, promote, move money and read the ledger back from the event store.
//!
//! bcrypt runs at cost 4 and the request rate limits are off: these tests sign up many users
//! and send far more requests than a person would.
//!
//! Most tests run under `#[sqlx::test]` (a fresh database per test, a current-thread runtime).
//! The concurrency tests need a multi-threaded runtime, which `sqlx::test` does not offer; they
//! use [`TestDb`], a database of their own created and dropped around the test.

use chrono::{DateTime, SecondsFormat, Utc};
use loopync_api::identity::{AuthConfig, JwtSecret};
use loopync_api::looppay::{LoopPayConfig, ProviderChoice};
use loopync_api::realtime::RealtimeConfig;
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig, SessionConsistencyConfig};
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, AccountCommand};
use loopync_domain::looppay::{TopUpLimits, Wallet, WalletEvent, verify_chain};
use loopync_projections::identity::{UserProfiles, UserSessions};
use loopync_projections::looppay::LedgerReadModel;
use loopync_projections::{CheckpointBoard, Consistency, LogWaker, Projection};
use loopync_schemas::{Position, RECORDED_EVENT_COLUMNS, RecordedEvent};
use loopync_workers::{ProjectionRunner, RunnerConfig};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The access-token signing secret of every test app (shared, so two nodes accept each
/// other's tokens).
pub const JWT_SECRET: &str = "looppay-tests-signing-secret-0123456789abcdef";

/// The body limit of the test apps: small, so oversize bodies are cheap to send.
pub const TEST_BODY_LIMIT: usize = 64 * 1024;

/// The webhook secret of the webhook-provider test apps.
pub const WEBHOOK_SECRET: &str = "whsec_looppay_tests_0123456789";

/// The checkout page of the webhook-provider test apps.
pub const CHECKOUT_URL: &str = "https://pay.example.test/checkout/{topUpId}";

pub const PASSWORD: &str = "correct horse battery";

/// How long the tests wait for projections.
pub const PROJECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of one test app.
#[derive(Clone)]
pub struct Options {
    pub looppay: LoopPayConfig,
    /// Given to the projection runner, which publishes live updates on it.
    pub nats: Option<async_nats::Client>,
    /// Run a projection runner (one node of a pair runs none).
    pub projections: bool,
    /// Start the WebSocket gateway (needs `nats`) with these settings.
    pub realtime: Option<RealtimeConfig>,
    /// Read-your-writes per session (on by default, as in production).
    pub session_consistency: SessionConsistencyConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            looppay: LoopPayConfig::default(),
            nats: None,
            projections: true,
            realtime: None,
            session_consistency: SessionConsistencyConfig::default(),
        }
    }
}

impl Options {
    /// The webhook provider with [`WEBHOOK_SECRET`] and [`CHECKOUT_URL`].
    pub fn webhook() -> Self {
        let mut options = Self::default();
        options.looppay.provider = ProviderChoice::Webhook {
            secret: WEBHOOK_SECRET.to_owned(),
            checkout_url: Some(CHECKOUT_URL.to_owned()),
        };
        options
    }

    pub fn with_limits(mut self, per_top_up: i64, daily: i64) -> Self {
        self.looppay.limits = TopUpLimits { per_top_up, daily };
        self
    }
}

/// A running app; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub pool: PgPool,
    /// Every SMS the app sent (sign-in codes).
    pub sms: RecordingSmsSender,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(hub) = &self.state.realtime {
            hub.stop();
        }
    }
}

/// A signed-up user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
    pub refresh: String,
}

/// An answer, read in full: status, body, and the headers the tests look at.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `METHOD path`, for assertion messages.
    pub what: String,
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub content_type: Option<String>,
    /// `Loopync-Position`.
    pub position: Option<String>,
    /// `Loopync-Consistency`.
    pub consistency: Option<String>,
}

impl Reply {
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

    /// Asserts a problem+json answer with `status` and `code`, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status of {}: {}", self.what, self.text);
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "{}: {}",
            self.what,
            self.text
        );
        assert_eq!(self.body["status"], status, "{}: {}", self.what, self.text);
        assert_eq!(self.body["code"], code, "{}: {}", self.what, self.text);
        assert_eq!(self.body["type"], format!("urn:loopync:problem:{code}"), "{}", self.text);
        assert!(self.body["detail"].is_string(), "{}", self.text);
        assert!(self.position.is_none(), "{}: a refusal names no position", self.what);
        &self.body
    }

    /// Asserts a problem that names `field` among its `errors`.
    #[track_caller]
    pub fn field_problem(&self, status: u16, code: &str, field: &str) -> &Value {
        let body = self.problem(status, code);
        let fields = error_fields(body);
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

/// The `field`s of a problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The auth settings of the test apps: bcrypt cost 4, a known JWT secret.
pub fn auth_config() -> AuthConfig {
    AuthConfig { bcrypt_cost: 4, jwt_secret: JwtSecret::new(JWT_SECRET), ..AuthConfig::default() }
}

/// Serves the app with the default settings (dev provider), read models running.
pub async fn spawn(pool: &PgPool) -> TestApp {
    spawn_with(pool, Options::default()).await
}

/// Serves the app with `options`: a node with a command pipeline and event store of its own.
pub async fn spawn_with(pool: &PgPool, options: Options) -> TestApp {
    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store.clone(), PipelineConfig::default()));
    let config = ApiConfig {
        max_body_bytes: TEST_BODY_LIMIT,
        // Generous: a loaded machine must not turn fresh reads stale.
        read_your_writes_timeout: Duration::from_secs(20),
        auth: auth_config(),
        rate_limits: RateLimitConfig {
            anonymous_per_minute: 0,
            authenticated_per_minute: 0,
            sign_in_per_minute: 0,
        },
        looppay: options.looppay.clone(),
        realtime: options.realtime.clone().unwrap_or_default(),
        session_consistency: options.session_consistency.clone(),
        ..ApiConfig::default()
    };
    let sms = RecordingSmsSender::new();
    let delivery = Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(sms.clone()) };
    let state = AppState::new(
        pool.clone(),
        pipeline,
        CheckpointBoard::new(pool.clone()),
        options.nats.clone(),
        config,
        delivery,
    )
    .unwrap_or_else(|e| panic!("state: {e}"));
    let state = match options.realtime {
        Some(_) => state.with_realtime().await.unwrap_or_else(|e| panic!("realtime: {e}")),
        None => state,
    };
    // As `serve` does: hear the other nodes' sessions' positions before serving.
    if options.nats.is_some() && options.session_consistency.enabled {
        let shared = state.session_positions.shared(Duration::from_secs(10)).await;
        assert!(shared, "sessions' positions are not shared over NATS");
    }

    let acceptor = loopync_api::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = loopync_api::local_addr(&acceptor).unwrap_or_else(|| panic!("no local address"));
    let endpoint = loopync_api::app(state.clone(), loopync_api::feature_apis(&state));
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let stopped = signal.cancelled_owned();
        loopync_api::serve(acceptor, endpoint, stopped, Duration::from_secs(5)).await
    });

    if options.projections {
        let projections: Vec<Arc<dyn Projection>> =
            vec![Arc::new(UserProfiles), Arc::new(UserSessions), Arc::new(LedgerReadModel)];
        let waker = LogWaker::new(pool.clone(), Some(store.commits()));
        let runner = ProjectionRunner::new(
            pool.clone(),
            projections,
            waker,
            state.checkpoints.clone(),
            options.nats.clone(),
            RunnerConfig::default(),
        );
        tokio::spawn(runner.run(shutdown.clone()));
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    TestApp { addr, client, state, pool: pool.clone(), sms, shutdown }
}

/// NATS at `NATS_URL`.
pub async fn nats() -> async_nats::Client {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    async_nats::connect(&url).await.unwrap_or_else(|e| panic!("NATS at {url}: {e}"))
}

/// Sends `request` and reads the answer in full.
pub async fn send(what: String, request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = header("content-type");
    let position = header("loopync-position");
    let consistency = header("loopync-consistency");
    let text = response.text().await.unwrap_or_else(|e| panic!("{what}: body: {e}"));
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { what, status, body, text, content_type, position, consistency }
}

/// A pipeline and event store of its own, as a separate worker process has (no group commit:
/// a trickle of appends).
pub fn standalone_pipeline(pool: &PgPool) -> CommandPipeline {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
    CommandPipeline::new(Arc::new(store), PipelineConfig::default())
}

/// A fresh unique suffix for emails and handles.
pub fn unique() -> String {
    Uuid::now_v7().simple().to_string()[18..].to_owned()
}

/// A fresh idempotency key.
pub fn key() -> String {
    format!("key-{}", Uuid::now_v7())
}

/// An instant as an RFC 3339 query value (UTC, `Z`, so nothing needs escaping).
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `request` and reads the answer in full.
    pub async fn send(&self, what: String, request: reqwest::RequestBuilder) -> Reply {
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

    /// POSTs a raw body (possibly not JSON) as `application/json`.
    pub async fn post_raw(&self, token: Option<&str>, path: &str, body: impl Into<String>) -> Reply {
        let mut request =
            self.client.post(self.url(path)).header("content-type", "application/json").body(body.into());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(format!("POST {path}"), request).await
    }

    /// A GET as `token`, sending `position` as `Loopync-Position` (read-your-writes).
    pub async fn get(&self, token: &str, path: &str, position: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path)).bearer_auth(token);
        if let Some(position) = position {
            request = request.header("Loopync-Position", position);
        }
        self.send(format!("GET {path}"), request).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value, key: Option<&str>) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), key).await
    }

    // -- identity --------------------------------------------------------------------------

    /// Signs up a new user; panics unless 201.
    pub async fn signup(&self) -> User {
        let suffix = unique();
        let handle = format!("u{suffix}");
        let body = json!({
            "email": format!("{handle}@example.com"),
            "password": PASSWORD,
            "name": handle,
            "handle": handle,
        });
        let reply = self.call(Method::POST, "/api/auth/signup", None, Some(&body), None).await;
        let body = reply.expect(201);
        User {
            id: uuid(&body["user"]["id"]),
            token: string(&body["token"]),
            refresh: string(&body["refreshToken"]),
        }
    }

    /// Sets a user's role directly through the pipeline, as a founder would.
    pub async fn set_role(&self, user_id: Uuid, role: Role) {
        self.state
            .pipeline
            .execute::<Account>(
                user_id,
                AccountCommand::ChangeRole { role, by: Role::Founder },
                &CommandContext::actor("looppay-tests"),
            )
            .await
            .unwrap_or_else(|e| panic!("role change: {e}"));
    }

    /// Makes `user` a `role` and refreshes its tokens, so the access token carries the role.
    pub async fn promote(&self, user: &mut User, role: Role) {
        self.set_role(user.id, role).await;
        let body = json!({"refreshToken": user.refresh});
        let reply = self.call(Method::POST, "/api/auth/refresh", None, Some(&body), None).await;
        let body = reply.expect(200);
        user.token = string(&body["token"]);
        user.refresh = string(&body["refreshToken"]);
    }

    // -- LoopPay ---------------------------------------------------------------------------

    pub async fn top_up(&self, user: &User, amount: i64, key: Option<&str>) -> Reply {
        self.post(&user.token, "/api/looppay/topup", &json!({"amount": amount}), key).await
    }

    pub async fn transfer(
        &self,
        user: &User,
        to: Uuid,
        amount: i64,
        note: Option<&str>,
        key: Option<&str>,
    ) -> Reply {
        let mut body = json!({"to": to, "amount": amount});
        if let Some(note) = note {
            body["note"] = json!(note);
        }
        self.post(&user.token, "/api/looppay/transfer", &body, key).await
    }

    pub async fn pay(&self, user: &User, to: &str, amount: i64, reference: &str, key: Option<&str>) -> Reply {
        let body = json!({"to": to, "amount": amount, "reference": reference});
        self.post(&user.token, "/api/looppay/pay", &body, key).await
    }

    pub async fn refund(
        &self,
        user: &User,
        payment_id: Uuid,
        amount: Option<i64>,
        key: Option<&str>,
    ) -> Reply {
        let body = match amount {
            Some(amount) => json!({"amount": amount, "reason": "returned"}),
            None => json!({"reason": "returned"}),
        };
        self.post(&user.token, &format!("/api/looppay/payments/{payment_id}/refund"), &body, key).await
    }

    /// A new user with `amount` topped up (dev provider); returns the top-up's position.
    pub async fn funded(&self, amount: i64) -> (User, String) {
        let user = self.signup().await;
        let reply = self.top_up(&user, amount, None).await;
        let body = reply.created();
        assert_eq!(body["status"], "confirmed", "{}", reply.text);
        (user, reply.pos())
    }

    /// `(available, held)` from `GET /balance`, fresh as of `position`.
    pub async fn balance(&self, user: &User, position: &str) -> (i64, i64) {
        let reply = self.get(&user.token, "/api/looppay/balance", Some(position)).await;
        let body = reply.fresh();
        assert_eq!(body["currency"], "LOOP", "{}", reply.text);
        (int(&body["available"]), int(&body["held"]))
    }

    /// The caller's transactions (`query` without `?`), fresh as of `position`.
    pub async fn transactions(&self, user: &User, query: &str, position: &str) -> Reply {
        let path = if query.is_empty() {
            "/api/looppay/transactions".to_owned()
        } else {
            format!("/api/looppay/transactions?{query}")
        };
        self.get(&user.token, &path, Some(position)).await
    }

    /// Waits until the ledger read model has passed every event committed now.
    pub async fn caught_up(&self) {
        caught_up(&self.state.checkpoints, &self.pool).await;
    }
}

/// Waits until every read model of the test app (profiles, sessions, ledger; their progress
/// `board` follows) has passed every event committed now, so none of their live updates for
/// what came before can still arrive. (Not the log's readable head: that stops short of events committed while an
/// older transaction, such as a projection batch, is still open.)
pub async fn caught_up(board: &CheckpointBoard, pool: &PgPool) {
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .unwrap_or_else(|e| panic!("last position: {e}"));
    let Some((transaction_id, global_position)) = last else { return };
    let last = Position::new(transaction_id, global_position);
    let projections = [UserProfiles::NAME, UserSessions::NAME, LedgerReadModel::NAME];
    let reached = board.wait_for(&projections, last, PROJECTION_TIMEOUT).await;
    assert_eq!(reached, Consistency::Reached, "the read models did not reach {last}");
}

/// The latest position named by any of `replies` (panics when none names one).
#[track_caller]
pub fn latest(replies: &[Reply]) -> String {
    replies
        .iter()
        .filter_map(|reply| reply.position.as_deref())
        .filter_map(|token| token.parse::<Position>().ok())
        .max()
        .map(|position| position.to_string())
        .unwrap_or_else(|| panic!("no reply names a position"))
}

/// A JSON string value (panics otherwise).
#[track_caller]
pub fn string(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_owned()
}

/// A JSON uuid value (panics otherwise).
#[track_caller]
pub fn uuid(value: &Value) -> Uuid {
    Uuid::parse_str(&string(value)).unwrap_or_else(|e| panic!("not a uuid: {value}: {e}"))
}

/// A JSON integer (panics otherwise).
#[track_caller]
pub fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("not an integer: {value}"))
}

// -- the event store, read back ------------------------------------------------------------

/// Events in the store: refused requests must leave this unchanged.
pub async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Events of one type in the store.
pub async fn events_of_type(pool: &PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every wallet stream's events, decoded, by account (`wallet-<account>`), in stream order.
pub async fn wallet_streams(pool: &PgPool) -> BTreeMap<String, Vec<(RecordedEvent, WalletEvent)>> {
    let rows: Vec<RecordedEvent> = sqlx::query_as(&format!(
        "SELECT {RECORDED_EVENT_COLUMNS} FROM events WHERE stream_name LIKE 'wallet-%' \
         ORDER BY stream_name, stream_version"
    ))
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("wallet events: {e}"));
    let mut streams: BTreeMap<String, Vec<(RecordedEvent, WalletEvent)>> = BTreeMap::new();
    for recorded in rows {
        let event: WalletEvent =
            recorded.decode().unwrap_or_else(|e| panic!("{} is not a wallet event: {e}", recorded.event_id));
        let account = recorded.stream_name.trim_start_matches("wallet-").to_owned();
        streams.entry(account).or_default().push((recorded, event));
    }
    streams
}

/// Every wallet replayed from the event store: its chain verified (sequence, links, hashes,
/// balances following from deltas, nothing negative) and its stream versions gapless.
pub async fn replay_wallets(pool: &PgPool) -> BTreeMap<String, Wallet> {
    let mut wallets = BTreeMap::new();
    for (account, events) in wallet_streams(pool).await {
        for (index, (recorded, _)) in events.iter().enumerate() {
            assert_eq!(recorded.stream_version, index as i64 + 1, "wallet-{account} has a gap");
        }
        let wallet = verify_chain(events.iter().map(|(_, event)| event))
            .unwrap_or_else(|(index, why)| panic!("wallet-{account} broken at event {index}: {why}"));
        wallets.insert(account, wallet);
    }
    wallets
}

/// One wallet replayed from the event store (a default wallet when it has no events).
pub async fn replay_wallet(pool: &PgPool, account: &str) -> Wallet {
    replay_wallets(pool).await.remove(account).unwrap_or_default()
}

// -- databases of their own, for multi-threaded tests ---------------------------------------

/// A database created for one test and migrated; [`TestDb::drop_database`] removes it.
pub struct TestDb {
    pub pool: PgPool,
    pub options: PgConnectOptions,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates and migrates a fresh database, with a pool of `connections`.
    pub async fn create(connections: u32) -> Self {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| panic!("DATABASE_URL must be set"));
        let name = format!("looppay_test_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| panic!("connect: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        let _ = admin.close().await;
        let options = PgConnectOptions::from_str(&url).unwrap_or_else(|e| panic!("url: {e}")).database(&name);
        let pool = Self::pool_on(&options, connections).await;
        loopync_schemas::MIGRATOR.run(&pool).await.unwrap_or_else(|e| panic!("migrate: {e}"));
        Self { pool, options, name, url }
    }

    /// Another pool on the same database (a second process has its own).
    pub async fn another_pool(&self, connections: u32) -> PgPool {
        Self::pool_on(&self.options, connections).await
    }

    async fn pool_on(options: &PgConnectOptions, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .unwrap_or_else(|e| panic!("pool: {e}"))
    }

    /// Closes the pool and drops the database (only called when the test passed, so a failing
    /// test's database stays for inspection).
    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&self.url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}
