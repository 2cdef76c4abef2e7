//! Wiring: the processes `serve` and `worker` built from the crates.

use crate::config::Config;
use anyhow::Context;
use loopync_api::state::{ApiConfig, AppState};
use loopync_api::{JobContext, features};
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_projections::{CheckpointBoard, LogWaker};
use loopync_workers::{ProjectionRunner, RunnerConfig, housekeeping, status};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A pool that opens connections lazily: the process starts (and answers `/health`, and 503
/// from everything else) while PostgreSQL is still down, and recovers when it comes back.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.db_pool_size)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(&config.database_url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")
}

/// The connections of a `serve` process: one pool per kind of work, so that a flood of one
/// cannot take the connections the others need. Commands (the event store's appends and stream
/// reads) keep two fifths of `LOOPYNC_DB_POOL_SIZE`, projections and background jobs one fifth,
/// and the API's reads (read models, lookups, the lockout) the rest; reads' statements are cut
/// off after `LOOPYNC_STATEMENT_TIMEOUT_MS`, so a stuck one answers 503 instead of holding its
/// connection.
pub struct Pools {
    pub commands: PgPool,
    pub workers: PgPool,
    pub reads: PgPool,
}

/// How `total` connections are shared: `(commands, workers, reads)`, each at least one.
fn pool_sizes(total: u32) -> (u32, u32, u32) {
    let total = total.max(3);
    let commands = (total * 2 / 5).max(1);
    let workers = (total / 5).max(1);
    (commands, workers, total - commands - workers)
}

impl Pools {
    pub fn connect(config: &Config) -> anyhow::Result<Self> {
        let (commands, workers, reads) = pool_sizes(config.db_pool_size);
        let options: PgConnectOptions =
            config.database_url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let pool = |size: u32, options: PgConnectOptions| {
            PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(3))
                .connect_lazy_with(options)
        };
        let timeout = format!("{}ms", config.statement_timeout_ms);
        Ok(Self {
            commands: pool(commands, options.clone()),
            workers: pool(workers, options.clone()),
            reads: pool(reads, options.options([("statement_timeout", timeout)])),
        })
    }

    async fn close(&self) {
        tokio::join!(self.commands.close(), self.workers.close(), self.reads.close());
    }
}

/// NATS, connecting in the background: a broker outage delays live updates, nothing else.
async fn connect_nats(config: &Config) -> Option<async_nats::Client> {
    match async_nats::ConnectOptions::new().retry_on_initial_connect().connect(&config.nats_url).await {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "NATS_URL is not usable; live updates are off");
            None
        }
    }
}

fn runner_config(config: &Config) -> RunnerConfig {
    let defaults = RunnerConfig::default();
    RunnerConfig {
        worker_id: config.worker_id.clone().unwrap_or(defaults.worker_id.clone()),
        batch_size: config.projection_batch_size,
        subjects: config.nats_prefix.clone(),
        ..defaults
    }
}

/// Everything background: the features' projections and jobs, lag metrics, key expiry.
#[allow(clippy::too_many_arguments)]
fn spawn_workers(
    tasks: &mut JoinSet<()>,
    config: &Config,
    api_config: &ApiConfig,
    pool: &PgPool,
    pipeline: Arc<CommandPipeline>,
    waker: LogWaker,
    board: Arc<CheckpointBoard>,
    nats: Option<async_nats::Client>,
    shutdown: &CancellationToken,
) {
    let runner = ProjectionRunner::new(
        pool.clone(),
        features::projections(),
        waker,
        board,
        nats,
        runner_config(config),
    );
    tasks.spawn(runner.run(shutdown.child_token()));
    tasks.spawn(status::export_lag_metrics(pool.clone(), Duration::from_secs(5), shutdown.child_token()));
    tasks.spawn(housekeeping::run_sweeper(
        pool.clone(),
        housekeeping::Retention {
            idempotency_keys: config.idempotency_retention(),
            live_updates: config.live_retention(),
        },
        Duration::from_secs(600),
        shutdown.child_token(),
    ));
    let context = JobContext {
        pool: pool.clone(),
        pipeline,
        config: api_config.clone(),
        push: config.push_sender(),
        shutdown: shutdown.child_token(),
    };
    for feature in features::all() {
        for job in feature.jobs(&context) {
            tracing::debug!(job = job.name, "starting");
            tasks.spawn(job.task);
        }
    }
}

/// Whether NATS is connected, waiting up to `wait` for the first connection.
async fn nats_connected(state: &AppState, wait: Duration) -> bool {
    let Some(nats) = &state.nats else { return false };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if matches!(nats.connection_state(), async_nats::connection::State::Connected) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until this node hears the other nodes' sessions' positions, so that a read landing here
/// waits for a command its session sent to another node. Without NATS (or with it slow to
/// answer) the node serves anyway: each node then remembers only the commands it answered.
async fn await_shared_positions(state: &AppState) {
    if !state.config.session_consistency.enabled || state.nats.is_none() {
        return;
    }
    if !state.session_positions.shared(Duration::from_secs(10)).await {
        tracing::error!(
            "NATS did not relay sessions' positions in 10 s; reads wait only for commands answered by this node"
        );
    }
}

/// Whether every migration this binary embeds is applied, with the same contents. Read only:
/// a login of `loopync_app` or `loopync_workers` may read the migrations table, not create
/// anything (running the migrator at all would try to create that table).
async fn migrations_up_to_date(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied =
        sqlx::query!("SELECT version, checksum FROM _sqlx_migrations WHERE success").fetch_all(pool).await?;
    Ok(loopync_schemas::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).all(|migration| {
        applied.iter().any(|row| row.version == migration.version && *row.checksum == *migration.checksum)
    }))
}

