//! `bench-ryw`: what read-your-writes per session costs (`just bench-ryw`).
//!
//! Serves the real API four times in this process, on one scratch database and NATS: node A and
//! node B, each once with the session memory on and once off (`session_consistency.enabled`).
//! The two A apps share one command pipeline and the projection runner (as one `loopync serve`
//! would); the two B apps share another pipeline and run no projections, so their reads learn of
//! the projections' progress by polling, as a node that does not own them does. Each of C
//! closed-loop HTTP clients is one signed-in session with its own wallet. Rows, each next to a
//! baseline measured in the same run:
//!
//! | row                                              | baseline                               |
//! |--------------------------------------------------|----------------------------------------|
//! | `GET /balance` with nothing to wait for, on      | the same read with the memory off      |
//! | top-up then balance, same session, on, no header | off, the client echoing the header     |
//! | the same, top-up on A and balance on B           | off, A then B, the header echoed       |
//!
//! The rows of a comparison run side by side: each client calls each row's operation in turn,
//! so drift on a shared machine hits every row alike; their mean latencies are compared (the
//! ratio column). A pair's read checks that the balance reflects the
//! top-up; reads that do not are counted as stale (a row without the memory and without the
//! header shows why the mechanism exists). Then: how often node B had not yet heard a top-up's
//! position when node A's answer reached the client (the window across nodes), and, in process
//! and without I/O, the nanoseconds `AppState::wait_for_position` adds to a read and the
//! microseconds remembering a command's position (publish + NATS echo) adds to a command.

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use loopync_api::identity::{AuthConfig, JwtSecret};
use loopync_api::looppay::{LoopPayConfig, ProviderChoice};
use loopync_api::{ApiConfig, AppState, Caller, Delivery, RateLimitConfig, SessionConsistencyConfig};
use loopync_bench::cpu::{CpuSnapshot, wait_for_quiet};
use loopync_bench::machine::Machine;
use loopync_bench::scratch::Server;
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::identity::Role;
use loopync_domain::looppay::TopUpLimits;
use loopync_projections::identity::{UserProfiles, UserSessions};
use loopync_projections::looppay::LedgerReadModel;
use loopync_projections::{CheckpointBoard, LogWaker, Projection};
use loopync_schemas::Position;
use loopync_workers::{ProjectionRunner, RunnerConfig};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "bench-ryw", version)]
struct Args {
    /// The PostgreSQL server to use (the benchmark creates and drops its own database).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// NATS, shared by the nodes.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Concurrent clients, one session each.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Measured seconds of each comparison (its rows share them).
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Warm-up seconds before each comparison.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Top-ups of the window measurement across nodes.
    #[arg(long, default_value_t = 2000)]
    window_commands: usize,
    /// Iterations of the in-process measurements.
    #[arg(long, default_value_t = 200_000)]
    iterations: u32,
    /// Before measuring, wait (at most this many seconds) until other processes use less than
    /// 10% of the machine.
    #[arg(long, default_value_t = 30)]
    quiet_wait_secs: u64,
    /// Also write the results as a markdown section to this file.
    #[arg(long)]
    write_markdown: Option<std::path::PathBuf>,
}

/// What one row measured.
struct Row {
    name: String,
    per_second: f64,
    mean_micros: f64,
    p50_micros: u64,
    p99_micros: u64,
    /// Reads that did not reflect their session's command.
    stale: u64,
    errors: u64,
    /// Other processes' share of the machine during the window.
    others: Option<f64>,
}

/// What one call of a row's operation found.
enum Outcome {
    /// Done, and (for reads of one's own write) it reflected the write.
    Fresh,
    /// A read that did not reflect its session's command.
    Stale,
}

/// One row's operation: a call as client `n`.
type Op = Box<dyn Fn(usize) -> BoxFuture<'static, Result<Outcome>> + Send + Sync>;

