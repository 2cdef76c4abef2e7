//! Worker processes for real: the owner of a projection (LoopPay's ledger read model) is killed
//! with SIGKILL mid-stream, a second worker process takes the projection over within seconds
//! and finishes it, and the `loopync projections` commands report and rebuild it.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use loopync_projections::looppay::LedgerReadModel;
use loopync_testkit::{database_url, node_pipeline};
use loopync_workers::status::owner;
use sqlx::PgPool;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn loopync(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopync"));
    command
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()))
        .env("RUST_LOG", "warn")
        .env("LOOPYNC_PROJECTION_BATCH_SIZE", "50");
    command
}

/// A worker process, killed when dropped so a failing test leaves nothing behind.
struct Worker(Child);

impl Worker {
    fn start(database_url: &str, id: &str) -> Self {
        let child = loopync(database_url)
            .arg("worker")
            .env("LOOPYNC_WORKER_ID", id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start a worker");
        Self(child)
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown hook runs, the lease connection just vanishes.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for_owner(pool: &PgPool, expected: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if owner(pool, LedgerReadModel::NAME).await.ok().flatten().as_deref() == Some(expected) {
            return started.elapsed();
        }
        assert!(started.elapsed() < timeout, "{expected} did not take the projection within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_killed_owner_is_replaced_within_seconds_and_nothing_is_applied_twice(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut first = Worker::start(&url, "worker-a");
    wait_for_owner(&pool, "worker-a", Duration::from_secs(30)).await;
    let mut second = Worker::start(&url, "worker-b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        owner(&pool, LedgerReadModel::NAME).await.ok().flatten().as_deref(),
        Some("worker-a"),
        "exactly one owner"
    );

    let pipeline = node_pipeline(&pool, true);
    let traffic = {
        let pipeline = pipeline.clone();
        tokio::spawn(async move { generate_ledger_traffic(&pipeline, 30, 2400).await })
    };
    // Kill the owner while it is busy.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let takeover = wait_for_owner(&pool, "worker-b", Duration::from_secs(10)).await;
    println!("takeover after {takeover:?}");
    traffic.await.unwrap();
    wait_caught_up(&pool, LedgerReadModel::NAME, Duration::from_secs(60)).await;
    let before = dump_ledger_read_models(&pool).await;
    // Every event moved credits (top-ups and transfers): one statement row each, none twice.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_name LIKE 'wallet-%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before.iter().filter(|row| row.starts_with("movement")).count() as i64, events);

    // The CLI: status shows the new owner; a rebuild (done by the owner) changes nothing.
    let status = loopync(&url).args(["projections", "status"]).output().unwrap();
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && status_text.contains("worker-b"), "status: {status_text}");
    let rebuild = loopync(&url).args(["projections", "rebuild", LedgerReadModel::NAME]).output().unwrap();
    let rebuild_text = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        rebuild.status.success() && rebuild_text.contains("switched to generation 2"),
        "rebuild: {rebuild_text}"
    );
    wait_caught_up(&pool, LedgerReadModel::NAME, Duration::from_secs(60)).await;
    assert_eq!(dump_ledger_read_models(&pool).await, before);

    let unknown = loopync(&url).args(["projections", "rebuild", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown projection"));

    // Let PostgreSQL see the last worker go before the test database is dropped.
    second.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
}