/// Migrates when the database needs it and PostgreSQL is there; a node that cannot yet reports
/// not-ready instead of dying. A database already up to date is not touched, so a node whose
/// login holds no DDL rights (a member of `loopync_app`; `loopync migrate` ran as the owner)
/// starts without trying.
async fn migrate_if_needed(pool: &PgPool) {
    match migrations_up_to_date(pool).await {
        Ok(true) => {
            tracing::debug!("migrations up to date");
            return;
        }
        Ok(false) => {}
        // No migrations table yet (a new database), or PostgreSQL unreachable: the migrator
        // says which, below.
        Err(error) => tracing::debug!(%error, "applied migrations not readable"),
    }
    if let Err(error) = loopync_schemas::MIGRATOR.run(pool).await {
        tracing::error!(
            %error,
            "migrations not applied (run `loopync migrate` as the database owner); /ready reports it until they are"
        );
    }
}

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    config.refuse_development_settings()?;
    let pools = Pools::connect(config)?;
    migrate_if_needed(&pools.workers).await;
    let store = PgEventStore::new(
        pools.commands.clone(),
        GroupCommit {
            enabled: config.group_commit,
            max_batch: config.group_commit_max_batch,
            max_in_flight: config.group_commit_in_flight,
        },
    );
    let waker = LogWaker::new(pools.workers.clone(), Some(store.commits()));
    let pipeline = Arc::new(CommandPipeline::new(
        Arc::new(store),
        PipelineConfig {
            snapshot_every: config.snapshot_every,
            cache_capacity: config.aggregate_cache_size,
            ..PipelineConfig::default()
        },
    ));
    let board = CheckpointBoard::new(pools.reads.clone());
    let nats = connect_nats(config).await;

    let api_config = config.api_config()?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if config.serve_workers {
        spawn_workers(
            &mut tasks,
            config,
            &api_config,
            &pools.workers,
            pipeline.clone(),
            waker,
            board.clone(),
            nats.clone(),
            &shutdown,
        );
    } else {
        tracing::info!("API only: projections, housekeeping and scheduled jobs are left to `loopync worker`");
    }

    let grace = api_config.shutdown_grace;
    let delivery = config.delivery().context("mail or SMS delivery is misconfigured")?;
    let state = AppState::new(pools.reads.clone(), pipeline, board, nats, api_config, delivery)
        .map_err(|error| anyhow::anyhow!("identity is misconfigured: {error}"))?;
    // The gateway starts in the background, retrying until NATS answers: a node never gives
    // live updates up because NATS was late, and never waits for NATS to serve the rest.
    state.start_realtime(shutdown.child_token());
    if nats_connected(&state, Duration::from_secs(2)).await {
        await_shared_positions(&state).await;
        if !state.identity.sessions.listening(Duration::from_secs(10)).await {
            tracing::error!(
                "NATS did not confirm the subscription to ended sessions in 10 s; other nodes' sign-outs reach \
                 this node within the session check interval only"
            );
        }
    } else if state.nats.is_some() {
        tracing::error!(
            "NATS is not reachable at start-up; serving without it until it is (/ready names nats and \
             realtime): live updates, other nodes' sessions' positions and sign-outs arrive once it answers"
        );
    }
    let acceptor = loopync_api::serve::bind(config.http_addr.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    if let Some(address) = loopync_api::serve::local_addr(&acceptor) {
        tracing::info!(%address, "serving");
    }
    let apis = loopync_api::feature_apis(&state);
    let gateway = state.realtime.clone();
    let app = loopync_api::app(state, apis);
    // WebSockets do not end by themselves: on shutdown the hub closes them (1001, "reconnect and
    // resume") and marks this node's users offline before the server's grace period runs out.
    let signal = async move {
        shutdown_signal().await;
        if let Some(hub) = gateway.hub() {
            hub.shut_down().await;
        }
    };
    let result = loopync_api::serve::serve(acceptor, app, signal, grace).await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    pools.close().await;
    result.context("http server failed")
}

pub async fn worker(config: &Config) -> anyhow::Result<()> {
    let api_config = config.api_config()?;
    let pool = connect(config).await?;
    let waker = LogWaker::new(pool.clone(), None);
    let board = CheckpointBoard::new(pool.clone());
    let nats = connect_nats(config).await;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    // The features' jobs (LoopPay's hold expiry) append through a pipeline of their own (no
    // group commit: a trickle).
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
    let pipeline = Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()));
    spawn_workers(&mut tasks, config, &api_config, &pool, pipeline, waker, board, nats, &shutdown);
    shutdown_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    pool.close().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_budget_is_shared_by_kind_of_work_and_none_goes_without() {
        assert_eq!(pool_sizes(20), (8, 4, 8));
        assert_eq!(pool_sizes(10), (4, 2, 4));
        assert_eq!(pool_sizes(3), (1, 1, 1));
        assert_eq!(pool_sizes(1), (1, 1, 1), "at least one each");
        for total in 3..200 {
            let (commands, workers, reads) = pool_sizes(total);
            assert_eq!(commands + workers + reads, total);
        }
    }
}
