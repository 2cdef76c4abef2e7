//! The app under test: one node (a command pipeline over an event store of its own, the HTTP
//! app on a real socket, a projection runner) against the test's database.
//!
//! bcrypt runs at cost 4 (the least it allows; production uses 12) and the request rate limits
//! are off by default: tests sign up and send far more often than a person would, and the rate
//! limits have tests of their own, which turn them on through [`Options::config`].

use crate::db::TestDb;
use loopync_api::identity::{AuthConfig, JwtSecret};
use loopync_api::looppay::ProviderChoice;
use loopync_api::realtime::RealtimeConfig;
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig};
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::looppay::TopUpLimits;
use loopync_projections::{CheckpointBoard, Consistency, LogWaker, Projection};
use loopync_schemas::Position;
use loopync_workers::{ProjectionRunner, RunnerConfig};
use poem_openapi::OpenApi;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The access-token signing secret of every test app: known, so tests can forge tokens, and
/// shared, so two nodes accept each other's tokens.
pub const JWT_SECRET: &str = "loopync-tests-signing-secret-0123456789abcdef";

/// The body limit of the test apps: small, so oversize bodies are cheap to send.
pub const TEST_BODY_LIMIT: usize = 64 * 1024;

/// The webhook secret of [`Options::webhook`].
pub const WEBHOOK_SECRET: &str = "whsec_looppay_tests_0123456789";

/// The checkout page of [`Options::webhook`].
pub const CHECKOUT_URL: &str = "https://pay.example.test/checkout/{topUpId}";

/// How long [`TestApp::caught_up`] waits for the projections.
const PROJECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of one test app.
#[derive(Clone)]
pub struct Options {
    /// The app's settings: body limit, read-your-writes, auth, rate limits, LoopPay, realtime.
    pub config: ApiConfig,
    /// Given to the app (readiness, sessions' positions) and to the projection runner, which
    /// publishes live updates on it.
    pub nats: Option<async_nats::Client>,
    /// Run a projection runner (one node of a pair may run none, as a node that leaves the
    /// projections to another does).
    pub projections: bool,
    /// Projections run on top of the features' (a test's own sample read model).
    pub extra_projections: Vec<Arc<dyn Projection>>,
    /// Start the WebSocket gateway (needs `nats`) with `config.realtime`.
    pub realtime: bool,
    /// Install the capturing log subscriber before serving (see [`crate::logs`]).
    pub capture_logs: bool,
}

impl Default for Options {
    fn default() -> Self {
        let config = ApiConfig {
            max_body_bytes: TEST_BODY_LIMIT,
            // Generous: a loaded machine must not turn fresh reads stale.
            read_your_writes_timeout: Duration::from_secs(20),
            auth: AuthConfig {
                bcrypt_cost: 4,
                jwt_secret: JwtSecret::new(JWT_SECRET),
                ..AuthConfig::default()
            },
            rate_limits: RateLimitConfig::off(),
            ..ApiConfig::default()
        };
        Self {
            config,
            nats: None,
            projections: true,
            extra_projections: Vec::new(),
            realtime: false,
            capture_logs: false,
        }
    }
}

impl Options {
    /// LoopPay with the webhook provider, [`WEBHOOK_SECRET`] and [`CHECKOUT_URL`].
    pub fn webhook() -> Self {
        let mut options = Self::default();
        options.config.looppay.provider = ProviderChoice::Webhook {
            secret: WEBHOOK_SECRET.to_owned(),
            checkout_url: Some(CHECKOUT_URL.to_owned()),
        };
        options
    }

    /// LoopPay's top-up limits.
    pub fn with_limits(mut self, per_top_up: i64, daily: i64) -> Self {
        self.config.looppay.limits = TopUpLimits { per_top_up, daily, ..self.config.looppay.limits };
        self
    }

    /// LoopPay's cap on top-ups waiting for the provider, per wallet.
    pub fn with_pending_top_ups(mut self, max: usize) -> Self {
        self.config.looppay.limits.pending = max;
        self
    }

    /// Identity's settings changed by `configure` (token lifetimes, code rules, lockouts).
    pub fn with_auth(mut self, configure: impl FnOnce(&mut AuthConfig)) -> Self {
        configure(&mut self.config.auth);
        self
    }

    /// NATS for the app and its projection runner.
    pub fn with_nats(mut self, nats: async_nats::Client) -> Self {
        self.nats = Some(nats);
        self
    }

    /// No projection runner on this node.
    pub fn without_projections(mut self) -> Self {
        self.projections = false;
        self
    }

    /// The WebSocket gateway with `config` (needs NATS).
    pub fn with_realtime(mut self, config: RealtimeConfig) -> Self {
        self.config.realtime = config;
        self.realtime = true;
        self
    }
}

/// A running app; stops (gracefully) when dropped or [`stopped`](TestApp::stop).
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub pool: PgPool,
    /// This node's event store (its commits wake the projection runner).
    pub store: Arc<PgEventStore>,
    /// Every mail the app sent.
    pub mailer: RecordingMailer,
    /// Every SMS the app sent.
    pub sms: RecordingSmsSender,
    /// The projections the app reads, whether this node runs them or another does.
    pub projection_names: Vec<&'static str>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(hub) = self.state.realtime.hub() {
            hub.stop();
        }
    }
}

/// Two nodes on one database, as two processes would be: each with a pool, a command pipeline
/// over an event store, and a port of its own. The first runs the projections, the second none
/// (it follows their progress through the database, as a node that leaves them to another does).
pub async fn spawn_two_nodes(db: &TestDb, options: Options) -> [TestApp; 2] {
    let second_pool = db.another_pool(20).await;
    let first = spawn_app(&db.pool, options.clone()).await;
    let second = spawn_app(&second_pool, Options { projections: false, ..options }).await;
    [first, second]
}

