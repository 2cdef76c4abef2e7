//! `bench-realtime`: the WebSocket gateway benchmark (`just bench-realtime`).
//!
//! The server is the release `loopync serve`, started by the benchmark as a child process on a
//! scratch database (migrated with `loopync migrate`, dropped at the end) and the NATS of
//! `NATS_URL`, with rate limits off and bcrypt cost 4. It runs in its own process so that its
//! memory and CPU are measured apart from the clients', and because both ends of every socket
//! count against the file descriptor limit: one process holding 10,000 connections to itself
//! would need 20,000 descriptors. Three measurements, in this order:
//!
//! | part | what | baseline in the same run |
//! |------|------|--------------------------|
//! | (a) idle | `--idle` clients (distinct users signed up over HTTP: a socket needs a live session) connect, `--ramp` at a time, wait for `ready`, stay idle `--hold-secs`, then each sends `ping` and must get `pong`; after they leave, the same clients connect once more (RSS that does not grow is memory kept for reuse, not leaked) | the server's RSS and CPU before they connect |
//! | (b) command → frame | `--clients` real users (signed up over HTTP) connected; half of them send 1-credit transfers to the other half at `--rate`/s for `--seconds`; the time from sending `POST /api/looppay/transfer` to the recipient's socket getting its `balance_updated` | the HTTP response time of the same transfers |
//! | (c) fan-out | one `signal` frame to each of the same `--clients` users, published on `live.user.<id>.ephemeral` as fast as the bench can; time from the first publish until each client has it | the same publishes to as many plain NATS subscribers in the bench (no gateway) |
//!
//! Matching frames to transfers in (b): recipients are never topped up and only ever receive 1
//! credit, and a recipient gets one transfer every `clients / 2 / rate` seconds (2.5 s at the
//! defaults), never two at once: its k-th transfer is the one that makes its balance k. A frame
//! with balance m delivers every transfer up to m (the projection sends one frame per wallet and
//! batch, so a frame may carry two).
//!
//! The run prints a markdown section (with PASS/MISS against the targets: ≥ 10,000 idle
//! connections on one node, command-to-frame p99 < 50 ms); `--write-markdown` also writes it to
//! a file.

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use clap::Parser;
use loopync_bench::cpu;
use loopync_bench::machine::{Machine, ServerInfo};
use loopync_bench::realtime::{
    Event, Fleet, ProcStats, Seen, ServerProcess, Summary, TICKS_PER_SECOND, free_port, ms_between, ping,
    run_to_end, summary,
};
use loopync_bench::scratch::{ScratchDatabase, Server};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod report;

use report::report;

/// The targets.
const IDLE_TARGET: usize = 10_000;
const P99_TARGET_MS: f64 = 50.0;
/// How long one client may take to connect and get `ready`.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// Benchmark the realtime gateway: idle connections per node, command-to-frame latency, fan-out.
#[derive(Debug, Parser)]
#[command(name = "bench-realtime", version)]
struct Args {
    /// The PostgreSQL server to use (any database on it; the benchmark creates its own).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The NATS server the gateway and the benchmark use.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The server binary (`cargo build --release --bin loopync`).
    #[arg(long, default_value = "target/release/loopync")]
    server_bin: PathBuf,
    /// (a) Idle connections to hold (0: skip).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// (a) Connections opened at a time while ramping up.
    #[arg(long, default_value_t = 200)]
    ramp: usize,
    /// (a) Seconds the idle connections are held before they are checked.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
    /// (a) Times the same clients connect again after leaving, each time all at once: a server
    /// whose RSS levels off keeps memory for reuse; one that grows each time leaks.
    #[arg(long, default_value_t = 2)]
    reconnect_ramps: usize,
    /// (b, c) Connected users (0: skip both): half send transfers, half receive them.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// (b) Transfers sent per second (open loop: the schedule does not wait for responses).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// (b) Measured seconds of transfers.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// (b) Seconds of transfers at the same rate before the measured ones.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// (c) Fan-out rounds (each: one frame to every client), for the gateway and the baseline.
    #[arg(long, default_value_t = 5)]
    fanout_rounds: usize,
    /// Concurrent sign-ups while creating the users of (b).
    #[arg(long, default_value_t = 16)]
    signup_concurrency: usize,
    /// Before each part, wait (at most `--quiet-wait-secs`) until other processes use less than
    /// this percentage of the machine.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    quiet_below: f64,
    /// Longest wait for a quiet machine before each part (0: do not wait).
    #[arg(long, default_value_t = 60)]
    quiet_wait_secs: u64,
    /// Also write the results as a markdown section to this file.
    #[arg(long, value_name = "PATH")]
    write_markdown: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.clients == 1 || args.rate <= 0.0 || args.seconds == 0 || args.ramp == 0 {
        bail!("--clients must be 0 or at least 2, --rate, --seconds and --ramp positive");
    }
    if !args.server_bin.exists() {
        bail!(
            "no server binary at {}: build it with `cargo build --release --bin loopync` (or pass --server-bin)",
            args.server_bin.display()
        );
    }
    let machine = Machine::detect();
    let server = Server::connect(&args.database_url).await.context("connecting to DATABASE_URL")?;
    let info = ServerInfo::read(server.admin()).await?;
    let database = server.create(&Server::run_name()).await?;
    eprintln!("scratch database: {}", database.name());

