//! Where the numbers come from: the machine and the PostgreSQL server's durability settings.

use sqlx::PgPool;

/// The host the benchmark runs on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    /// Reads `/proc`; unknown facts are reported as "unknown".
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
            .map_or_else(|| "unknown".to_owned(), |(_, model)| model.trim().to_owned());
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
        Self { cpu, cores, memory_gib: memory_kib / (1024.0 * 1024.0), kernel }
    }
}

/// The PostgreSQL server, as seen from a connection of the benchmark.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub synchronous_commit: String,
    pub fsync: String,
    pub wal_sync_method: String,
    pub shared_buffers: String,
    pub max_connections: i64,
    /// Connections open when the benchmark started (its own included).
    pub connections_in_use: i64,
}

/// The benchmark only measures durable commits.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the server's settings: {0}")]
    Query(#[from] sqlx::Error),
    #[error(
        "synchronous_commit is `{0}`: commits would not wait for the WAL flush, and the numbers \
         would not be comparable; turn it on for the benchmark's database"
    )]
    NotDurable(String),
}

impl ServerInfo {
    pub async fn read(pool: &PgPool) -> Result<Self, ServerError> {
        let show = |setting: &'static str| async move {
            sqlx::query_scalar::<_, String>(&format!("SHOW {setting}")).fetch_one(pool).await
        };
        Ok(Self {
            version: show("server_version").await?,
            synchronous_commit: show("synchronous_commit").await?,
            fsync: show("fsync").await?,
            wal_sync_method: show("wal_sync_method").await?,
            shared_buffers: show("shared_buffers").await?,
            max_connections: show("max_connections").await?.parse().unwrap_or(100),
            connections_in_use: sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            )
            .fetch_one(pool)
            .await?,
        })
    }

    /// Fails unless commits wait for the local WAL flush (`on`, `local`, or the stricter
    /// `remote_write`/`remote_apply` with replicas).
    pub fn ensure_durable(&self) -> Result<(), ServerError> {
        if self.synchronous_commit == "off" {
            return Err(ServerError::NotDurable(self.synchronous_commit.clone()));
        }
        Ok(())
    }
}