/// Serves the product's feature APIs (`loopync_api::feature_apis`) with `options`.
pub async fn spawn_app(pool: &PgPool, options: Options) -> TestApp {
    spawn_app_serving(pool, options, loopync_api::feature_apis).await
}

/// Serves the APIs `apis` builds over the app's state (a test's own feature API, or the
/// product's) with `options`.
pub async fn spawn_app_serving<T, F>(pool: &PgPool, options: Options, apis: F) -> TestApp
where
    T: OpenApi + 'static,
    F: FnOnce(&AppState) -> T,
{
    if options.capture_logs {
        crate::logs();
    }
    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store.clone(), PipelineConfig::default()));
    let mailer = RecordingMailer::new();
    let sms = RecordingSmsSender::new();
    let delivery = Delivery { mailer: Arc::new(mailer.clone()), sms: Arc::new(sms.clone()) };
    let session_consistency = options.config.session_consistency.enabled;
    let subjects = options.config.subjects.clone();
    let state = AppState::new(
        pool.clone(),
        pipeline,
        CheckpointBoard::new(pool.clone()),
        options.nats.clone(),
        options.config,
        delivery,
    )
    .expect("app state");
    let state = if options.realtime { state.with_realtime().await.expect("realtime gateway") } else { state };
    // As `serve` does: hear the other nodes' sessions' positions before serving.
    if options.nats.is_some() && session_consistency {
        let shared = state.session_positions.shared(Duration::from_secs(10)).await;
        assert!(shared, "sessions' positions are not shared over NATS");
    }
    if options.nats.is_some() {
        let listening = state.identity.sessions.listening(Duration::from_secs(10)).await;
        assert!(listening, "ended sessions are not heard over NATS");
    }

    let acceptor = loopync_api::bind("127.0.0.1:0").await.expect("bind a free port");
    let addr = loopync_api::local_addr(&acceptor).expect("the bound address");
    let endpoint = loopync_api::app(state.clone(), apis(&state));
    let shutdown = CancellationToken::new();
    let stopped = shutdown.clone().cancelled_owned();
    let server =
        tokio::spawn(
            async move { loopync_api::serve(acceptor, endpoint, stopped, Duration::from_secs(5)).await },
        );

    let mut projections = loopync_api::features::projections();
    projections.extend(options.extra_projections);
    let projection_names = projections.iter().map(|projection| projection.name()).collect();
    let views: Vec<String> = projections
        .iter()
        .flat_map(|projection| loopync_projections::views(projection.as_ref()).collect::<Vec<_>>())
        .map(|(schema, table)| format!("{schema}.{table}"))
        .collect();
    if options.projections {
        // The runner's own connections, as in `serve` (separate pools for commands,
        // projections and reads): a projection stuck behind a lock must not take the
        // connections the app's reads need.
        let workers = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(pool.connect_options().as_ref().clone())
            .await
            .expect("the projection runner's pool");
        let waker = LogWaker::new(workers.clone(), Some(store.commits()));
        let runner = ProjectionRunner::new(
            workers,
            projections,
            waker,
            state.checkpoints.clone(),
            options.nats.clone(),
            RunnerConfig { subjects, ..RunnerConfig::default() },
        );
        tokio::spawn(runner.run(shutdown.clone()));
        // As `serve` is not ready until its read models exist: a test's first read must not
        // find a table the runner has not made yet.
        read_models_exist(pool, &views).await;
    }

    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("HTTP client");
    TestApp {
        addr,
        client,
        pool: pool.clone(),
        store,
        mailer,
        sms,
        projection_names,
        state,
        shutdown,
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for the server to stop (requests in flight are answered).
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.expect("the server task"),
            None => Ok(()),
        }
    }

    /// Appends this node's pipeline lost to another node's so far (each one retried, or the
    /// command decided again on the newer state). A race test that saw none did not race.
    pub fn conflicts(&self) -> u64 {
        self.state.pipeline.conflicts()
    }

    /// Waits until every projection the app reads has passed every event committed now, so
    /// none of their live updates for what came before can still arrive.
    pub async fn caught_up(&self) {
        let names: Vec<&str> = self.projection_names.clone();
        caught_up(&self.state.checkpoints, &self.pool, &names).await;
    }
}

/// Waits until every view of `views` (`schema.table`) exists.
async fn read_models_exist(pool: &PgPool, views: &[String]) {
    let deadline = tokio::time::Instant::now() + PROJECTION_TIMEOUT;
    loop {
        let missing: i64 =
            sqlx::query_scalar("SELECT count(*) FROM unnest($1::text[]) v WHERE to_regclass(v) IS NULL")
                .bind(views)
                .fetch_one(pool)
                .await
                .expect("the read models' views");
        if missing == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{missing} read models were not made in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `projections` (their progress `board` follows) have passed every event
/// committed now. Not the log's readable head: that stops short of events committed while an
/// older transaction, such as a projection batch, is still open.
pub async fn caught_up(board: &CheckpointBoard, pool: &PgPool, projections: &[&str]) {
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events \
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .expect("the last committed position");
    let Some((transaction_id, global_position)) = last else { return };
    let last = Position::new(transaction_id, global_position);
    let reached = board.wait_for(projections, last, PROJECTION_TIMEOUT).await;
    assert_eq!(reached, Consistency::Reached, "the projections {projections:?} did not reach {last}");
}

/// NATS at `NATS_URL` (default `nats://127.0.0.1:4222`).
pub async fn nats() -> async_nats::Client {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    async_nats::connect(&url).await.expect("NATS at NATS_URL")
}