/// What one client saw of one row.
struct Tally {
    latency: Histogram<u64>,
    ok: u64,
    stale: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `clients` closed-loop tasks for a warm-up, then the measured window. Each task calls
/// every row's operation in turn, starting one further each time round, so the rows share
/// the machine's every moment: on a shared machine, a side-by-side comparison that windows one
/// after another could not resolve. A call counts if it starts inside the window.
async fn measure(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    rows: Vec<(&str, Op)>,
) -> Result<Vec<Row>> {
    let names: Vec<String> = rows.iter().map(|(name, _)| (*name).to_owned()).collect();
    let ops: Arc<Vec<Op>> = Arc::new(rows.into_iter().map(|(_, op)| op).collect());
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = CpuSnapshot::take();
        tokio::time::sleep_until(end.into()).await;
        before.zip(CpuSnapshot::take()).map(|(before, after)| after.since(&before).other_share())
    });
    let mut tasks = Vec::new();
    for client in 0..clients {
        let ops = ops.clone();
        tasks.push(tokio::spawn(async move {
            let mut tallies = Vec::new();
            for _ in 0..ops.len() {
                let latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
                tallies.push(Tally { latency, ok: 0, stale: 0, errors: 0, first_error: None });
            }
            let mut round = client;
            while Instant::now() < end {
                for k in 0..ops.len() {
                    let index = (round + k) % ops.len();
                    let started = Instant::now();
                    let outcome = ops[index](client).await;
                    let finished = Instant::now();
                    if started < measure_from || started >= end {
                        continue;
                    }
                    let tally = &mut tallies[index];
                    match outcome {
                        Ok(outcome) => {
                            tally.ok += 1;
                            if matches!(outcome, Outcome::Stale) {
                                tally.stale += 1;
                            }
                            let micros = finished.duration_since(started).as_micros() as u64;
                            tally.latency.saturating_record(micros);
                        }
                        Err(error) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(format!("{error:#}"));
                        }
                    }
                }
                round += 1;
            }
            anyhow::Ok(tallies)
        }));
    }
    let mut totals = Vec::new();
    for _ in 0..names.len() {
        let latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        totals.push(Tally { latency, ok: 0, stale: 0, errors: 0, first_error: None });
    }
    for task in tasks {
        for (total, tally) in totals.iter_mut().zip(task.await??) {
            total.latency.add(&tally.latency)?;
            total.ok += tally.ok;
            total.stale += tally.stale;
            total.errors += tally.errors;
            if total.first_error.is_none() {
                total.first_error = tally.first_error;
            }
        }
    }
    let others = cpu.await.ok().flatten();
    let seconds = duration.as_secs_f64();
    Ok(names
        .into_iter()
        .zip(totals)
        .map(|(name, total)| {
            if let Some(error) = &total.first_error {
                eprintln!("{name}: first error: {error}");
            }
            Row {
                name,
                per_second: total.ok as f64 / seconds,
                mean_micros: total.latency.mean(),
                p50_micros: total.latency.value_at_quantile(0.5),
                p99_micros: total.latency.value_at_quantile(0.99),
                stale: total.stale,
                errors: total.errors,
                others,
            }
        })
        .collect())
}

fn line(row: &Row, baseline: Option<&Row>) -> String {
    let ratio =
        baseline.map_or_else(|| "—".to_owned(), |b| format!("{:.3}", row.mean_micros / b.mean_micros));
    let others = row.others.map_or_else(|| "—".to_owned(), |share| format!("{:.0}%", share * 100.0));
    format!(
        "| {:<58} | {:>7.1} | {:>9.3} | {:>8.3} | {:>8.2} | {:>6} | {:>6} | {:>6} | {:>6} |",
        row.name,
        row.per_second,
        row.mean_micros / 1000.0,
        row.p50_micros as f64 / 1000.0,
        row.p99_micros as f64 / 1000.0,
        row.stale,
        row.errors,
        ratio,
        others
    )
}

/// Nanoseconds per call of `op`, over `iterations` calls, awaited one after another.
async fn nanos_per_call<F, Fut>(iterations: u32, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    for _ in 0..iterations {
        op().await;
    }
    started.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// One node's app, served on a local port.
struct Node {
    state: AppState,
    base: String,
}

/// The settings every app shares: a known JWT secret (tokens work on every node), bcrypt at
/// cost 4 (sign-ups are not measured), no rate limits, top-up limits out of the way.
fn config(session_memory: bool) -> ApiConfig {
    ApiConfig {
        auth: AuthConfig {
            bcrypt_cost: 4,
            jwt_secret: JwtSecret::new("bench-ryw-signing-secret-0123456789abcdef"),
            ..AuthConfig::default()
        },
        rate_limits: RateLimitConfig::off(),
        looppay: LoopPayConfig {
            provider: ProviderChoice::Dev,
            limits: TopUpLimits { per_top_up: 1_000_000, daily: i64::MAX / 4, pending: usize::MAX },
            ..LoopPayConfig::default()
        },
        session_consistency: SessionConsistencyConfig {
            enabled: session_memory,
            ..SessionConsistencyConfig::default()
        },
        ..ApiConfig::default()
    }
}

async fn serve(
    pool: &PgPool,
    pipeline: &Arc<CommandPipeline>,
    board: &Arc<CheckpointBoard>,
    nats: Option<async_nats::Client>,
    session_memory: bool,
    shutdown: &CancellationToken,
) -> Result<Node> {
    let delivery =
        Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(RecordingSmsSender::new()) };
    let state =
        AppState::new(pool.clone(), pipeline.clone(), board.clone(), nats, config(session_memory), delivery)
            .map_err(|e| anyhow!("{e}"))?;
    if session_memory && !state.session_positions.shared(Duration::from_secs(10)).await {
        bail!("sessions' positions are not shared over NATS");
    }
    let acceptor = loopync_api::bind("127.0.0.1:0").await?;
    let address = loopync_api::local_addr(&acceptor).context("no local address")?;
    let app = loopync_api::app(state.clone(), loopync_api::feature_apis(&state));
    let stopped = shutdown.clone().cancelled_owned();
    tokio::spawn(async move { loopync_api::serve(acceptor, app, stopped, Duration::from_secs(2)).await });
    Ok(Node { state, base: format!("http://{address}") })
}

