//! The identity test app: `AuthApi`, `UsersApi` and `AdminApi` served on a real socket (port
//! 0) against the test's own database, with recording mail and SMS senders, the identity read
//! models (`UserProfiles`, `UserSessions`) built by a projection runner, and helpers to sign
//! up, sign in and call endpoints as someone.
//!
//! bcrypt runs at cost 4 (the least bcrypt allows) for test speed; production uses 12. The
//! request rate limits are off: these tests sign up and sign in far more often than a person
//! would, and the per-account lockout they do test is a separate mechanism.

use loopync_api::identity::{AdminApi, AuthApi, AuthConfig, JwtSecret, UsersApi};
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig};
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{Mail, RecordingMailer, RecordingSmsSender, Sms};
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, AccountCommand};
use loopync_projections::identity::{UserProfiles, UserSessions};
use loopync_projections::{CheckpointBoard, LogWaker, Projection};
use loopync_workers::{ProjectionRunner, RunnerConfig};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The access-token signing secret of every test app (known, so tests can forge tokens).
pub const JWT_SECRET: &str = "identity-tests-signing-secret-0123456789abcdef";

/// The body limit of the test apps: small, so oversize bodies are cheap to send.
pub const TEST_BODY_LIMIT: usize = 64 * 1024;

/// The password `signup` uses.
pub const PASSWORD: &str = "correct horse battery";

/// How long tests wait for a mail or an SMS.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The auth settings of the test apps: bcrypt cost 4 for test speed, a known JWT secret.
pub fn auth_config() -> AuthConfig {
    AuthConfig { bcrypt_cost: 4, jwt_secret: JwtSecret::new(JWT_SECRET), ..AuthConfig::default() }
}

/// A running app; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub mailer: RecordingMailer,
    pub sms: RecordingSmsSender,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A signed-up (or signed-in) user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub handle: String,
    pub password: String,
    pub token: String,
    pub refresh: String,
    pub session_id: Uuid,
    /// `Loopync-Position` of the sign-up.
    pub position: Option<String>,
}

/// Serves the identity APIs with the default test settings, read models running.
pub async fn spawn(pool: &PgPool) -> TestApp {
    spawn_configured(pool, |_| {}).await
}

/// Serves the identity APIs with test settings changed by `configure`, read models running.
pub async fn spawn_configured(pool: &PgPool, configure: impl FnOnce(&mut AuthConfig)) -> TestApp {
    logs();
    let store = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline = Arc::new(CommandPipeline::new(store.clone(), PipelineConfig::default()));
    let mut auth = auth_config();
    configure(&mut auth);
    let config = ApiConfig {
        max_body_bytes: TEST_BODY_LIMIT,
        // A generous read-your-writes bound: a loaded machine must not turn fresh reads stale.
        read_your_writes_timeout: Duration::from_secs(10),
        auth,
        rate_limits: RateLimitConfig {
            anonymous_per_minute: 0,
            authenticated_per_minute: 0,
            sign_in_per_minute: 0,
        },
        ..ApiConfig::default()
    };
    let mailer = RecordingMailer::new();
    let sms = RecordingSmsSender::new();
    let delivery = Delivery { mailer: Arc::new(mailer.clone()), sms: Arc::new(sms.clone()) };
    let state =
        AppState::new(pool.clone(), pipeline, CheckpointBoard::new(pool.clone()), None, config, delivery)
            .unwrap_or_else(|e| panic!("state: {e}"));

    let acceptor = loopync_api::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = loopync_api::local_addr(&acceptor).unwrap_or_else(|| panic!("no local address"));
    let apis = (AuthApi::new(&state), UsersApi::new(&state), AdminApi::new(&state));
    let endpoint = loopync_api::app(state.clone(), apis);
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let stopped = signal.cancelled_owned();
        loopync_api::serve(acceptor, endpoint, stopped, Duration::from_secs(5)).await
    });

    let projections: Vec<Arc<dyn Projection>> = vec![Arc::new(UserProfiles), Arc::new(UserSessions)];
    let waker = LogWaker::new(pool.clone(), Some(store.commits()));
    let runner = ProjectionRunner::new(
        pool.clone(),
        projections,
        waker,
        state.checkpoints.clone(),
        None,
        RunnerConfig::default(),
    );
    tokio::spawn(runner.run(shutdown.clone()));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    TestApp { addr, client, state, mailer, sms, shutdown }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Any request: `token` as a bearer token, `body` as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// POSTs `body` anonymously.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// POSTs a raw text (possibly not JSON) as `application/json`.
    pub async fn post_text(&self, path: &str, body: impl Into<String>) -> reqwest::Response {
        let body: String = body.into();
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn put_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A GET that sends `position` as `Loopync-Position` (read-your-writes).
    pub async fn get_at(&self, token: &str, path: &str, position: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path)).bearer_auth(token);
        if let Some(position) = position {
            request = request.header("Loopync-Position", position);
        }
        request.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Signs up with `PASSWORD` and the handle as name; panics unless 201.
    pub async fn signup(&self, email: &str, handle: &str) -> User {
        self.signup_with(email, handle, PASSWORD).await
    }

    pub async fn signup_with(&self, email: &str, handle: &str, password: &str) -> User {
        let response = self
            .post(
                "/api/auth/signup",
                &json!({"email": email, "password": password, "name": handle, "handle": handle}),
            )
            .await;
        let status = response.status().as_u16();
        let position = header(&response, "loopync-position");
        let body = json_body(response).await;
        assert_eq!(status, 201, "signup {email}: {body}");
        let mut user = user_from(&body, password);
        user.position = position;
        user
    }

    /// Signs in; the raw answer.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/api/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Signs in; panics unless 200.
    pub async fn login_ok(&self, email: &str, password: &str) -> User {
        let response = self.login(email, password).await;
        let status = response.status().as_u16();
        let position = header(&response, "loopync-position");
        let body = json_body(response).await;
        assert_eq!(status, 200, "login {email}: {body}");
        let mut user = user_from(&body, password);
        user.position = position;
        user
    }

    /// Trades a refresh token; the raw answer.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post("/api/auth/refresh", &json!({"refreshToken": refresh_token})).await
    }

    /// Sets a user's role directly through the pipeline (there is no bootstrap endpoint), as a
    /// founder would.
    pub async fn set_role(&self, user_id: Uuid, role: Role) {
        self.state
            .pipeline
            .execute::<Account>(
                user_id,
                AccountCommand::ChangeRole { role, by: Role::Founder },
                &CommandContext::actor("identity-tests"),
            )
            .await
            .unwrap_or_else(|e| panic!("role change: {e}"));
    }

    /// Makes `user` a `role` and refreshes its tokens, so the access token carries the role.
    pub async fn promote(&self, user: &mut User, role: Role) {
        self.set_role(user.id, role).await;
        let response = self.refresh(&user.refresh).await;
        let status = response.status().as_u16();
        let body = json_body(response).await;
        assert_eq!(status, 200, "refresh after role change: {body}");
        user.token = string(&body["token"]);
        user.refresh = string(&body["refreshToken"]);
    }

    /// The next mail to `to` (panics if none arrives).
    pub async fn mail_to(&self, to: &str) -> Mail {
        self.mailer.wait_for(to, DELIVERY_TIMEOUT).await.unwrap_or_else(|| panic!("no mail to {to}"))
    }

    /// The next SMS to `to` (panics if none arrives).
    pub async fn sms_to(&self, to: &str) -> Sms {
        self.sms.wait_for(to, DELIVERY_TIMEOUT).await.unwrap_or_else(|| panic!("no SMS to {to}"))
    }
}

