//! `bench-ledger`: the LoopPay ledger benchmark (`just bench-ledger`).
//!
//! Transfers between users' wallets (two streams appended atomically per transfer), measured
//! against the PostgreSQL server of `DATABASE_URL` in a scratch database created for the run
//! and dropped at its end. For each client count C (default 1, 8, 32), in this order:
//!
//! | row                                   | what                                                    |
//! |---------------------------------------|---------------------------------------------------------|
//! | ceiling (pgbench, 1 insert/commit)    | `bench-core`'s ceiling at the same C, in the same run   |
//! | in-process `pipeline.decide(Transfer)`         | C closed-loop tasks calling the ledger directly         |
//! | HTTP `POST /api/looppay/transfer`     | C reqwest clients against the real app on 127.0.0.1     |
//!
//! then the hot-account variant: C = 32 payers all paying `system.escrow` (`pipeline.decide(Pay)`,
//! reference `order:<n>`), in process.
//!
//! The pipeline is built as `loopync serve` builds it by default (group commit on, batches of
//! at most 512, two in flight; snapshots every 100 events; an aggregate cache of 10,000; a
//! pool of 20 connections), and the app is the one `serve` mounts (identity and LoopPay APIs)
//! with rate limits off. Projections do not run (as in `bench-auth`): the numbers are the
//! write path's. Users are registered through the identity service (`Identity::sign_up`, at
//! bcrypt cost 4: sign-up speed is not measured here), so `recipient_not_found` checks pass
//! over HTTP, and each client sends the access token its user got at sign-up. Every wallet is
//! topped up generously through the `TopUp` decision before anything is measured.
//!
//! Each row gets a checkpoint, a wait for a quiet machine, a warm-up, then the measured window.
//! The run prints one markdown table with the ratios and PASS/MISS against the issue's
//! targets, and a table of where the CPU went; `--write-markdown` writes them to a file. It
//! fails if any request failed (a conflict that surfaces is a failure).

mod report;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use clap::Parser;
use hdrhistogram::Histogram;
use loopync_api::identity::service::{Device, SignUp};
use loopync_api::identity::{AdminApi, AuthApi, AuthConfig, UsersApi};
use loopync_api::looppay::{LoopPayApi, LoopPayConfig, ProviderChoice};
use loopync_api::{ApiConfig, AppState, Delivery, RateLimitConfig};
use loopync_bench::ceiling::{self, Pgbench};
use loopync_bench::cpu::{CpuSnapshot, CpuUsage};
use loopync_bench::machine::{Machine, ServerInfo};
use loopync_bench::scratch::{ScratchDatabase, Server};
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_delivery::{RecordingMailer, RecordingSmsSender};
use loopync_domain::given::credits;
use loopync_domain::looppay::{LedgerAccount, Pay, TopUp, TopUpLimits, Transfer};
use loopync_projections::CheckpointBoard;
use rand::Rng;
use report::{print_row, report, setup_lines};
use serde_json::json;
use sqlx::PgPool;
use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The targets.
const CEILING_TARGET: f64 = 0.60;
const HTTP_TARGET: f64 = 0.70;
const P99_TARGET_MS: f64 = 25.0;
/// The client count the targets are stated at.
const TARGET_CLIENTS: usize = 32;

