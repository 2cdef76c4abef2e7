//! A `nats-server` of a test's own, for tests that take NATS away while the app runs (a
//! restart, an outage): the shared server on 4222 must stay up for every other test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `nats-server` of the test's own, killed when dropped.
pub struct NatsServer {
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
    pub async fn start() -> Self {
        let mut server = Self::not_started();
        server.restart().await;
        server
    }

    /// A server with a free port of its own that does not run yet: NATS down from the start
    /// until [`restart`](Self::restart).
    pub fn not_started() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("free port");
        Self { binary: Self::binary(), port, child: None }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A client of this server that keeps reconnecting (every 100 ms) while it is away.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .reconnect_delay_callback(|_| Duration::from_millis(100))
            .connect(self.url())
            .await
            .unwrap_or_else(|e| panic!("NATS at {}: {e}", self.url()))
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
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

    pub fn kill(&mut self) {
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
