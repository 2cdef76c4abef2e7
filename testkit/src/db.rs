//! The database side of tests: databases of their own for multi-threaded tests, the event
//! store counted, and nodes' pipelines without an HTTP app.

use loopync_commands::{CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A database created for one test and migrated; [`TestDb::drop_database`] removes it.
///
/// Most tests run under `#[sqlx::test]` (a fresh database per test, a current-thread runtime).
/// Races need a multi-threaded runtime, which `sqlx::test` does not offer; they use this.
pub struct TestDb {
    pub pool: PgPool,
    pub options: PgConnectOptions,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates and migrates a fresh database, with a pool of `connections`.
    pub async fn create(connections: u32) -> Self {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set");
        let name = format!("loopync_test_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&url).await.expect("connect to DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create database");
        admin.close().await.expect("close the admin connection");
        let options = PgConnectOptions::from_str(&url).expect("DATABASE_URL").database(&name);
        let pool = Self::pool_on(&options, connections).await;
        loopync_schemas::MIGRATOR.run(&pool).await.expect("migrate");
        Self { pool, options, name, url }
    }

    /// Another pool on the same database (a second node or process has its own).
    pub async fn another_pool(&self, connections: u32) -> PgPool {
        Self::pool_on(&self.options, connections).await
    }

    async fn pool_on(options: &PgConnectOptions, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .expect("pool")
    }

    /// Closes the pool and drops the database. Called only when the test passed, so a failing
    /// test's database stays for inspection; a drop that fails leaves one more such database,
    /// which is no reason to fail a test that passed.
    pub async fn drop_database(self) {
        self.pool.close().await;
        let Ok(mut admin) = PgConnection::connect(&self.url).await else { return };
        let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await;
        if let Err(error) = dropped {
            eprintln!("test database {} left behind: {error}", self.name);
        }
        if let Err(error) = admin.close().await {
            eprintln!("closing the admin connection: {error}");
        }
    }
}

/// The URL of `pool`'s database (the test's own), for child processes.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String =
        sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.expect("current database");
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (server, _) = base.rsplit_once('/').unwrap_or((base.as_str(), ""));
    format!("{server}/{name}")
}

/// Events in the store: refused requests must leave this unchanged.
pub async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.expect("count events")
}

/// Events of one type in the store.
pub async fn events_of_type(pool: &PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .expect("count events of a type")
}

/// A node's pipeline over an event store of its own, with `group_commit` on or off.
pub fn node_pipeline(pool: &PgPool, group_commit: bool) -> Arc<CommandPipeline> {
    let group_commit = GroupCommit { enabled: group_commit, max_batch: 256, max_in_flight: 2 };
    let store = PgEventStore::new(pool.clone(), group_commit);
    Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()))
}

/// A pipeline and event store of its own, as a separate worker process has (no group commit:
/// a trickle of appends).
pub fn standalone_pipeline(pool: &PgPool) -> CommandPipeline {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
    CommandPipeline::new(Arc::new(store), PipelineConfig::default())
}