/// Benchmark LoopPay transfers in process and over HTTP against the raw PostgreSQL ceiling.
#[derive(Debug, Parser)]
#[command(name = "bench-ledger", version)]
struct Args {
    /// The PostgreSQL server to use (any database on it; the benchmark creates its own).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// NATS, as `serve` has it: the session gate hears endings there, so it trusts a checked
    /// session for `LOOPYNC_SESSION_CHECK_TTL_MS` rather than the unheard TTL, and sessions'
    /// positions are shared. `--no-nats` serves without it.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Serve the HTTP rows without NATS (the session gate then re-checks every 5 s).
    #[arg(long)]
    no_nats: bool,
    /// Measured seconds per row.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Warm-up seconds before each measured window.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Client counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Payers of the hot-account row, all paying `system.escrow` (0: skip the row).
    #[arg(long, default_value_t = 32)]
    hot_clients: usize,
    /// Users registered (and wallets topped up) before measuring.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Credits each wallet is topped up with, in minor units.
    #[arg(long, default_value_t = 10_000_000)]
    top_up: i64,
    /// Connections of the app's pool (`LOOPYNC_DB_POOL_SIZE`, whose default is 20).
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Skip the HTTP rows.
    #[arg(long)]
    skip_http: bool,
    /// Skip the pgbench ceiling (ratios to it are then not available).
    #[arg(long)]
    skip_pgbench: bool,
    /// Before each row, wait (at most `--quiet-wait-secs`) until other processes use less than
    /// this percentage of the machine. Each row reports the share they took while it ran.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    quiet_below: f64,
    /// ... and until the server's other databases commit fewer than this many transactions per
    /// second (other test suites on the same PostgreSQL slow our commits too).
    #[arg(long, default_value_t = 20.0, value_name = "TPS")]
    quiet_other_tps: f64,
    /// Longest wait for a quiet machine before each row (0: do not wait).
    #[arg(long, default_value_t = 60)]
    quiet_wait_secs: u64,
    /// The pgbench program.
    #[arg(long, default_value = "pgbench")]
    pgbench: PathBuf,
    /// Also write the results as a markdown section to this file.
    #[arg(long, value_name = "PATH")]
    write_markdown: Option<PathBuf>,
}

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ceiling,
    InProcess,
    Http,
    HotAccount,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Ceiling => "ceiling (pgbench, 1 insert/commit)",
            Self::InProcess => "in-process `pipeline.decide(Transfer)`",
            Self::Http => "HTTP `POST /api/looppay/transfer`",
            Self::HotAccount => "hot account: `pipeline.decide(Pay)` → `system.escrow`",
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
struct Row {
    kind: Kind,
    clients: usize,
    ok: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    first_error: Option<String>,
    /// The pipeline's own counters during the window (not for the ceiling).
    pipeline: Option<PipelineWindow>,
    cpu: Option<CpuUsage>,
    /// Transactions per second committed in the server's *other* databases during the window:
    /// other work on the same PostgreSQL, which the CPU columns cannot tell from ours.
    other_db_tps: Option<f64>,
}

/// The pipeline's metrics over a measured window.
#[derive(Debug, Clone, Copy, Default)]
struct PipelineWindow {
    conflicts: f64,
    batches: f64,
    batched: f64,
}

/// What the Prometheus recorder says, read from its text rendering.
#[derive(Debug, Clone, Copy, Default)]
struct PipelineTotals {
    conflicts: f64,
    batches: f64,
    batched: f64,
}

