//! A test client of `/api/ws`, and the apps it talks to.

use futures::{SinkExt, StreamExt};
use loopync_api::realtime::RealtimeConfig;
pub use loopync_testkit::nats;
use loopync_testkit::{Options, TestApp, spawn_app};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

/// Gateway settings for tests: short presence grace, otherwise the defaults.
pub fn test_config() -> RealtimeConfig {
    RealtimeConfig { presence_grace: Duration::from_millis(300), ..RealtimeConfig::default() }
}

/// A node with the gateway and the projections.
pub async fn node(pool: &PgPool) -> TestApp {
    node_with(pool, test_config(), true).await
}

pub async fn node_with(pool: &PgPool, config: RealtimeConfig, projections: bool) -> TestApp {
    let options = Options { projections, ..Options::default() }.with_nats(nats().await).with_realtime(config);
    spawn_app(pool, options).await
}

/// A connected WebSocket client.
pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Closed(u16),
    Dropped,
}

impl Client {
    /// Connects to `app` with `query` (e.g. `token=...&since=...`).
    pub async fn connect(app: &TestApp, query: &str) -> Self {
        let url = format!("ws://{}/api/ws?{query}", app.addr);
        let (socket, _) =
            tokio_tungstenite::connect_async(&url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Self { socket }
    }

    /// Connects with a token and waits for `ready`; returns the client and the ready frame.
    pub async fn ready(app: &TestApp, token: &str, since: Option<&str>) -> (Self, Value) {
        let query = match since {
            Some(since) => format!("token={token}&since={since}"),
            None => format!("token={token}"),
        };
        let mut client = Self::connect(app, &query).await;
        let ready = client.next_frame().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        (client, ready)
    }

    pub async fn send_json(&mut self, frame: &Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next JSON frame (pings skipped); panics on a close or after [`FRAME_TIMEOUT`].
    pub async fn next_frame(&mut self) -> Value {
        match self.next_within(FRAME_TIMEOUT).await {
            Some(frame) => frame,
            None => panic!("no frame within {FRAME_TIMEOUT:?}"),
        }
    }

    /// The next JSON frame within `wait`, or `None`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(
                        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON: {e}: {text}")),
                    );
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// Frames until one of type `kind` (the ones before it are returned too).
    pub async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next_frame().await;
            let done = frame["type"] == kind;
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// Reads until the connection ends; returns the close code.
    pub async fn ended(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.socket.next()).await {
                Err(_) => panic!("the connection did not end within {FRAME_TIMEOUT:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Ended::Closed(frame.map_or(1005, |CloseFrame { code, .. }| code.into()));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return Ended::Dropped,
            }
        }
    }
}

// -- shared helpers of the topic files --------------------------------------------------------

/// How long a "nothing arrives" check waits: short, since it is paid by every passing test.
pub const QUIET: Duration = Duration::from_millis(1000);

/// A frame's cursor as a number (panics when it has none).
#[track_caller]
pub fn cursor(frame: &Value) -> i64 {
    frame["cursor"].as_str().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no cursor: {frame}"))
}

/// The cursors stored for `user_id` in `live_updates`, in order.
pub async fn stored_seqs(pool: &PgPool, user_id: uuid::Uuid) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM live_updates WHERE user_id = $1 ORDER BY seq")
        .bind(user_id)
        .fetch_all(pool)
        .await
        .expect("live_updates")
}

/// The stored update `seq` of `user_id` as `(kind, data)`.
pub async fn stored(pool: &PgPool, user_id: uuid::Uuid, seq: i64) -> (String, Value) {
    sqlx::query_as("SELECT kind, data FROM live_updates WHERE user_id = $1 AND seq = $2")
        .bind(user_id)
        .bind(seq)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("live update {seq} of {user_id}: {e}"))
}

/// The user's head cursor (0 before their first update).
pub async fn head(pool: &PgPool, user_id: uuid::Uuid) -> i64 {
    loopync_projections::live::head(pool, user_id).await.expect("head")
}

impl Client {
    /// Connects with a small kernel receive buffer (4 KiB, no autotuning), so a client that
    /// stops reading backs up into the server after a few frames rather than megabytes.
    pub async fn connect_small_buffer(app: &TestApp, query: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(app.addr).await.unwrap_or_else(|e| panic!("connect {}: {e}", app.addr));
        let url = format!("ws://{}/api/ws?{query}", app.addr);
        let (socket, _) = tokio_tungstenite::client_async(&url, MaybeTlsStream::Plain(stream))
            .await
            .unwrap_or_else(|e| panic!("upgrade {url}: {e}"));
        Self { socket }
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket.send(Message::Binary(bytes.into())).await.expect("send");
    }

    /// Asserts that no frame arrives within `wait`.
    pub async fn silent(&mut self, wait: Duration, what: &str) {
        if let Some(frame) = self.next_within(wait).await {
            panic!("{what}: expected nothing, got {frame}");
        }
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next_frame().await;
        assert_eq!(frame["type"], kind, "expected a {kind} frame, got {frame}");
        frame
    }

    /// The next frame, which must be an `error` with `code` (and `type` when given).
    pub async fn expect_error(&mut self, code: &str, frame_type: Option<&str>) -> Value {
        let frame = self.expect("error").await;
        assert_eq!(frame["cursor"], Value::Null, "{frame}");
        assert_eq!(frame["data"]["code"], code, "{frame}");
        assert!(frame["data"]["message"].is_string(), "{frame}");
        match frame_type {
            Some(frame_type) => assert_eq!(frame["data"]["type"], frame_type, "{frame}"),
            None => assert!(frame["data"].get("type").is_none(), "{frame}"),
        }
        frame
    }

    /// Sends `ping` and expects `pong` as the next frame: the connection is alive and served.
    pub async fn ping_pong(&mut self) {
        self.send_json(&serde_json::json!({"type": "ping", "data": {}})).await;
        let frame = self.expect("pong").await;
        assert_eq!(frame["cursor"], Value::Null, "{frame}");
    }

    /// Closes the connection from the client side and waits for the server's close reply.
    pub async fn close(mut self) {
        // Cleanup, not a check: the server may have closed first (that is what some tests
        // provoke), and either way the connection is over when this returns.
        let _ = self.socket.close(None).await;
        let _ =
            tokio::time::timeout(FRAME_TIMEOUT, async { while self.socket.next().await.is_some() {} }).await;
    }
}
