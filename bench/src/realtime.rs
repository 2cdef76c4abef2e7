//! The parts of `bench-realtime` (see `src/bin/bench-realtime.rs`): the server as a child
//! process and what `/proc` says about it, WebSocket clients that timestamp what they receive,
//! and percentiles.
//!
//! The server runs in its own process, not in the benchmark's, for two reasons: its memory
//! (`VmRSS`) and CPU time must be its own, without the clients' share; and both ends of every
//! socket count against the file descriptor limit, which a single process would hit at half
//! the connections.

use anyhow::{Context, Result, anyhow, bail};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// The half of a socket the benchmark writes to (pings); the other half is read by a task.
pub type Sink = SplitSink<Socket, Message>;
/// A client that got `ready`: the half written to and the half read.
pub type Opened = (Sink, SplitStream<Socket>);

/// `sysconf(_SC_CLK_TCK)` is 100 on every Linux platform Rust targets.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// What `/proc/<pid>` says about a process at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Resident memory, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident memory, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// User + system CPU ticks so far.
    pub cpu_ticks: u64,
    /// Open file descriptors (sockets included).
    pub fds: u64,
}

impl ProcStats {
    /// `pid` is a number or `self`; `None` where `/proc` is not readable.
    pub fn read(pid: &str) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64);
        Some(Self {
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_ticks: cpu_ticks(&stat)?,
            fds,
        })
    }
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `loopync serve` in a child process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    log: PathBuf,
}

/// Runs `binary args...` with `envs` to completion; fails with its output if it fails.
pub async fn run_to_end(binary: &Path, args: &[&str], envs: &[(String, String)]) -> Result<()> {
    let output = Command::new(binary)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} {}: {}\n{}{}",
            binary.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

impl ServerProcess {
    /// Starts `binary serve` with `envs` on `addr`, its output going to `log`.
    pub fn spawn(binary: &Path, envs: &[(String, String)], addr: SocketAddr, log: PathBuf) -> Result<Self> {
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .arg("serve")
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("the server exited at once"))?;
        Ok(Self { child, pid, addr, log })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stats(&self) -> Option<ProcStats> {
        ProcStats::read(&self.pid.to_string())
    }

    /// The last lines the server logged (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `/ready` answers 200 (database migrated, NATS connected).
    pub async fn wait_ready(&mut self, http: &reqwest::Client, patience: Duration) -> Result<()> {
        let deadline = Instant::now() + patience;
        let url = format!("http://{}/ready", self.addr);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}) before it was ready:\n{}", self.log_tail());
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the server was not ready within {patience:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the server to stop (SIGTERM, so it closes its connections and leaves presence
    /// clean), and kills it if it has not stopped within 15 s.
    pub async fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// What a client saw, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Pong,
    /// `balance_updated`, with the wallet's available balance.
    Balance {
        available: i64,
    },
    /// `signal`, with the benchmark's round number it carried.
    Signal {
        round: i64,
    },
    /// The connection ended (close frame, error or end of stream).
    Closed,
}

/// One thing seen by client `conn`, timestamped when its frame was read.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub conn: usize,
    pub at: Instant,
    pub seen: Seen,
}

/// Client buffers: tungstenite's defaults (128 KiB read buffer) would cost the benchmark more
/// than a GiB at 10,000 connections; every frame here is small.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0)
}

/// Connects to `url` and waits for `ready`.
pub async fn connect(url: &str, patience: Duration) -> Result<Opened> {
    let (socket, _) = tokio::time::timeout(
        patience,
        tokio_tungstenite::connect_async_with_config(url, Some(client_config()), true),
    )
    .await
    .map_err(|_| anyhow!("no WebSocket handshake within {patience:?}"))?
    .context("WebSocket handshake")?;
    let (sink, mut stream) = socket.split();
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let message = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| anyhow!("no `ready` within {patience:?}"))?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).context("a frame that is not JSON")?;
                if frame["type"] == "ready" {
                    return Ok((sink, stream));
                }
                bail!("expected `ready`, got {frame}");
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => bail!("closed before `ready`: {frame:?}"),
            Some(Ok(other)) => bail!("expected `ready`, got {other:?}"),
            Some(Err(error)) => return Err(error).context("before `ready`"),
            None => bail!("the connection ended before `ready`"),
        }
    }
}