    let result = tokio::select! {
        result = bench(&args, &database) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let dropped = server.drop_database(database).await;
    let results = result?;
    dropped?;

    let markdown = report(&args, &machine, &info, &results);
    println!("\n{markdown}");
    if let Some(path) = &args.write_markdown {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("markdown written to {}", path.display());
    }
    Ok(())
}

/// Everything measured.
#[derive(Debug, Default)]
struct Results {
    idle: Option<Idle>,
    latency: Option<Latency>,
    fanout: Option<Fanout>,
    server_threads: u64,
}

/// Migrates the scratch database, starts the server, runs the parts, stops the server.
async fn bench(args: &Args, database: &ScratchDatabase) -> Result<Results> {
    let mut rng = rand::rng();
    let secret = format!("{:032x}{:032x}", rng.random::<u128>(), rng.random::<u128>());
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let envs: Vec<(String, String)> = [
        ("DATABASE_URL", database.url().to_owned()),
        ("NATS_URL", args.nats_url.clone()),
        ("LOOPYNC_HTTP_ADDR", addr.to_string()),
        ("LOOPYNC_JWT_SECRET", secret.clone()),
        ("LOOPYNC_BCRYPT_COST", "4".to_owned()),
        // The `dev` payment provider funds the benchmark's wallets; only development mode runs it.
        ("LOOPYNC_DEV_MODE", "true".to_owned()),
        // Rate limits off: every client comes from 127.0.0.1, and the limits are not measured.
        ("LOOPYNC_RATE_LIMIT_ANONYMOUS", "0".to_owned()),
        ("LOOPYNC_RATE_LIMIT_AUTHENTICATED", "0".to_owned()),
        ("LOOPYNC_RATE_LIMIT_SIGN_IN", "0".to_owned()),
        ("LOOPYNC_RATE_LIMIT_SIGN_IN_NODE", "0".to_owned()),
        // The same for the socket cap per address: the 10,000 idle clients share 127.0.0.1.
        ("LOOPYNC_WS_SOCKETS_PER_IP", "0".to_owned()),
        ("LOOPYNC_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    run_to_end(&args.server_bin, &["migrate"], &envs).await.context("migrating the scratch database")?;

    let log = std::env::temp_dir().join(format!("bench-realtime-{}.log", database.name()));
    eprintln!("server log: {}", log.display());
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let mut server = ServerProcess::spawn(&args.server_bin, &envs, addr, log)?;
    server.wait_ready(&http, Duration::from_secs(60)).await?;
    eprintln!("server ready on {addr} (pid {})", server.pid());

    let measured = measure(args, &server, &http).await;
    if measured.is_err() {
        eprintln!("server log tail:\n{}", server.log_tail());
    }
    server.stop().await;
    measured
}

async fn measure(args: &Args, server: &ServerProcess, http: &reqwest::Client) -> Result<Results> {
    let mut results = Results::default();
    if args.idle > 0 {
        quiet(args, "(a) idle connections").await;
        results.idle = Some(idle(args, server, http).await?);
    }
    if args.clients > 0 {
        quiet(args, "(b) command → frame").await;
        let (latency, mut fleet, users) = latency(args, server, http).await?;
        results.latency = Some(latency);
        quiet(args, "(c) fan-out").await;
        results.fanout = Some(fanout(args, &mut fleet, &users).await?);
        fleet.close();
    }
    results.server_threads = server.stats().map_or(0, |s| s.threads);
    Ok(results)
}

/// Waits for the machine to calm down (the previous part's closing connections, other test
/// suites) before a part.
async fn quiet(args: &Args, part: &str) {
    if args.quiet_wait_secs == 0 {
        return;
    }
    let share =
        cpu::wait_for_quiet(args.quiet_below / 100.0, Duration::from_secs(args.quiet_wait_secs)).await;
    match share {
        Some(share) => eprintln!("{part}: other processes at {:.0}% of the machine", 100.0 * share),
        None => eprintln!("{part}"),
    }
}

fn ws_url(addr: SocketAddr, token: &str) -> String {
    format!("ws://{addr}/api/ws?token={token}")
}

// ---------------------------------------------------------------------------------------------
// (a) Idle connections
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Idle {
    target: usize,
    connected: usize,
    failed: usize,
    first_error: Option<String>,
    connect_secs: f64,
    before: ProcStats,
    after: ProcStats,
    /// After every client has gone and the server has settled.
    released: Option<ProcStats>,
    /// The server with the same clients connected again, once per `--reconnect-ramps` (and how
    /// many connected): RSS that levels off is memory the allocator kept for reuse, not leaked.
    reconnected: Vec<(ProcStats, usize)>,
    bench_after: ProcStats,
    hold_secs: f64,
    /// Server CPU seconds over the hold.
    idle_cpu_seconds: f64,
    closed_during_hold: usize,
    pongs: usize,
}

impl Idle {
    /// Bytes of server memory per connection.
    fn per_connection_bytes(&self) -> f64 {
        if self.connected == 0 {
            return 0.0;
        }
        self.after.rss_kib.saturating_sub(self.before.rss_kib) as f64 * 1024.0 / self.connected as f64
    }
}

async fn idle(args: &Args, server: &ServerProcess, http: &reqwest::Client) -> Result<Idle> {
    // Distinct users with sessions of their own: the gateway checks each socket's session, and
    // reads the (empty) head of the user's live updates.
    let base = format!("http://{}", server.addr);
    let tag = format!("{:06x}", rand::rng().random::<u32>() & 0x00ff_ffff);
    eprintln!("(a) signing up {} users", args.idle);
    let users = sign_up(http, &base, &format!("idle{tag}"), args.idle, args.signup_concurrency).await?;
    let urls: Vec<String> = users.iter().map(|user| ws_url(server.addr, &user.token)).collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.stats().ok_or_else(|| anyhow!("cannot read the server's /proc"))?;
    eprintln!("(a) connecting {} clients, {} at a time", args.idle, args.ramp);
    let mut fleet = Fleet::connect(urls.clone(), args.ramp, CONNECT_PATIENCE).await;
    let connected = fleet.sinks.len();
    eprintln!(
        "(a) {connected} connected in {:.1} s ({} failed{})",
        fleet.elapsed.as_secs_f64(),
        fleet.failed,
        fleet.first_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    // Let the server finish what connecting set off (presence records, subscriptions).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.stats().ok_or_else(|| anyhow!("cannot read the server's /proc"))?;
    let bench_after = ProcStats::read("self").unwrap_or_default();

    let hold = Duration::from_secs(args.hold_secs);
    let cpu_before = server.stats().map_or(0, |s| s.cpu_ticks);
    let held_from = Instant::now();
    tokio::time::sleep(hold).await;
    let cpu_after = server.stats().map_or(0, |s| s.cpu_ticks);
    let hold_secs = held_from.elapsed().as_secs_f64();
    let closed_during_hold = fleet.drain().iter().filter(|e| e.seen == Seen::Closed).count();

    // Still open? Every connection pings and must get its pong.
    let mut send_errors = 0;
    for sink in &mut fleet.sinks {
        if ping(sink).await.is_err() {
            send_errors += 1;
        }
    }
    let mut pongs = 0;
    let expected = connected.saturating_sub(send_errors);
    if expected > 0 {
        let events = fleet
            .collect_until(Duration::from_secs(30), |event| {
                if event.seen == Seen::Pong {
                    pongs += 1;
                }
                pongs >= expected
            })
            .await;
        drop(events);
    }
    eprintln!("(a) after {hold_secs:.0} s idle: {pongs} of {connected} answered a ping");

    let (failed, first_error, connect_secs) =
        (fleet.failed, fleet.first_error.clone(), fleet.elapsed.as_secs_f64());
    fleet.close();
    // How much the server gives back once the clients are gone (presence marks them offline
    // after its grace period).
    let released = settle(server, before.fds, Duration::from_secs(30)).await;

    let mut reconnected = Vec::new();
    for round in 1..=args.reconnect_ramps {
        eprintln!(
            "(a) connecting the same {} clients again ({round} of {})",
            args.idle, args.reconnect_ramps
        );
        let again = Fleet::connect(urls.clone(), args.ramp, CONNECT_PATIENCE).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(stats) = server.stats() {
            reconnected.push((stats, again.sinks.len()));
        }
        again.close();
        settle(server, before.fds, Duration::from_secs(30)).await;
    }
    Ok(Idle {
        target: args.idle,
        connected,
        failed,
        first_error,
        connect_secs,
        before,
        after,
        released,
        reconnected,
        bench_after,
        hold_secs,
        idle_cpu_seconds: cpu_after.saturating_sub(cpu_before) as f64 / TICKS_PER_SECOND,
        closed_during_hold,
        pongs,
    })
}

/// Waits until the server is back to about `fds` descriptors (its clients' sockets closed) and
/// its CPU has been still for a second; returns its state then.
async fn settle(server: &ServerProcess, fds: u64, patience: Duration) -> Option<ProcStats> {
    let deadline = Instant::now() + patience;
    let mut last = server.stats()?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = server.stats()?;
        let still = now.cpu_ticks.saturating_sub(last.cpu_ticks) <= 2;
        if (now.fds <= fds + 16 && still) || Instant::now() >= deadline {
            return Some(now);
        }
        last = now;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Command → frame
// ---------------------------------------------------------------------------------------------

/// A signed-up user.
#[derive(Debug, Clone)]
struct User {
    id: Uuid,
    token: String,
}

#[derive(Debug)]
struct Latency {
    users: usize,
    senders: usize,
    rate_asked: f64,
    /// Transfers per second actually sent in the measured window.
    rate_sent: f64,
    signup_secs: f64,
    /// Transfers answered 201 in the measured window.
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    /// Measured transfers whose frame arrived.
    frames: usize,
    /// Frames that delivered more than one transfer (the projection's batch held two).
    coalesced: usize,
    command: Summary,
    to_frame: Summary,
    /// Frame arrival minus HTTP response (negative: the frame came first).
    after_response: Summary,
    /// The largest `loopync_projection_lag_seconds` of the ledger read model seen while
    /// transfers flowed, sampled every 250 ms.
    projection_lag_max: Option<f64>,
    server_cpu_seconds: f64,
    wall_secs: f64,
}

/// One transfer as sent.
#[derive(Debug)]
struct Sent {
    recipient: usize,
    /// The recipient's balance once this transfer is in (its k-th credit).
    k: i64,
    measured: bool,
    at: Instant,
    answered: Instant,
    outcome: Result<(), String>,
}

async fn latency(
    args: &Args,
    server: &ServerProcess,
    http: &reqwest::Client,
) -> Result<(Latency, Fleet, Vec<User>)> {
    let base = format!("http://{}", server.addr);
    let tag = format!("{:06x}", rand::rng().random::<u32>() & 0x00ff_ffff);
    eprintln!("(b) signing up {} users", args.clients);
    let started = Instant::now();
    let users = sign_up(http, &base, &tag, args.clients, args.signup_concurrency).await?;
    let signup_secs = started.elapsed().as_secs_f64();
    let senders = args.clients - args.clients / 2;
    let recipients = args.clients - senders;

    // Senders need credits; recipients start at 0 so that their balance counts transfers.
    let funded: Vec<Result<()>> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
        futures::stream::iter(users[..senders].iter().map(|user| top_up(http, &base, user))),
        args.signup_concurrency,
    ))
    .await;
    funded.into_iter().collect::<Result<Vec<()>>>()?;

    eprintln!("(b) connecting {} clients", users.len());
    let urls = users.iter().map(|u| ws_url(server.addr, &u.token)).collect();
    let mut fleet = Fleet::connect(urls, args.ramp, CONNECT_PATIENCE).await;
    if fleet.failed > 0 {
        bail!(
            "{} of {} clients could not connect: {}",
            fleet.failed,
            users.len(),
            fleet.first_error.unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    fleet.drain();
    quiet(args, "(b) transfers").await;

    // The projection's lag, sampled while the transfers flow.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_lag(http.clone(), format!("{base}/metrics"), sampling.clone()));

    let warmup = (args.rate * args.warmup_secs as f64).round() as usize;
    let total = warmup + (args.rate * args.seconds as f64).round() as usize;
    eprintln!(
        "(b) {total} transfers at {}/s ({} s warm-up + {} s measured)",
        args.rate, args.warmup_secs, args.seconds
    );
    let mut credits = vec![0_i64; recipients];
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    // Open loop: a late tick is sent at once, keeping the schedule's average rate.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let cpu_before = server.stats().map_or(0, |s| s.cpu_ticks);
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let from = users[i % senders].clone();
        let recipient = i % recipients;
        let to = users[senders + recipient].id;
        credits[recipient] += 1;
        let k = credits[recipient];
        let client = http.clone();
        let url = format!("{base}/api/looppay/transfer");
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            let outcome = transfer(&client, &url, &from.token, to).await;
            Sent { recipient, k, measured: i >= warmup, at, answered: Instant::now(), outcome }
        }));
    }
    let mut sent = Vec::with_capacity(total);
    for task in tasks {
        sent.push(task.await?);
    }
    let wall_secs = began.elapsed().as_secs_f64();

    // Frames still on their way.
    let ok_credits: i64 = sent.iter().filter(|s| s.outcome.is_ok()).count() as i64;
    let mut covered = vec![0_i64; recipients];
    let mut frames: Vec<Event> = fleet.drain();
    for event in &frames {
        cover(&mut covered, senders, event);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while covered.iter().sum::<i64>() < ok_credits {
        match tokio::time::timeout_at(deadline, fleet.events.recv()).await {
            Ok(Some(event)) => {
                cover(&mut covered, senders, &event);
                frames.push(event);
            }
            _ => break,
        }
    }
    let cpu_after = server.stats().map_or(0, |s| s.cpu_ticks);
    sampling.store(false, Ordering::Relaxed);
    let projection_lag_max = sampler.await.ok().flatten();

    // When each recipient's k-th credit reached its socket: a frame with balance m delivers
    // every credit up to m not delivered before.
    let mut arrived: HashMap<(usize, i64), Instant> = HashMap::new();
    let mut delivered = vec![0_i64; recipients];
    let mut coalesced = 0;
    for event in &frames {
        let Seen::Balance { available } = event.seen else { continue };
        let Some(recipient) = event.conn.checked_sub(senders) else { continue };
        let Some(done) = delivered.get_mut(recipient) else { continue };
        if available > *done + 1 {
            coalesced += 1;
        }
        for k in (*done + 1)..=available {
            arrived.insert((recipient, k), event.at);
        }
        *done = (*done).max(available);
    }

    let measured: Vec<&Sent> = sent.iter().filter(|s| s.measured).collect();
    let ok: Vec<&&Sent> = measured.iter().filter(|s| s.outcome.is_ok()).collect();
    let first_error = measured.iter().find_map(|s| s.outcome.clone().err());
    let span = match (measured.first(), measured.last()) {
        (Some(first), Some(last)) if last.at > first.at => (last.at - first.at).as_secs_f64(),
        _ => 0.0,
    };
    let mut to_frame = Vec::new();
    let mut after_response = Vec::new();
    for s in &ok {
        if let Some(at) = arrived.get(&(s.recipient, s.k)) {
            to_frame.push(ms_between(s.at, *at));
            after_response.push(ms_between(s.answered, *at));
        }
    }
    let latency = Latency {
        users: users.len(),
        senders,
        rate_asked: args.rate,
        rate_sent: if span > 0.0 { (measured.len().saturating_sub(1)) as f64 / span } else { 0.0 },
        signup_secs,
        ok: ok.len(),
        errors: measured.len() - ok.len(),
        first_error,
        frames: to_frame.len(),
        coalesced,
        command: summary(ok.iter().map(|s| ms_between(s.at, s.answered)).collect()),
        to_frame: summary(to_frame),
        after_response: summary(after_response),
        projection_lag_max,
        server_cpu_seconds: cpu_after.saturating_sub(cpu_before) as f64 / TICKS_PER_SECOND,
        wall_secs,
    };
    Ok((latency, fleet, users))
}

/// Counts the credits a recipient's frame shows (senders' own frames are ignored).
fn cover(covered: &mut [i64], senders: usize, event: &Event) {
    if let Seen::Balance { available } = event.seen
        && let Some(slot) = event.conn.checked_sub(senders).and_then(|r| covered.get_mut(r))
    {
        *slot = (*slot).max(available);
    }
}

/// Signs `count` users up over HTTP (bcrypt cost 4 on the server), `parallel` at a time.
async fn sign_up(
    http: &reqwest::Client,
    base: &str,
    tag: &str,
    count: usize,
    parallel: usize,
) -> Result<Vec<User>> {
    let url = format!("{base}/api/auth/signup");
    let results: Vec<Result<User>> = futures::StreamExt::collect(futures::StreamExt::buffered(
        futures::stream::iter((0..count).map(|i| {
            let body = json!({
                "email": format!("rt{i}.{tag}@bench.example.com"),
                "password": "bench-realtime-password",
                "name": format!("Realtime {i}"),
                "handle": format!("rt{tag}_{i}"),
            });
            let request = http.post(&url).json(&body);
            async move {
                let response = request.send().await.context("POST /api/auth/signup")?;
                let status = response.status();
                let body: Value = response.json().await.context("sign-up response")?;
                if !status.is_success() {
                    bail!("sign-up: {status} {body}");
                }
                let id = body["user"]["id"].as_str().and_then(|id| id.parse().ok());
                let token = body["token"].as_str();
                match (id, token) {
                    (Some(id), Some(token)) => Ok(User { id, token: token.to_owned() }),
                    _ => bail!("sign-up response without user id or token: {body}"),
                }
            }
        })),
        parallel.max(1),
    ))
    .await;
    results.into_iter().collect()
}

/// Tops up a user's wallet (the development provider confirms at once).
async fn top_up(http: &reqwest::Client, base: &str, user: &User) -> Result<()> {
    let response = http
        .post(format!("{base}/api/looppay/topup"))
        .bearer_auth(&user.token)
        .json(&json!({ "amount": 10_000 }))
        .send()
        .await
        .context("POST /api/looppay/topup")?;
    let status = response.status();
    if !status.is_success() {
        bail!("top-up: {status} {}", response.text().await.unwrap_or_default());
    }
    Ok(())
}

/// One transfer of 1 credit; `Err` with the status and body if it is not created.
async fn transfer(http: &reqwest::Client, url: &str, token: &str, to: Uuid) -> Result<(), String> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "to": to, "amount": 1 }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read the whole body: the response time includes it, as for a real client.
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() { Ok(()) } else { Err(format!("{status} {}", String::from_utf8_lossy(&body))) }
}

