//! Wiring: the processes `serve` and `worker` built from the crates.

use crate::config::Config;
use anyhow::Context;
use loopync_api::state::{ApiConfig, AppState};
use loopync_api::{JobContext, features};
use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_projections::{CheckpointBoard, LogWaker};
use loopync_workers::{ProjectionRunner, RunnerConfig, housekeeping, status};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
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
        shutdown: shutdown.child_token(),
    };
    for feature in features::all() {
        for job in feature.jobs(&context) {
            tracing::debug!(job = job.name, "starting");
            tasks.spawn(job.task);
        }
    }
}

/// Starts the WebSocket gateway. Without NATS (or JetStream) the node serves everything else and
/// `/api/ws` answers 503.
async fn with_realtime(state: AppState) -> AppState {
    let fallback = state.clone();
    match tokio::time::timeout(Duration::from_secs(10), state.with_realtime()).await {
        Ok(Ok(state)) => state,
        Ok(Err(error)) => {
            tracing::error!(%error, "live updates over WebSocket are off");
            fallback
        }
        Err(_) => {
            tracing::error!("NATS did not answer in 10 s; live updates over WebSocket are off");
            fallback
        }
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

/// Migrates if PostgreSQL is there; a node that cannot yet reports not-ready instead of dying.
async fn migrate_if_reachable(pool: &PgPool) {
    if let Err(error) = loopync_schemas::MIGRATOR.run(pool).await {
        tracing::error!(%error, "migrations not applied; /ready reports it until they are");
    }
}

pub async fn serve(config: &Config) -> anyhow::Result<()> {
    config.refuse_development_settings()?;
    let pool = connect(config).await?;
    migrate_if_reachable(&pool).await;
    let store = PgEventStore::new(
        pool.clone(),
        GroupCommit {
            enabled: config.group_commit,
            max_batch: config.group_commit_max_batch,
            max_in_flight: config.group_commit_in_flight,
        },
    );
    let waker = LogWaker::new(pool.clone(), Some(store.commits()));
    let pipeline = Arc::new(CommandPipeline::new(
        Arc::new(store),
        PipelineConfig {
            snapshot_every: config.snapshot_every,
            cache_capacity: config.aggregate_cache_size,
            ..PipelineConfig::default()
        },
    ));
    let board = CheckpointBoard::new(pool.clone());
    let nats = connect_nats(config).await;

    let api_config = config.api_config()?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    spawn_workers(
        &mut tasks,
        config,
        &api_config,
        &pool,
        pipeline.clone(),
        waker,
        board.clone(),
        nats.clone(),
        &shutdown,
    );

    let grace = api_config.shutdown_grace;
    let delivery = config.delivery().context("mail or SMS delivery is misconfigured")?;
    let state = AppState::new(pool.clone(), pipeline, board, nats, api_config, delivery)
        .map_err(|error| anyhow::anyhow!("identity is misconfigured: {error}"))?;
    let state = with_realtime(state).await;
    await_shared_positions(&state).await;
    if state.nats.is_some() && !state.identity.sessions.listening(Duration::from_secs(10)).await {
        tracing::error!(
            "NATS did not confirm the subscription to ended sessions in 10 s; other nodes' sign-outs reach \
             this node within the session check interval only"
        );
    }
    let acceptor = loopync_api::serve::bind(config.http_addr.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    if let Some(address) = loopync_api::serve::local_addr(&acceptor) {
        tracing::info!(%address, "serving");
    }
    let apis = loopync_api::feature_apis(&state);
    let hub = state.realtime.clone();
    let app = loopync_api::app(state, apis);
    // WebSockets do not end by themselves: on shutdown the hub closes them (1001, "reconnect and
    // resume") and marks this node's users offline before the server's grace period runs out.
    let signal = async move {
        shutdown_signal().await;
        if let Some(hub) = hub {
            hub.shut_down().await;
        }
    };
    let result = loopync_api::serve::serve(acceptor, app, signal, grace).await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    pool.close().await;
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