impl PipelineTotals {
    fn parse(rendered: &str) -> Self {
        let mut totals = Self::default();
        for line in rendered.lines().filter(|l| !l.starts_with('#')) {
            let Some((name_and_labels, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let name = name_and_labels.split('{').next().unwrap_or_default();
            match name {
                "loopync_append_conflicts_total" => totals.conflicts += value,
                "loopync_group_commit_batch_size_count" => totals.batches += value,
                "loopync_group_commit_batch_size_sum" => totals.batched += value,
                _ => {}
            }
        }
        totals
    }

    fn since(self, earlier: Self) -> PipelineWindow {
        PipelineWindow {
            conflicts: (self.conflicts - earlier.conflicts).max(0.0),
            batches: (self.batches - earlier.batches).max(0.0),
            batched: (self.batched - earlier.batched).max(0.0),
        }
    }
}

/// Renders the process's metrics (the app's Prometheus recorder, as `serve` installs it).
type Scrape = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Watches the rest of the PostgreSQL server: what other databases commit, and how many of
/// their sessions are busy. On a shared machine another test suite's PostgreSQL work shows up
/// as "PostgreSQL CPU" and slows our commits without being ours.
#[derive(Clone)]
struct PgWatch {
    /// A connection to our own scratch database (its queries are not counted as others').
    pool: PgPool,
    own: String,
}

/// A sample of the other databases' activity.
#[derive(Debug, Clone, Copy)]
struct OthersSample {
    at: Instant,
    transactions: i64,
    active_sessions: i64,
}

impl PgWatch {
    async fn sample(&self) -> Option<OthersSample> {
        let (transactions, active_sessions) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT \
               (SELECT coalesce(sum(xact_commit + xact_rollback), 0)::bigint FROM pg_stat_database \
                 WHERE datname IS DISTINCT FROM $1), \
               (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' \
                 AND state <> 'idle' AND pid <> pg_backend_pid() AND datname IS DISTINCT FROM $1)",
        )
        .bind(&self.own)
        .fetch_one(&self.pool)
        .await
        .ok()?;
        Some(OthersSample { at: Instant::now(), transactions, active_sessions })
    }

    /// Transactions per second committed elsewhere between two samples.
    fn rate(before: Option<OthersSample>, after: Option<OthersSample>) -> Option<f64> {
        let (before, after) = before.zip(after)?;
        let seconds = after.at.duration_since(before.at).as_secs_f64();
        (seconds > 0.0).then(|| (after.transactions - before.transactions).max(0) as f64 / seconds)
    }
}

/// What is read at the edges of each measured window.
#[derive(Clone)]
struct Probe {
    scrape: Scrape,
    watch: PgWatch,
}

impl Row {
    fn from_ceiling(clients: usize, run: &ceiling::CeilingRun) -> Self {
        let quantile = |q: f64| {
            if run.latency.is_empty() { 0.0 } else { run.latency.value_at_quantile(q) as f64 / 1000.0 }
        };
        Self {
            kind: Kind::Ceiling,
            clients,
            ok: run.transactions,
            per_second: run.tps,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            max_ms: run.latency.max() as f64 / 1000.0,
            errors: run.failed,
            first_error: (run.failed > 0).then(|| format!("{} pgbench transactions failed", run.failed)),
            pipeline: None,
            cpu: run.cpu,
            other_db_tps: None,
        }
    }
}

/// Runs `op(client)` back to back on `clients` tasks: a warm-up, then the measured window.
/// A call counts if it starts inside the window; failures are counted, not timed.
async fn closed_loop<F, Fut>(
    kind: Kind,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    probe: &Probe,
    op: F,
) -> Result<Row>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;

    // The window's CPU and pipeline counters, taken at its edges.
    let probe = {
        let Probe { scrape, watch } = probe.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let cpu_before = CpuSnapshot::take();
            let metrics_before = scrape().map(|text| PipelineTotals::parse(&text));
            let others_before = watch.sample().await;
            tokio::time::sleep_until(end.into()).await;
            let cpu = cpu_before.zip(CpuSnapshot::take()).map(|(before, after)| after.since(&before));
            let metrics = metrics_before
                .zip(scrape().map(|text| PipelineTotals::parse(&text)))
                .map(|(before, after)| after.since(before));
            let others = PgWatch::rate(others_before, watch.sample().await);
            (cpu, metrics, others)
        })
    };

    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
            let (mut ok, mut errors, mut last_end) = (0u64, 0u64, measure_from);
            let mut first_error = None;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let outcome = op(client).await;
                let finished = Instant::now();
                if started < measure_from {
                    if let Err(error) = outcome {
                        first_error.get_or_insert(format!("(warm-up) {error:#}"));
                    }
                    continue;
                }
                last_end = last_end.max(finished);
                match outcome {
                    Ok(()) => {
                        ok += 1;
                        let micros =
                            u64::try_from(finished.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                        latency.saturating_record(micros.max(1));
                    }
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(format!("{error:#}"));
                    }
                }
            }
            anyhow::Ok((latency, ok, errors, last_end, first_error))
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let (mut ok, mut errors, mut last_end) = (0, 0, measure_from);
    let mut first_error = None;
    for task in tasks {
        let (histogram, client_ok, client_errors, client_end, client_error) = task.await??;
        latency.add(histogram)?;
        ok += client_ok;
        errors += client_errors;
        last_end = last_end.max(client_end);
        if first_error.is_none() {
            first_error = client_error;
        }
    }
    let (cpu, pipeline, other_db_tps) = probe.await?;
    let elapsed = last_end.duration_since(measure_from).as_secs_f64().max(1e-9);
    let quantile =
        |q: f64| if latency.is_empty() { 0.0 } else { latency.value_at_quantile(q) as f64 / 1000.0 };
    Ok(Row {
        kind,
        clients,
        ok,
        per_second: ok as f64 / elapsed,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        errors,
        first_error,
        pipeline,
        cpu,
        other_db_tps,
    })
}