/// Reads client `conn`'s frames until its connection ends, reporting the ones the benchmark
/// looks for. Reading also answers the server's heartbeat pings (tungstenite queues the pong
/// and flushes it on the next read), so idle clients are not closed for idleness.
pub fn read(
    conn: usize,
    mut stream: SplitStream<Socket>,
    events: mpsc::UnboundedSender<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Binary(_) | Message::Close(_)) | Err(_) => break,
            };
            // The timestamp comes first: parsing is the benchmark's cost, not the server's.
            let at = Instant::now();
            let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
            let seen = match frame["type"].as_str() {
                Some("pong") => Seen::Pong,
                Some("balance_updated") => {
                    Seen::Balance { available: frame["data"]["available"].as_i64().unwrap_or(-1) }
                }
                Some("signal") => {
                    Seen::Signal { round: frame["data"]["signal"]["round"].as_i64().unwrap_or(-1) }
                }
                _ => continue,
            };
            if events.send(Event { conn, at, seen }).is_err() {
                return;
            }
        }
        let _ = events.send(Event { conn, at: Instant::now(), seen: Seen::Closed });
    })
}

/// Sends a `ping` frame.
pub async fn ping(sink: &mut Sink) -> Result<()> {
    sink.send(Message::Text(r#"{"type":"ping","data":{}}"#.into())).await.context("sending ping")
}

/// Connected clients: the halves written to, the reading tasks, and what they report.
#[derive(Debug)]
pub struct Fleet {
    pub sinks: Vec<Sink>,
    pub readers: Vec<JoinHandle<()>>,
    pub events: mpsc::UnboundedReceiver<Event>,
    /// Connections that failed, and the first error.
    pub failed: usize,
    pub first_error: Option<String>,
    /// From the first connect to the last `ready`.
    pub elapsed: Duration,
}

impl Fleet {
    /// Connects one client per URL, `parallel` at a time; client `i` is `urls[i]`. A client
    /// that fails leaves a gap (its index has no sink): the caller decides whether that is
    /// fatal.
    pub async fn connect(urls: Vec<String>, parallel: usize, patience: Duration) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let started = Instant::now();
        let mut results: Vec<(usize, Result<Opened>)> = futures::stream::iter(urls.into_iter().enumerate())
            .map(|(i, url)| async move { (i, connect(&url, patience).await) })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        let elapsed = started.elapsed();
        results.sort_by_key(|(i, _)| *i);
        let mut fleet =
            Self { sinks: Vec::new(), readers: Vec::new(), events, failed: 0, first_error: None, elapsed };
        for (i, result) in results {
            match result {
                Ok((sink, stream)) => {
                    fleet.sinks.push(sink);
                    fleet.readers.push(read(i, stream, tx.clone()));
                }
                Err(error) => {
                    fleet.failed += 1;
                    fleet.first_error.get_or_insert_with(|| format!("{error:#}"));
                }
            }
        }
        fleet
    }

    /// Everything reported so far.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            out.push(event);
        }
        out
    }

    /// Waits for events until `done` says enough (given each new one) or `patience` runs out.
    pub async fn collect_until(
        &mut self,
        patience: Duration,
        mut done: impl FnMut(&Event) -> bool,
    ) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut out = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            let finished = done(&event);
            out.push(event);
            if finished {
                break;
            }
        }
        out
    }

    /// Closes every connection (dropping both halves closes the socket).
    pub fn close(self) {
        for reader in &self.readers {
            reader.abort();
        }
        drop(self.sinks);
    }
}

/// The `q` quantile (nearest rank) of ascending `sorted` values; 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// p50, p99 and max of `values` (any order), in their unit.
pub fn summary(mut values: Vec<f64>) -> Summary {
    values.sort_by(f64::total_cmp);
    Summary {
        count: values.len(),
        p50: quantile(&values, 0.5),
        p99: quantile(&values, 0.99),
        max: values.last().copied().unwrap_or(0.0),
    }
}

/// A distribution's summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Milliseconds between two instants (negative when `to` is earlier).
pub fn ms_between(from: Instant, to: Instant) -> f64 {
    if to >= from { (to - from).as_secs_f64() * 1000.0 } else { -((from - to).as_secs_f64() * 1000.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_name() {
        let line = "42 (loop (sync) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 1 1";
        assert_eq!(cpu_ticks(line), Some(300));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&values, 0.5) - 50.0).abs() < f64::EPSILON);
        assert!((quantile(&values, 0.99) - 99.0).abs() < f64::EPSILON);
        assert!((quantile(&[], 0.5)).abs() < f64::EPSILON);
        let s = summary(vec![3.0, 1.0, 2.0]);
        assert_eq!(s.count, 3);
        assert!((s.max - 3.0).abs() < f64::EPSILON);
    }
}
