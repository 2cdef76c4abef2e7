//! The binary's configuration: one typed struct, read from environment variables (or flags)
//! with documented defaults. `loopync --help` lists them all; `.env.example` repeats them.
//! Secrets (the database password inside `DATABASE_URL`) are never logged.

use clap::{Args, ValueEnum};
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection URL (the event store and read models).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/loopync",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Largest number of PostgreSQL connections this process opens.
    #[arg(long, env = "LOOPYNC_DB_POOL_SIZE", default_value_t = 20)]
    pub db_pool_size: u32,

    /// NATS URL (live updates).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Address the HTTP API listens on.
    #[arg(long, env = "LOOPYNC_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,

    /// Log format: `pretty` for people, `json` for log pipelines. Levels come from `RUST_LOG`.
    #[arg(long, env = "LOOPYNC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LOOPYNC_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Group concurrent commands into shared transactions (one commit for many commands).
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub group_commit: bool,

    /// Most commands in one group commit.
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT_MAX_BATCH", default_value_t = 512)]
    pub group_commit_max_batch: usize,

    /// Group-commit batches appended at once (each on its own connection).
    #[arg(long, env = "LOOPYNC_GROUP_COMMIT_IN_FLIGHT", default_value_t = 2)]
    pub group_commit_in_flight: usize,

    /// How long idempotency keys are remembered, in hours (at least 24).
    #[arg(long, env = "LOOPYNC_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 48,
          value_parser = clap::value_parser!(u64).range(24..))]
    pub idempotency_retention_hours: u64,

    /// How long a read that names a `Loopync-Position` waits for projections, in milliseconds.
    #[arg(long, env = "LOOPYNC_READ_YOUR_WRITES_TIMEOUT_MS", default_value_t = 2000)]
    pub read_your_writes_timeout_ms: u64,

    /// Snapshot an aggregate every this many events (0: never).
    #[arg(long, env = "LOOPYNC_SNAPSHOT_EVERY", default_value_t = 100)]
    pub snapshot_every: i64,

    /// Aggregate states kept in memory per process (0: no cache).
    #[arg(long, env = "LOOPYNC_AGGREGATE_CACHE_SIZE", default_value_t = 10_000)]
    pub aggregate_cache_size: usize,

    /// Events per projection batch.
    #[arg(long, env = "LOOPYNC_PROJECTION_BATCH_SIZE", default_value_t = 1000)]
    pub projection_batch_size: i64,

    /// This worker's name in `projections status` (default: hostname-pid).
    #[arg(long, env = "LOOPYNC_WORKER_ID")]
    pub worker_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }

    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_hours * 3600)
    }
}