/// A client's session: its token, and the balance its own last top-up left.
struct Session {
    bearer: String,
    expected: AtomicI64,
}

/// `POST /api/looppay/topup` of 1 as `session`; remembers the balance the command reports as
/// the one the session's next read must show, and returns the command's position.
async fn top_up(http: &reqwest::Client, node: &str, session: &Session) -> Result<Option<String>> {
    let response = http
        .post(format!("{node}/api/looppay/topup"))
        .header("Authorization", &session.bearer)
        .json(&json!({"amount": 1}))
        .send()
        .await?;
    if response.status().as_u16() != 201 {
        bail!("top-up: {} {}", response.status(), response.text().await?);
    }
    let position =
        response.headers().get("loopync-position").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await?;
    let balance = body["balance"]["available"].as_i64().context("no balance in the top-up's answer")?;
    session.expected.store(balance, Ordering::Relaxed);
    Ok(position)
}

/// `GET /api/looppay/balance` as `session` (naming `position` if given): whether it reflects
/// the session's last top-up.
async fn balance(
    http: &reqwest::Client,
    node: &str,
    session: &Session,
    position: Option<String>,
) -> Result<Outcome> {
    let mut request =
        http.get(format!("{node}/api/looppay/balance")).header("Authorization", &session.bearer);
    if let Some(position) = position {
        request = request.header("Loopync-Position", position);
    }
    let response = request.send().await?;
    if response.status().as_u16() != 200 {
        bail!("balance: {} {}", response.status(), response.text().await?);
    }
    let body: Value = response.json().await?;
    let available = body["available"].as_i64().context("no balance")?;
    Ok(if available >= session.expected.load(Ordering::Relaxed) { Outcome::Fresh } else { Outcome::Stale })
}

