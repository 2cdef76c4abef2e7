//! PostgreSQL going away and coming back: commands fail cleanly (nothing half-written) and
//! projection workers back off, then resume exactly where they left off.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::proxy::Proxy;
use common::*;
use loopync_commands::pipeline::Loaded;
use loopync_commands::{
    CommandContext, CommandError, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig,
};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand, SampleWalletError};
use loopync_projections::sample::SampleWalletBalances;
use loopync_testkit::node_pipeline;
use loopync_workers::RunnerConfig;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;

async fn pool_through(proxy: &Proxy, database: &PgPool) -> PgPool {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(database).await.unwrap();
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(proxy.address.port())
        .username("postgres")
        .database(&name);
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(options)
}

async fn upstream(pool: &PgPool) -> std::net::SocketAddr {
    let options = pool.connect_options();
    let host = if options.get_host().starts_with('/') { "127.0.0.1" } else { options.get_host() };
    tokio::net::lookup_host((host, options.get_port()))
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .expect("cannot resolve the database host")
}

async fn transfer(
    pipeline: &CommandPipeline,
    from: &str,
    to: &str,
    amount: i64,
) -> Result<(), CommandError<SampleWalletError>> {
    pipeline
        .run::<(Loaded<SampleWallet>, Loaded<SampleWallet>), SampleWalletError, _>(
            (from.to_owned(), to.to_owned()),
            "transfer",
            &amount,
            &CommandContext::actor("t"),
            |(from, to)| {
                use loopync_domain::Aggregate;
                Ok((
                    from.state.decide(&SampleWalletCommand::Withdraw { amount })?,
                    to.state.decide(&SampleWalletCommand::TopUp { amount })?,
                ))
            },
        )
        .await
        .map(|_| ())
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_outage_fails_commands_cleanly_and_workers_resume_where_they_left_off(pool: PgPool) {
    let proxy = Proxy::start(upstream(&pool).await).await;
    let through_proxy = pool_through(&proxy, &pool).await;
    let runner = start_runner(
        &through_proxy,
        vec![Arc::new(SampleWalletBalances)],
        RunnerConfig { batch_size: 20, max_backoff: Duration::from_millis(300), ..RunnerConfig::default() },
    );
    let store = PgEventStore::new(
        through_proxy.clone(),
        GroupCommit { enabled: true, max_batch: 64, max_in_flight: 2 },
    );
    let pipeline = Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()));
    for wallet in 0..10 {
        pipeline
            .execute::<SampleWallet>(
                format!("o{wallet}"),
                SampleWalletCommand::TopUp { amount: 1000 },
                &CommandContext::actor("t"),
            )
            .await
            .unwrap();
    }

    // Transfers keep flowing while the database disappears for two seconds.
    let clients = (0..6).map(|client| {
        let pipeline = pipeline.clone();
        tokio::spawn(async move {
            let (mut ok, mut unavailable) = (0, 0);
            for i in 0..150 {
                let from = format!("o{}", (client + i) % 10);
                let to = format!("o{}", (client + i + 1) % 10);
                match transfer(&pipeline, &from, &to, 7).await {
                    Ok(()) => ok += 1,
                    Err(CommandError::Store(error)) if error.is_unavailable() => unavailable += 1,
                    Err(other) => panic!("unexpected failure: {other}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (ok, unavailable)
        })
    });
    let clients = tokio::spawn(futures::future::join_all(clients));
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    let results = clients.await.unwrap();
    let (ok, unavailable) = results
        .into_iter()
        .map(|r| r.unwrap())
        .fold((0, 0), |(a, b), (ok, unavailable)| (a + ok, b + unavailable));
    assert!(
        ok > 0 && unavailable > 0,
        "the outage must overlap the traffic: {ok} ok, {unavailable} unavailable"
    );

    // Nothing half-written: every wallet's versions are gapless and the money is all there.
    let gaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT stream_name, max(stream_version) AS top, count(*) AS n FROM events GROUP BY stream_name) s WHERE top <> n",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(gaps, 0);
    let direct = node_pipeline(&pool, false);
    let mut total = 0;
    for wallet in 0..10 {
        let loaded: Loaded<SampleWallet> =
            direct.load(loopync_domain::StreamName::of::<SampleWallet>(format!("o{wallet}"))).await.unwrap();
        total += loaded.state.balance;
    }
    assert_eq!(total, 10_000);

    // The worker came back by itself and its tables equal the truth.
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(60)).await;
    let movements: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.sample_wallet_movements")
        .fetch_one(&pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(movements, events);
    let projected: i64 =
        sqlx::query_scalar("SELECT sum(balance)::bigint FROM read_models.sample_wallet_balances")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(projected, 10_000);
    runner.stop().await;
}

/// `loopync serve` with NATS down at start-up serves at once (health, readiness saying why it
/// is not ready) and, when NATS comes up, starts its WebSocket gateway by itself and becomes
/// ready: it neither waits for NATS before serving nor gives live updates up for good.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn serve_started_while_nats_is_down_serves_and_starts_realtime_when_nats_comes(pool: PgPool) {
    let mut nats = loopync_testkit::NatsServer::not_started();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_loopync"))
        .env("DATABASE_URL", loopync_testkit::database_url(&pool).await)
        .env("NATS_URL", nats.url())
        .env("LOOPYNC_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("LOOPYNC_DEV_MODE", "true")
        .env("LOOPYNC_RATE_LIMIT_OPERATIONS", "0")
        .env("LOOPYNC_OUTBOX_DIR", std::env::temp_dir().join(format!("loopync-outbox-{http_port}")))
        .env("RUST_LOG", "warn")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cannot run loopync serve");
    let _serve = KillOnDrop(serve);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let get = |path: &str| {
        let request = client.get(format!("http://127.0.0.1:{http_port}{path}"));
        async move {
            let response = request.send().await.ok()?;
            let status = response.status().as_u16();
            Some((status, response.json::<serde_json::Value>().await.unwrap_or_default()))
        }
    };

    // Serving within seconds, NATS or not.
    let started = std::time::Instant::now();
    while get("/health").await.is_none() {
        assert!(started.elapsed() < Duration::from_secs(8), "serve did not answer /health without NATS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, problem) = get("/ready").await.unwrap();
    assert_eq!(status, 503, "{problem}");
    let failing: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert!(failing.contains(&"nats") && failing.contains(&"realtime"), "{problem}");

    // NATS comes: the gateway starts by itself and the node becomes ready.
    nats.restart().await;
    let started = std::time::Instant::now();
    let body = loop {
        match get("/ready").await {
            Some((200, body)) => break body,
            other => assert!(started.elapsed() < Duration::from_secs(60), "never ready: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["checks"]["realtime"], "ok", "{body}");
    assert_eq!(body["checks"]["nats"], "ok", "{body}");
    // The gateway answers (an upgrade request it can refuse as incomplete, not a 503).
    let (status, _) = get("/api/ws").await.unwrap();
    assert_ne!(status, 503, "/api/ws still unavailable");
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