/// Two distinct indexes below `n` (n ≥ 2), drawn at random.
fn distinct_pair(n: usize) -> (usize, usize) {
    let mut rng = rand::rng();
    let from = rng.random_range(0..n);
    let mut to = rng.random_range(0..n - 1);
    if to >= from {
        to += 1;
    }
    (from, to)
}

/// A user of the benchmark: their id and the `Authorization` header of their access token.
struct User {
    id: Uuid,
    bearer: String,
}

/// Everything the rows run against.
struct Fixture {
    ledger: Arc<CommandPipeline>,
    users: Arc<Vec<User>>,
    http: reqwest::Client,
    base: String,
    probe: Probe,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs one or more positive client counts");
    }
    if args.duration_secs == 0 || args.users < 2 || args.hot_clients > args.users || args.top_up <= 0 {
        bail!("--duration-secs and --top-up must be positive, --users at least 2 and at least --hot-clients");
    }
    // The app's recorder, as `serve` has it (installed before anything records a metric).
    let handle = loopync_api::metrics::install();
    let scrape: Scrape = Arc::new(move || handle.as_ref().map(loopync_api::metrics::render));

    let server = Server::connect(&args.database_url).await.context("connecting to DATABASE_URL")?;
    let database = server.create(&Server::run_name()).await?;
    eprintln!("scratch database: {}", database.name());

    let result = tokio::select! {
        result = bench(&args, &database, scrape) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let dropped = server.drop_database(database).await;
    let rows = result?;
    dropped?;

    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.errors > 0)
        .map(|r| format!("C={} {}: {} errors", r.clients, r.kind.label(), r.errors))
        .collect();
    if !failed.is_empty() {
        bail!("requests failed during the benchmark: {}", failed.join("; "));
    }
    Ok(())
}

