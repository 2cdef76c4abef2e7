//! `bench-core`: the core benchmark (`just bench-core`).
//!
//! Runs the "topup" workload at each client count against the PostgreSQL server of
//! `DATABASE_URL`, in fresh databases created for this run and dropped at its end:
//!
//! 1. the ceiling: `pgbench` inserting one event-like row per durable commit;
//! 2. loopync without grouping: one statement, one commit per command;
//! 3. loopync with group commit;
//! 4. the cqrs-es + postgres-es peer;
//! 5. with `--breakdown`, diagnostic rows between the ceiling and our pipeline.
//!
//! Each row gets a checkpoint, a wait for a quiet machine, a warm-up, then the measured window.
//! One table per client count is printed as soon as it is complete; `--write-markdown` also
//! writes them as markdown. The run fails if any command failed. See BENCHMARKS.md.

use anyhow::{Context, Result, bail};
use clap::Parser;
use loopync_bench::breakdown::{AppendOnlyTarget, SqlxInsertTarget};
use loopync_bench::ceiling::{self, Pgbench};
use loopync_bench::cpu;
use loopync_bench::driver::{self, LoadPlan, Target};
use loopync_bench::loopync::{Grouping, LoopyncTarget};
use loopync_bench::machine::{Machine, ServerInfo};
use loopync_bench::peer::{self, PeerTarget};
use loopync_bench::recorder::{BenchRecorder, PipelineMetrics};
use loopync_bench::report::{self, Row, Setup, Table, Variant};
use loopync_bench::scratch::{ScratchDatabase, Server};
use loopync_commands::PipelineConfig;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Benchmark the Loopync command pipeline against a raw PostgreSQL ceiling and a cqrs-es peer.
#[derive(Debug, Parser)]
#[command(name = "bench-core", version)]
struct Args {
    /// The PostgreSQL server to use (any database on it; the benchmark creates its own).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Measured seconds per row.
    #[arg(long, default_value_t = 15)]
    duration_secs: u64,
    /// Warm-up seconds before each measured window.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Client counts, comma-separated: one table each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Wallet-like aggregates the clients pick from at random.
    #[arg(long, default_value_t = 1000)]
    aggregates: usize,
    /// Skip the cqrs-es peer.
    #[arg(long)]
    skip_peer: bool,
    /// Skip the two loopync rows (with `--breakdown`, to look at the layers alone).
    #[arg(long)]
    skip_loopync: bool,
    /// Skip the pgbench ceiling (ratios are then not available).
    #[arg(long)]
    skip_pgbench: bool,
    /// Before each row, wait (at most `--quiet-wait-secs`) until other processes use less than
    /// this percentage of the machine: on a shared machine, builds or tests running alongside
    /// distort the numbers. Each row reports the share other processes took while it ran.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    quiet_below: f64,
    /// Longest wait for a quiet machine before each row (0: do not wait).
    #[arg(long, default_value_t = 120)]
    quiet_wait_secs: u64,
    /// Add diagnostic rows: a plain insert through sqlx, and the event store's append without
    /// the pipeline (see `loopync_bench::breakdown`).
    #[arg(long)]
    breakdown: bool,
    /// A PostgreSQL session setting for every variant, pgbench included (repeatable), e.g.
    /// `--pg-setting plan_cache_mode=force_generic_plan`: for experiments; reported with the
    /// results.
    #[arg(long = "pg-setting", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pg_settings: Vec<(String, String)>,
    /// The pgbench program.
    #[arg(long, default_value = "pgbench")]
    pgbench: PathBuf,
    /// Also write the results as a markdown section to this file.
    #[arg(long, value_name = "PATH")]
    write_markdown: Option<PathBuf>,
}