/// A write-then-read pair: a top-up through `writer`, then at once a balance read through
/// `reader`, naming the top-up's position if `echo`.
async fn pair(
    http: reqwest::Client,
    writer: String,
    reader: String,
    session: Arc<Session>,
    echo: bool,
) -> Result<Outcome> {
    let position = top_up(&http, &writer, &session).await?;
    balance(&http, &reader, &session, position.filter(|_| echo)).await
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let clients = args.clients;

    let server = Server::connect(&args.database_url).await.context("cannot reach PostgreSQL")?;
    let database = server.create(&Server::run_name()).await?;
    let pool = database.pool(32, "bench-ryw").await?;
    loopync_schemas::MIGRATOR.run(&pool).await.context("migrations")?;
    let nats = |name: &'static str| {
        let url = args.nats_url.clone();
        async move {
            async_nats::ConnectOptions::new()
                .name(name)
                .connect(&url)
                .await
                .with_context(|| format!("NATS at {url}"))
        }
    };
    let shutdown = CancellationToken::new();

    // Node A: its pipeline, and the projections, reporting to its board.
    let store_a = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline_a = Arc::new(CommandPipeline::new(store_a.clone(), PipelineConfig::default()));
    let board_a = CheckpointBoard::new(pool.clone());
    let a_off = serve(&pool, &pipeline_a, &board_a, Some(nats("a-off").await?), false, &shutdown).await?;
    let a_on = serve(&pool, &pipeline_a, &board_a, Some(nats("a-on").await?), true, &shutdown).await?;
    let projections: Vec<Arc<dyn Projection>> =
        vec![Arc::new(UserProfiles), Arc::new(UserSessions), Arc::new(LedgerReadModel)];
    let waker = LogWaker::new(pool.clone(), Some(store_a.commits()));
    let runner = ProjectionRunner::new(
        pool.clone(),
        projections,
        waker,
        board_a.clone(),
        None,
        RunnerConfig::default(),
    );
    tokio::spawn(runner.run(shutdown.clone()));
    // Node B: another pipeline, no projections.
    let store_b = Arc::new(PgEventStore::new(pool.clone(), GroupCommit::default()));
    let pipeline_b = Arc::new(CommandPipeline::new(store_b, PipelineConfig::default()));
    let board_b = CheckpointBoard::new(pool.clone());
    let b_off = serve(&pool, &pipeline_b, &board_b, Some(nats("b-off").await?), false, &shutdown).await?;
    let b_on = serve(&pool, &pipeline_b, &board_b, Some(nats("b-on").await?), true, &shutdown).await?;

    let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;
    let run = Uuid::now_v7().simple().to_string();
    let tag = &run[run.len() - 8..];
    let mut sessions = Vec::new();
    for client in 0..clients {
        let handle = format!("ryw_{tag}_{client}");
        let response = http
            .post(format!("{}/api/auth/signup", a_on.base))
            .json(
                &json!({"email": format!("{handle}@example.com"), "password": "correct horse battery staple",
                          "name": handle, "handle": handle}),
            )
            .send()
            .await?;
        if response.status().as_u16() != 201 {
            bail!("sign-up: {} {}", response.status(), response.text().await?);
        }
        let body: Value = response.json().await?;
        let bearer = format!("Bearer {}", body["token"].as_str().unwrap_or_default());
        let session = Session { bearer, expected: AtomicI64::new(0) };
        top_up(&http, &a_on.base, &session).await?;
        sessions.push(Arc::new(session));
    }
    let sessions = Arc::new(sessions);
    // Every read model caught up and every remembered position forgotten: the read rows' sessions
    // have nothing to wait for.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let machine = Machine::detect();
    let quiet = wait_for_quiet(0.10, Duration::from_secs(args.quiet_wait_secs)).await;
    println!(
        "bench-ryw: {} clients, {} s per comparison, {} ({} cores, shared with PostgreSQL and NATS), \
         others at {} before the run",
        clients,
        args.duration_secs,
        machine.cpu,
        machine.cores,
        quiet.map_or_else(|| "?".to_owned(), |share| format!("{:.0}%", share * 100.0))
    );

    // Reads with nothing to wait for, off and on side by side.
    let read_op = |node: &Node| -> Op {
        let (http, base, sessions) = (http.clone(), node.base.clone(), sessions.clone());
        Box::new(move |client: usize| {
            let (http, base, session) = (http.clone(), base.clone(), sessions[client].clone());
            Box::pin(async move { balance(&http, &base, &session, None).await })
        })
    };
    let reads = measure(
        clients,
        warmup,
        duration,
        vec![
            ("GET /balance, session memory off (baseline)", read_op(&a_off)),
            ("GET /balance, session memory on, nothing to wait for", read_op(&a_on)),
        ],
    )
    .await?;

    // Write-then-read pairs: on one node, then across nodes, each side by side with the header
    // echoed by the client without the memory; and, to show why, neither memory nor header.
    let pair_op = |writer: &Node, reader: &Node, echo: bool| -> Op {
        let (http, writer, reader, sessions) =
            (http.clone(), writer.base.clone(), reader.base.clone(), sessions.clone());
        Box::new(move |client: usize| {
            Box::pin(pair(http.clone(), writer.clone(), reader.clone(), sessions[client].clone(), echo))
        })
    };
    let pairs = measure(
        clients,
        warmup,
        duration,
        vec![
            ("top-up + balance, off, header echoed (baseline)", pair_op(&a_off, &a_off, true)),
            ("top-up + balance, on, no header", pair_op(&a_on, &a_on, false)),
            ("top-up + balance, off, no header", pair_op(&a_off, &a_off, false)),
        ],
    )
    .await?;
    let cross = measure(
        clients,
        warmup,
        duration,
        vec![
            ("top-up on A + balance on B, off, header echoed (baseline)", pair_op(&a_off, &b_off, true)),
            ("top-up on A + balance on B, on, no header", pair_op(&a_on, &b_on, false)),
        ],
    )
    .await?;

    // The window across nodes: when a top-up on A answers, has B heard its position yet?
    let probe = &sessions[0];
    let token = probe.bearer.trim_start_matches("Bearer ");
    let session_id =
        b_on.state.identity.tokens.verify_access(token).map_err(|e| anyhow!("probe token: {e}"))?.sid;
    let mut late = Vec::new();
    for _ in 0..args.window_commands {
        let position = top_up(&http, &a_on.base, probe).await?.context("no position")?;
        let position: Position = position.parse().map_err(|e| anyhow!("{e}"))?;
        let answered = Instant::now();
        if b_on.state.session_positions.last(session_id) >= Some(position) {
            continue;
        }
        while b_on.state.session_positions.last(session_id) < Some(position) {
            if answered.elapsed() > Duration::from_secs(1) {
                bail!("node B never heard {position}");
            }
            tokio::task::yield_now().await;
        }
        late.push(answered.elapsed().as_micros() as u64);
    }

    // In process, no I/O: what a read's wait adds, and what remembering adds to a command.
    let ledger = [LedgerReadModel::NAME];
    let state = &a_on.state;
    let caller = Caller { user_id: Uuid::now_v7(), session_id: Uuid::now_v7(), role: Role::User };
    let before_nanos = nanos_per_call(args.iterations, || async {
        std::hint::black_box(state.wait_for_position(None, None, &ledger).await.ok());
    })
    .await;
    let nothing_nanos = nanos_per_call(args.iterations, || async {
        std::hint::black_box(state.wait_for_position(Some(&caller), None, &ledger).await.ok());
    })
    .await;
    let passed = Caller { session_id: Uuid::now_v7(), ..caller };
    state.session_positions.remember(passed.session_id, Position::new(1, 1)).await;
    let passed_nanos = nanos_per_call(args.iterations, || async {
        std::hint::black_box(state.wait_for_position(Some(&passed), None, &ledger).await.ok());
    })
    .await;
    let remember_iterations = (args.iterations / 20).max(1);
    let mut position = 0;
    let remember_nanos = nanos_per_call(remember_iterations, || {
        position += 1;
        state.session_positions.remember(Uuid::now_v7(), Position::new(1, position))
    })
    .await;

    let header = "| row                                                        |   per s | mean (ms) | p50 (ms) | p99 (ms) |  stale | errors |  ratio | others |\n\
                  |------------------------------------------------------------|--------:|----------:|---------:|---------:|-------:|-------:|-------:|-------:|";
    let table = [
        header.to_owned(),
        line(&reads[0], None),
        line(&reads[1], Some(&reads[0])),
        line(&pairs[0], None),
        line(&pairs[1], Some(&pairs[0])),
        line(&pairs[2], Some(&pairs[0])),
        line(&cross[0], None),
        line(&cross[1], Some(&cross[0])),
    ]
    .join("\n");
    let read_p50_nanos = reads[1].p50_micros.max(1) as f64 * 1000.0;
    let max_late = late.iter().max().copied().unwrap_or(0);
    let in_process = format!(
        "The window across nodes: of {} top-ups answered by node A, node B had not yet heard the \
         position when the answer reached the client (in the same process: a client faster than any \
         over a network) {} times; it heard it {} µs later at most.\n\n\
         In process, no I/O, {} calls each: `wait_for_position` without a session or header (what every \
         read without a header paid before) {before_nanos:.0} ns; for a session with nothing remembered \
         {nothing_nanos:.0} ns (+{:.0} ns, {:.3}% of a balance read's p50 of {} µs); for a session whose \
         remembered position the projections passed {passed_nanos:.0} ns (+{:.0} ns, {:.3}%). Remembering \
         a command's position (the local note, the NATS publish and its echo), {} calls: {:.1} µs per \
         command, {:.1}% of the on pair's p50.",
        args.window_commands,
        late.len(),
        max_late,
        args.iterations,
        nothing_nanos - before_nanos,
        (nothing_nanos - before_nanos) / read_p50_nanos * 100.0,
        reads[1].p50_micros,
        passed_nanos - before_nanos,
        (passed_nanos - before_nanos) / read_p50_nanos * 100.0,
        remember_iterations,
        remember_nanos / 1000.0,
        remember_nanos / (pairs[1].p50_micros.max(1) as f64 * 1000.0) * 100.0,
    );
    println!("\n{table}\n\n{in_process}");
    if let Some(path) = &args.write_markdown {
        let text = format!(
            "### bench-ryw — {} clients\n\nMachine: {}, {} cores (shared with PostgreSQL and NATS), {:.1} GiB, \
             Linux {}.\n\n{table}\n\n{in_process}\n",
            clients, machine.cpu, machine.cores, machine.memory_gib, machine.kernel
        );
        std::fs::write(path, text)?;
    }

    shutdown.cancel();
    drop((a_off, a_on, b_off, b_on));
    pool.close().await;
    server.drop_database(database).await?;
    if reads.iter().chain(&pairs).chain(&cross).any(|row| row.errors > 0) {
        bail!("some requests failed");
    }
    Ok(())
}