/// Sets up the database, the users and the app, measures every row and prints the report.
async fn bench(args: &Args, database: &ScratchDatabase, scrape: Scrape) -> Result<Vec<Row>> {
    let setup_pool = database.pool(2, "bench-ledger-setup").await?;
    loopync_schemas::MIGRATOR.run(&setup_pool).await.context("migrating the scratch database")?;
    let server_info = ServerInfo::read(&setup_pool).await?;
    server_info.ensure_durable()?;
    if server_info.fsync != "on" {
        eprintln!(
            "warning: fsync is `{}`: commits are not durable and every number is optimistic",
            server_info.fsync
        );
    }
    ceiling::create_table(&setup_pool).await.context("creating the ceiling table")?;
    let pgbench = if args.skip_pgbench {
        None
    } else {
        let pgbench = Pgbench::prepare(&args.pgbench, database.url(), args.users, &[]).await?;
        let version = pgbench.version().await?;
        Some((pgbench, version))
    };

    // The pipeline and the app as `loopync serve` builds them by default.
    let pool = database.pool(args.pool_size, "bench-ledger").await?;
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: true, max_batch: 512, max_in_flight: 2 });
    let pipeline = Arc::new(CommandPipeline::new(
        Arc::new(store),
        PipelineConfig { snapshot_every: 100, cache_capacity: 10_000, ..PipelineConfig::default() },
    ));
    let limits = TopUpLimits { per_top_up: args.top_up, daily: args.top_up, pending: usize::MAX };
    let config = ApiConfig {
        auth: AuthConfig {
            // Sign-ups are setup, not measured; tokens must outlive the run.
            bcrypt_cost: 4,
            access_ttl: Duration::from_secs(4 * 3600),
            ..AuthConfig::default()
        },
        // Measured here: the endpoint, not the limiter's refusals.
        rate_limits: RateLimitConfig::off(),
        looppay: LoopPayConfig { provider: ProviderChoice::Dev, limits, ..LoopPayConfig::default() },
        ..ApiConfig::default()
    };
    let delivery =
        Delivery { mailer: Arc::new(RecordingMailer::new()), sms: Arc::new(RecordingSmsSender::new()) };
    let nats = if args.no_nats {
        None
    } else {
        Some(async_nats::connect(&args.nats_url).await.context("NATS (or pass --no-nats)")?)
    };
    let state = AppState::new(
        pool.clone(),
        pipeline.clone(),
        CheckpointBoard::new(pool.clone()),
        nats.clone(),
        config,
        delivery,
    )
    .map_err(|e| anyhow!("{e}"))?;
    // As `serve` does before it listens.
    if nats.is_some() {
        let ready = state.identity.sessions.listening(Duration::from_secs(10)).await
            && state.session_positions.shared(Duration::from_secs(10)).await;
        anyhow::ensure!(ready, "NATS did not confirm the session gate's and positions' subscriptions");
    }
    let acceptor = loopync_api::bind("127.0.0.1:0").await?;
    let address = loopync_api::local_addr(&acceptor).context("no local address")?;
    let apis = (AuthApi::new(&state), UsersApi::new(&state), AdminApi::new(&state), LoopPayApi::new(&state));
    let app = loopync_api::app(state.clone(), apis);
    let shutdown = CancellationToken::new();
    let stopped = shutdown.clone().cancelled_owned();
    let serving =
        tokio::spawn(async move { loopync_api::serve(acceptor, app, stopped, Duration::from_secs(2)).await });

    let most_clients = args.clients.iter().copied().max().unwrap_or(1).max(args.hot_clients);
    let http = reqwest::Client::builder().pool_max_idle_per_host(most_clients * 2).build()?;
    let ledger = pipeline.clone();
    let setup_started = Instant::now();
    let users = register_users(&state, &ledger, args.users, args.top_up, limits).await?;
    eprintln!(
        "{} users signed up and topped up with {} each in {:.1} s",
        users.len(),
        args.top_up,
        setup_started.elapsed().as_secs_f64()
    );
    let watch = PgWatch { pool: setup_pool.clone(), own: database.name().to_owned() };
    let probe = Probe { scrape, watch };
    let fixture = Fixture { ledger, users: Arc::new(users), http, base: format!("http://{address}"), probe };

    let machine = Machine::detect();
    let header = setup_lines(args, &machine, &server_info, pgbench.as_ref().map(|(_, v)| v.as_str()));
    println!("{}", header.join("\n"));

    let rows = measure_all(args, &fixture, pgbench.as_ref().map(|(p, _)| p)).await;
    shutdown.cancel();
    let _ = serving.await;
    pool.close().await;
    setup_pool.close().await;
    let rows = rows?;

    let report = report(args, &header, &rows);
    println!("\n{report}");
    for row in rows.iter().filter(|r| r.first_error.is_some()) {
        if let Some(error) = &row.first_error {
            eprintln!("C={} {}: first error: {error}", row.clients, row.kind.label());
        }
    }
    if let Some(path) = &args.write_markdown {
        std::fs::write(path, &report).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("markdown written to {}", path.display());
    }
    Ok(rows)
}