/// Samples the ledger projection's lag gauge from `/metrics` until `running` turns false;
/// returns the largest value seen.
async fn sample_lag(http: reqwest::Client, url: String, running: Arc<AtomicBool>) -> Option<f64> {
    let mut max: Option<f64> = None;
    while running.load(Ordering::Relaxed) {
        if let Ok(response) = http.get(&url).send().await
            && let Ok(text) = response.text().await
        {
            for line in text.lines() {
                if line.starts_with("loopync_projection_lag_seconds{")
                    && line.contains("looppay")
                    && let Some(value) = line.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok())
                {
                    max = Some(max.map_or(value, |m| m.max(value)));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    max
}

// ---------------------------------------------------------------------------------------------
// (c) Fan-out
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Path {
    /// Every client's delay from the round's first publish (ms), over all rounds.
    delays: Vec<f64>,
    /// Per round, the last client's delay (ms).
    totals: Vec<f64>,
    /// Per round, how long publishing all the messages took (ms).
    publish: Vec<f64>,
    received: usize,
    expected: usize,
}

#[derive(Debug)]
struct Fanout {
    audience: usize,
    rounds: usize,
    gateway: Path,
    nats: Path,
}

fn signal_payload(round: usize) -> String {
    json!({
        "type": "signal",
        "cursor": null,
        "data": { "from": Uuid::nil(), "fromConnection": "bench", "signal": { "round": round } },
    })
    .to_string()
}

/// Publishes `payload` to every subject as fast as one client can, then collects the arrivals
/// of `round` from `events`.
async fn fan_out_round(
    nats: &async_nats::Client,
    subjects: &[String],
    round: usize,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    path: &mut Path,
) -> Result<()> {
    let payload = signal_payload(round);
    let started = Instant::now();
    for subject in subjects {
        nats.publish(subject.clone(), payload.clone().into()).await?;
    }
    nats.flush().await?;
    path.publish.push(ms_between(started, Instant::now()));
    let audience = subjects.len();
    let mut seen = 0;
    let mut last = 0.0_f64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen < audience {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if event.seen == (Seen::Signal { round: round as i64 }) => {
                seen += 1;
                let delay = ms_between(started, event.at);
                last = last.max(delay);
                path.delays.push(delay);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    path.received += seen;
    path.expected += audience;
    path.totals.push(last);
    Ok(())
}

async fn fanout(args: &Args, fleet: &mut Fleet, users: &[User]) -> Result<Fanout> {
    let publisher = async_nats::connect(&args.nats_url).await.context("connecting to NATS")?;

    // The baseline: as many plain subscribers on one connection of this process (the gateway
    // also holds all its users' subscriptions on one connection), parsing the same JSON.
    let subscriber = async_nats::connect(&args.nats_url).await.context("connecting to NATS")?;
    let tag = format!("{:08x}", rand::rng().random::<u32>());
    let plain: Vec<String> = (0..users.len()).map(|i| format!("bench.fanout.{tag}.{i}")).collect();
    let (tx, mut plain_events) = tokio::sync::mpsc::unbounded_channel();
    let mut plain_tasks = Vec::with_capacity(plain.len());
    for (i, subject) in plain.iter().enumerate() {
        let mut subscription = subscriber.subscribe(subject.clone()).await?;
        let tx = tx.clone();
        plain_tasks.push(tokio::spawn(async move {
            while let Some(message) = futures::StreamExt::next(&mut subscription).await {
                let at = Instant::now();
                let Ok(frame) = serde_json::from_slice::<Value>(&message.payload) else { continue };
                let round = frame["data"]["signal"]["round"].as_i64().unwrap_or(-1);
                if tx.send(Event { conn: i, at, seen: Seen::Signal { round } }).is_err() {
                    return;
                }
            }
        }));
    }
    subscriber.flush().await?;

    // The gateway under test runs without `LOOPYNC_NATS_PREFIX`.
    let subjects = loopync_projections::Subjects::default();
    let live: Vec<String> = users.iter().map(|u| subjects.live_ephemeral(u.id)).collect();
    let mut result = Fanout {
        audience: users.len(),
        rounds: args.fanout_rounds,
        gateway: Path::default(),
        nats: Path::default(),
    };
    eprintln!(
        "(c) {} rounds of one frame to {} users, through the gateway and plain NATS",
        args.fanout_rounds,
        users.len()
    );
    fleet.drain();
    // Alternating the two paths spreads whatever else the machine does over both.
    for round in 0..args.fanout_rounds {
        fan_out_round(&publisher, &plain, round, &mut plain_events, &mut result.nats).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        fan_out_round(&publisher, &live, round, &mut fleet.events, &mut result.gateway).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for task in plain_tasks {
        task.abort();
    }
    Ok(result)
}

/// The soft limit on open files, from `/proc/self/limits`.
fn fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