fn parse_setting(setting: &str) -> Result<(String, String), String> {
    let (name, value) = setting.split_once('=').ok_or_else(|| format!("`{setting}` is not NAME=VALUE"))?;
    let valid =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid(name) || !valid(value) {
        return Err(format!("`{setting}`: names and values are letters, digits, `_`, `.` or `-`"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

impl Args {
    fn plan(&self, clients: usize) -> LoadPlan {
        LoadPlan {
            clients,
            aggregates: self.aggregates,
            warmup: Duration::from_secs(self.warmup_secs),
            duration: Duration::from_secs(self.duration_secs),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs one or more positive client counts");
    }
    if args.duration_secs == 0 || args.aggregates == 0 {
        bail!("--duration-secs and --aggregates must be positive");
    }
    let metrics = BenchRecorder::install()?;
    let server = Server::connect(&args.database_url).await.context("connecting to DATABASE_URL")?;

    let name = Server::run_name();
    let main_db = server.create(&name).await?;
    let peer_db = if args.skip_peer {
        None
    } else {
        match server.create(&format!("{name}_peer")).await {
            Ok(db) => Some(db),
            Err(error) => {
                server.drop_database(main_db).await?;
                return Err(error.into());
            }
        }
    };
    eprintln!(
        "scratch database(s): {name}{}",
        if peer_db.is_some() { format!(", {name}_peer") } else { String::new() }
    );

    let result = tokio::select! {
        result = bench(&args, &main_db, peer_db.as_ref(), metrics) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };

    let mut dropped = Ok(());
    for db in [Some(main_db), peer_db].into_iter().flatten() {
        let db_name = db.name().to_owned();
        if let Err(error) = server.drop_database(db).await {
            eprintln!("warning: scratch database {db_name} was not dropped: {error}");
            dropped = Err(error);
        }
    }
    let tables = result?;
    dropped?;

    let failed: Vec<String> = tables
        .iter()
        .flat_map(|t| {
            t.rows
                .iter()
                .filter(|r| r.errors > 0)
                .map(move |r| format!("C={} {}: {} errors", t.clients, r.variant.label(), r.errors))
        })
        .collect();
    if !failed.is_empty() {
        bail!("commands failed during the benchmark: {}", failed.join("; "));
    }
    Ok(())
}

/// Sets up the databases, measures every row and prints the tables.
async fn bench(
    args: &Args,
    main_db: &ScratchDatabase,
    peer_db: Option<&ScratchDatabase>,
    metrics: PipelineMetrics,
) -> Result<Vec<Table>> {
    let setup_pool = main_db.pool(2, "loopync-bench-setup").await?;
    loopync_schemas::MIGRATOR.run(&setup_pool).await.context("migrating the scratch database")?;
    let server = ServerInfo::read(&setup_pool).await?;
    println!("SHOW synchronous_commit = {}", server.synchronous_commit);
    server.ensure_durable()?;
    if server.fsync != "on" {
        eprintln!(
            "warning: fsync is `{}`: commits are not durable and every number below is optimistic",
            server.fsync
        );
    }

    ceiling::create_table(&setup_pool).await.context("creating the ceiling table")?;
    let pgbench = if args.skip_pgbench {
        None
    } else {
        let pgbench =
            Pgbench::prepare(&args.pgbench, main_db.url(), args.aggregates, &args.pg_settings).await?;
        let version = pgbench.version().await?;
        Some((pgbench, version))
    };
    let peer_pool = match peer_db {
        Some(db) => {
            let pool = db.pool(2, "loopync-bench-setup").await?;
            peer::create_schema(&pool).await.context("creating the peer's tables")?;
            Some((db, pool))
        }
        None => None,
    };

    let setup = Setup {
        machine: Machine::detect(),
        server: server.clone(),
        pgbench: pgbench.as_ref().map(|(_, version)| version.clone()),
        settings: args.pg_settings.clone(),
        aggregates: args.aggregates,
        warmup: Duration::from_secs(args.warmup_secs),
        duration: Duration::from_secs(args.duration_secs),
    };
    println!("{}", setup.text());

    let mut tables = Vec::new();
    for &clients in &args.clients {
        let plan = args.plan(clients);
        let pool_size = pool_size(clients, &server);
        let mut rows = Vec::new();

        if let Some((pgbench, _)) = &pgbench {
            prepare_row(args, &setup_pool, clients, Variant::Ceiling, &plan).await;
            pgbench.run(clients, plan.warmup, false).await?;
            let run = pgbench.run(clients, plan.duration, true).await?;
            rows.push(Row::from_ceiling(&run));
        }

        let loopync_rows = [
            (Variant::LoopyncSingle, Grouping::Off),
            (Variant::LoopyncGrouped, Grouping::On { max_batch: 512, writers: 1 }),
        ];
        for (variant, grouping) in loopync_rows.into_iter().filter(|_| !args.skip_loopync) {
            prepare_row(args, &setup_pool, clients, variant, &plan).await;
            let pool = main_db.measured_pool(pool_size, "loopync-bench", &args.pg_settings).await?;
            let target =
                LoopyncTarget::new(pool.clone(), grouping, clients, args.aggregates, metrics.clone());
            rows.push(measure(variant, target, plan, pool_size).await?);
            pool.close().await;
        }

        if args.breakdown {
            prepare_row(args, &setup_pool, clients, Variant::SqlxInsert, &plan).await;
            let pool = main_db.measured_pool(pool_size, "loopync-bench", &args.pg_settings).await?;
            let target = SqlxInsertTarget::new(pool.clone());
            rows.push(measure(Variant::SqlxInsert, target, plan, pool_size).await?);
            pool.close().await;

            prepare_row(args, &setup_pool, clients, Variant::AppendOnly, &plan).await;
            let pool = main_db.measured_pool(pool_size, "loopync-bench", &args.pg_settings).await?;
            let target = AppendOnlyTarget::new(pool.clone(), clients, args.aggregates);
            rows.push(measure(Variant::AppendOnly, target, plan, pool_size).await?);
            pool.close().await;

            prepare_row(args, &setup_pool, clients, Variant::GroupedSharded, &plan).await;
            let pool = main_db.measured_pool(pool_size, "loopync-bench", &args.pg_settings).await?;
            let grouping = Grouping::On { max_batch: 512, writers: 4 };
            let target =
                LoopyncTarget::new(pool.clone(), grouping, clients, args.aggregates, metrics.clone());
            rows.push(measure(Variant::GroupedSharded, target, plan, pool_size).await?);
            pool.close().await;
        }

        if let Some((db, peer_setup)) = &peer_pool {
            prepare_row(args, peer_setup, clients, Variant::Peer, &plan).await;
            let pool = db.measured_pool(pool_size, "loopync-bench-peer", &args.pg_settings).await?;
            let target = PeerTarget::new(
                pool.clone(),
                clients,
                args.aggregates,
                PipelineConfig::default().max_retries,
            );
            rows.push(measure(Variant::Peer, target, plan, pool_size).await?);
            pool.close().await;
        }

        let table = Table { clients, rows };
        println!("{}", report::text_table(&table));
        tables.push(table);
    }

    if let Some(path) = &args.write_markdown {
        std::fs::write(path, report::markdown(&setup, &tables))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("markdown written to {}", path.display());
    }
    Ok(tables)
}

/// Preloads every aggregate once, then drives the target.
async fn measure<T: Target>(variant: Variant, target: T, plan: LoadPlan, concurrency: u32) -> Result<Row> {
    driver::preload(&target, plan.aggregates, concurrency as usize).await?;
    let measurement = driver::run(Arc::new(target), plan).await?;
    Ok(Row::from_measurement(variant, &measurement))
}

/// C connections for the clients plus a few for the store's own tasks (group-commit writer,
/// snapshots), leaving room below `max_connections` for everything else on the server.
fn pool_size(clients: usize, server: &ServerInfo) -> u32 {
    let headroom = (server.max_connections - server.connections_in_use - 16).max(4);
    let wanted = i64::try_from(clients).unwrap_or(i64::MAX).saturating_add(4);
    u32::try_from(wanted.min(headroom)).unwrap_or(4)
}

/// Before a row: a checkpoint, so that no checkpoint caused by an earlier row lands in its
/// window (needs superuser or `pg_checkpoint`; skipped with a note otherwise), then a wait
/// for the machine to be quiet.
async fn prepare_row(args: &Args, pool: &PgPool, clients: usize, variant: Variant, plan: &LoadPlan) {
    if let Err(error) = sqlx::query("CHECKPOINT").execute(pool).await {
        eprintln!("note: CHECKPOINT before the row failed ({error}); continuing without it");
    }
    let quiet = if args.quiet_wait_secs > 0 {
        let share =
            cpu::wait_for_quiet(args.quiet_below / 100.0, Duration::from_secs(args.quiet_wait_secs)).await;
        share.map_or_else(String::new, |s| format!(", other processes at {:.0}% before", 100.0 * s))
    } else {
        String::new()
    };
    eprintln!(
        "C={clients:<3} {:<36} warm-up {} s + {} s{quiet}",
        variant.label(),
        plan.warmup.as_secs(),
        plan.duration.as_secs()
    );
}