/// Signs `count` users up through the identity service and tops their wallets up.
async fn register_users(
    state: &AppState,
    ledger: &Arc<CommandPipeline>,
    count: usize,
    top_up: i64,
    limits: TopUpLimits,
) -> Result<Vec<User>> {
    let run = Uuid::now_v7().simple().to_string();
    let tag = &run[run.len() - 8..];
    let signups = (0..count).map(|n| {
        let identity = state.identity.clone();
        let ledger = ledger.clone();
        let form = SignUp {
            email: format!("ledger{n}.{tag}@example.com"),
            password: "correct horse battery staple".to_owned(),
            name: format!("Ledger {n}"),
            handle: format!("ledger_{tag}_{n}"),
        };
        async move {
            let device = Device { user_agent: Some("bench-ledger".to_owned()), ip: None };
            let signed_in = identity
                .sign_up(form, &device, &CommandContext::default())
                .await
                .map_err(|e| anyhow!("sign-up {n}: {e}"))?;
            let account = LedgerAccount::User(signed_in.user_id);
            let top_up = TopUp {
                account,
                top_up_id: Uuid::now_v7(),
                amount: credits(top_up),
                confirmed: true,
                limits,
                now: Utc::now(),
            };
            ledger
                .decide(&top_up, &CommandContext::actor(account.to_string()))
                .await
                .map_err(|e| anyhow!("top-up {n}: {e}"))?;
            anyhow::Ok(User { id: signed_in.user_id, bearer: format!("Bearer {}", signed_in.access_token) })
        }
    });
    use futures::StreamExt as _;
    let users: Vec<Result<User>> = futures::stream::iter(signups).buffered(16).collect().await;
    users.into_iter().collect()
}