fn user_from(body: &Value, password: &str) -> User {
    User {
        id: uuid(&body["user"]["id"]),
        email: string(&body["user"]["email"]),
        handle: string(&body["user"]["handle"]),
        password: password.to_owned(),
        token: string(&body["token"]),
        refresh: string(&body["refreshToken"]),
        session_id: uuid(&body["sessionId"]),
        position: None,
    }
}

/// A JSON string value (panics otherwise).
pub fn string(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_owned()
}

/// A JSON uuid value (panics otherwise).
pub fn uuid(value: &Value) -> Uuid {
    Uuid::parse_str(&string(value)).unwrap_or_else(|e| panic!("not a uuid: {value}: {e}"))
}

/// A response header as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The body as JSON (`Null` when empty or not JSON).
pub async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap_or_else(|e| panic!("body: {e}"));
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts a success status and returns the JSON body.
pub async fn expect_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let url = response.url().clone();
    let body = json_body(response).await;
    assert_eq!(actual, status, "{url}: {body}");
    body
}

/// Asserts an answer is problem+json with `status` and `code`, and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let url = response.url().clone();
    let actual = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let body = json_body(response).await;
    assert_eq!(actual, status, "status of {url}: {body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{url}: {body}");
    assert_eq!(body["status"], status, "{url}: {body}");
    assert_eq!(body["code"], code, "{url}: {body}");
    assert_eq!(body["type"], format!("urn:loopync:problem:{code}"), "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

/// Asserts a 400 `invalid_request` naming `field` among its `errors`.
pub async fn assert_invalid_field(response: reqwest::Response, field: &str) -> Value {
    let body = assert_problem(response, 400, "invalid_request").await;
    let fields = error_fields(&body);
    assert!(fields.iter().any(|f| f == field), "expected field {field:?} in {fields:?}: {body}");
    body
}

/// The `field`s of a problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

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

/// The opaque token in an account mail: what follows `?token=` in its link.
pub fn mail_token(mail: &Mail) -> String {
    let (_, rest) = mail.text.split_once("?token=").unwrap_or_else(|| panic!("no link in {:?}", mail.text));
    let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(mail.text.contains(&format!("code in the app: {token}")), "the code matches the link");
    token
}

/// The six-digit code an SMS starts with.
pub fn sms_code(sms: &Sms) -> String {
    let code: String = sms.text.chars().take(6).collect();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "no code in {:?}", sms.text);
    code
}

/// A fresh unique suffix for emails and handles.
pub fn unique() -> String {
    Uuid::now_v7().simple().to_string()[20..].to_owned()
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
    /// Everything logged so far by any test of this process, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Every line logged so far that parses as JSON.
    pub fn lines(&self) -> Vec<Value> {
        self.text().lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}

/// The process's log subscriber (JSON, INFO and up, spans included), installed before the
/// first app serves: global, because a scoped one misses events of other threads.
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        if let Err(error) = tracing::subscriber::set_global_default(subscriber) {
            panic!("log subscriber: {error}");
        }
        logs
    })
}
