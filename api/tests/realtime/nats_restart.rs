//! A NATS restart while clients are connected: the node and its projection runner use a
//! private `nats-server`, which is killed while a client is connected. Transfers made while it
//! is down commit (their live publish cannot reach anyone); when it is back on the same port
//! the client gets every update it missed, from the store, exactly once and in order, and live
//! delivery carries on.

use crate::client::{Client, FRAME_TIMEOUT, cursor, head, stored, test_config};
use loopync_testkit::{Options, spawn_app};
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `nats-server` of the test's own, killed when dropped.
struct NatsServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    fn binary() -> PathBuf {
        let from_path = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).map(|dir| dir.join("nats-server")).collect::<Vec<_>>())
            .unwrap_or_default();
        let known = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server"];
        from_path
            .into_iter()
            .chain(known.into_iter().map(PathBuf::from))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!("nats-server is needed for this test: not on PATH, nor in /usr/sbin or /usr/local/bin")
            })
    }

    /// Starts a server on a free port.
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("free port");
        let mut server = Self { binary: Self::binary(), port, child: None };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("nats-server on port {} exited: {status}", self.port);
            }
            assert!(tokio::time::Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_client_gets_every_update_made_while_nats_was_down(pool: PgPool) {
    let mut server = NatsServer::start().await;
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(server.url())
        .await
        .unwrap_or_else(|e| panic!("NATS at {}: {e}", server.url()));
    let options = Options::default().with_nats(nats.clone()).with_realtime(test_config());
    let app = spawn_app(&pool, options).await;
    let (ada, _) = app.funded(100_000).await;
    let bob = app.signup().await;
    app.caught_up().await;

    let (mut client, ready) = Client::ready(&app, &bob.token, None).await;
    let mut last = cursor(&ready);
    app.transfer(&ada, bob.id, 1, None, None).await.created();
    let frame = client.expect("balance_updated").await;
    assert_eq!(cursor(&frame), last + 1, "live before the outage: {frame}");
    last += 1;

    server.kill();
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while matches!(nats.connection_state(), async_nats::connection::State::Connected) {
        assert!(tokio::time::Instant::now() < deadline, "the client did not notice NATS going away");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Transfers commit while NATS is down; the projections store their updates.
    for amount in [10, 20, 30] {
        app.transfer(&ada, bob.id, amount, None, None).await.created();
        app.caught_up().await;
    }
    let missed_until = head(&pool, bob.id).await;
    assert_eq!(missed_until, last + 3, "three updates stored while NATS was down");
    client.silent(Duration::from_millis(800), "nothing can be delivered while NATS is down").await;

    server.restart().await;
    for _ in 0..3 {
        let frame = client.expect("balance_updated").await;
        assert_eq!(cursor(&frame), last + 1, "missed updates in order, once: {frame}");
        last += 1;
        let (_, data) = stored(&pool, bob.id, last).await;
        assert_eq!(frame["data"], data, "{frame}");
    }
    assert_eq!(client_available(&pool, bob.id, last).await, 61);
    client.silent(Duration::from_millis(800), "no duplicates of the missed updates").await;

    // Live again: wait until the node is connected, then a new transfer arrives as the next cursor.
    let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
    while !matches!(nats.connection_state(), async_nats::connection::State::Connected) {
        assert!(tokio::time::Instant::now() < deadline, "the node did not reconnect to NATS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.transfer(&ada, bob.id, 100, None, None).await.created();
    let frame = client.expect("balance_updated").await;
    assert_eq!(cursor(&frame), last + 1, "live after the restart: {frame}");
    assert_eq!(frame["data"]["available"], 161, "{frame}");

    // A client connecting now works as usual.
    let (mut fresh, ready) = Client::ready(&app, &bob.token, None).await;
    assert_eq!(cursor(&ready), last + 1, "{ready}");
    fresh.ping_pong().await;
    drop(server);
}

async fn client_available(pool: &PgPool, user_id: uuid::Uuid, seq: i64) -> i64 {
    let (_, data) = stored(pool, user_id, seq).await;
    data["available"].as_i64().unwrap_or_else(|| panic!("{data}"))
}