/// Every row, in order: per client count the ceiling, in process, over HTTP; then the hot account.
async fn measure_all(args: &Args, fixture: &Fixture, pgbench: Option<&Pgbench>) -> Result<Vec<Row>> {
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = Duration::from_secs(args.duration_secs);
    let mut rows = Vec::new();
    for &clients in &args.clients {
        if let Some(pgbench) = pgbench {
            prepare_row(args, &fixture.probe.watch, clients, Kind::Ceiling).await;
            pgbench.run(clients, warmup, false).await?;
            let others_before = fixture.probe.watch.sample().await;
            let run = pgbench.run(clients, duration, true).await?;
            let others = PgWatch::rate(others_before, fixture.probe.watch.sample().await);
            let row = Row { other_db_tps: others, ..Row::from_ceiling(clients, &run) };
            print_row(&row);
            rows.push(row);
        }

        prepare_row(args, &fixture.probe.watch, clients, Kind::InProcess).await;
        let (ledger, users) = (fixture.ledger.clone(), fixture.users.clone());
        let row = closed_loop(Kind::InProcess, clients, warmup, duration, &fixture.probe, move |_| {
            let (from, to) = distinct_pair(users.len());
            let (from, to) = (users[from].id, users[to].id);
            let ledger = ledger.clone();
            async move {
                let command = Transfer {
                    entry_id: Uuid::now_v7(),
                    from: LedgerAccount::User(from),
                    to: LedgerAccount::User(to),
                    amount: credits(1),
                    note: None,
                    now: Utc::now(),
                };
                ledger
                    .decide(&command, &CommandContext::actor(from.to_string()))
                    .await
                    .map(|_| ())
                    .map_err(|e| anyhow!("{e}"))
            }
        })
        .await?;
        print_row(&row);
        rows.push(row);

        if !args.skip_http {
            prepare_row(args, &fixture.probe.watch, clients, Kind::Http).await;
            let (http, users) = (fixture.http.clone(), fixture.users.clone());
            let url = format!("{}/api/looppay/transfer", fixture.base);
            let row = closed_loop(Kind::Http, clients, warmup, duration, &fixture.probe, move |_| {
                let (from, to) = distinct_pair(users.len());
                let request = http
                    .post(&url)
                    .header(reqwest::header::AUTHORIZATION, &users[from].bearer)
                    .json(&json!({ "to": users[to].id, "amount": 1 }));
                async move {
                    let response = request.send().await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    if status.as_u16() != 201 {
                        bail!("transfer: {status} {}", String::from_utf8_lossy(&body));
                    }
                    Ok(())
                }
            })
            .await?;
            print_row(&row);
            rows.push(row);
        }
    }

    if args.hot_clients > 0 {
        let clients = args.hot_clients;
        prepare_row(args, &fixture.probe.watch, clients, Kind::HotAccount).await;
        let (ledger, users) = (fixture.ledger.clone(), fixture.users.clone());
        let orders = Arc::new(AtomicU64::new(1));
        let row = closed_loop(Kind::HotAccount, clients, warmup, duration, &fixture.probe, move |client| {
            // Each client is its own payer: the only stream they share is the escrow's.
            let payer = users[client].id;
            let order = orders.fetch_add(1, Ordering::Relaxed);
            let ledger = ledger.clone();
            async move {
                let command = Pay {
                    payment_id: Uuid::now_v7(),
                    payer: LedgerAccount::User(payer),
                    payee: LedgerAccount::Escrow,
                    amount: credits(1),
                    reference: format!("order:{order}"),
                    note: None,
                    now: Utc::now(),
                };
                ledger
                    .decide(&command, &CommandContext::actor(payer.to_string()))
                    .await
                    .map(|_| ())
                    .map_err(|e| anyhow!("{e}"))
            }
        })
        .await?;
        print_row(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Before a row: a checkpoint, so that none caused by an earlier row lands in its window, then
/// a wait (at most `--quiet-wait-secs`) for a quiet machine: other processes below
/// `--quiet-below` of the CPU, and the server's other databases idle (no busy session, fewer
/// than `--quiet-other-tps` transactions per second).
async fn prepare_row(args: &Args, watch: &PgWatch, clients: usize, kind: Kind) {
    if let Err(error) = sqlx::query("CHECKPOINT").execute(&watch.pool).await {
        eprintln!("note: CHECKPOINT before the row failed ({error}); continuing without it");
    }
    let mut quiet = String::new();
    if args.quiet_wait_secs > 0 {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.quiet_wait_secs);
        loop {
            let (cpu_before, others_before) = (CpuSnapshot::take(), watch.sample().await);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (cpu_after, others_after) = (CpuSnapshot::take(), watch.sample().await);
            let share = cpu_before.zip(cpu_after).map(|(before, after)| after.since(&before).other_share());
            let other_tps = PgWatch::rate(others_before, others_after);
            let busy_sessions = others_after.map(|o| o.active_sessions);
            let calm = share.is_none_or(|s| s <= args.quiet_below / 100.0)
                && other_tps.is_none_or(|t| t < args.quiet_other_tps)
                && busy_sessions.is_none_or(|n| n == 0);
            if calm || Instant::now() >= deadline {
                quiet = format!(
                    ", waited {:.0} s; other processes at {}, other databases at {} tx/s and {} busy sessions{}",
                    started.elapsed().as_secs_f64(),
                    share.map_or_else(|| "?".to_owned(), |s| format!("{:.0}%", 100.0 * s)),
                    other_tps.map_or_else(|| "?".to_owned(), |t| format!("{t:.0}")),
                    busy_sessions.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                    if calm { "" } else { " (NOT QUIET: gave up waiting)" }
                );
                break;
            }
        }
    }
    eprintln!(
        "C={clients:<3} {:<48} warm-up {} s + {} s{quiet}",
        kind.label(),
        args.warmup_secs,
        args.duration_secs
    );
}
