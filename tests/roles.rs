//! The database roles of `schemas/migrations/0010_roles.sql`, used as a deployment uses them:
//! LOGIN users made members of `loopync_app`, `loopync_workers`, `loopync_analysts` and
//! `loopync_auditors`, one per process.
//!
//! - the API's login appends and reads events but cannot change or delete one, nor write a
//!   read model, nor create anything;
//! - the workers' login runs the projections (makes each generation's schema and views, applies
//!   batches), and another worker login can take a projection over and rebuild it (the views
//!   belong to the role, not to the login that made them);
//! - analysts read the views in `read_models` only: not `private_read_models`, not `events`,
//!   not the generations' tables; auditors read `events` too, and `loopync audit ledger` runs
//!   as one;
//! - `loopync serve` (API only) runs as the API's login beside `loopync worker` as the workers'
//!   one, without DDL rights: it migrates only when the database needs it;
//! - the roles are made race-free when many databases are migrated at once;
//! - every table of the migrations is granted to some role (a new table must say who uses it).
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use loopync_projections::looppay::LedgerReadModel;
use loopync_testkit::{database_url, node_pipeline};
use loopync_workers::RunnerConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A LOGIN user, member of one of the product's roles, made for one test. Dropped by
/// [`Login::drop_user`] at the end of the test, or when dropped (a failing test leaves no user
/// behind on the shared cluster).
struct Login {
    name: String,
    url: String,
    pool: PgPool,
}

impl Login {
    async fn create(admin: &PgPool, role: &str) -> Self {
        let name = format!("{role}_test_{}", &Uuid::now_v7().simple().to_string()[20..]);
        sqlx::query(&format!("CREATE ROLE {name} LOGIN IN ROLE {role}")).execute(admin).await.unwrap();
        let url = database_url(admin).await.replacen("://postgres@", &format!("://{name}@"), 1);
        assert!(url.contains(&name), "the test server's URL names the postgres user: {url}");
        let options = PgConnectOptions::from_str(&url).unwrap();
        let pool = PgPoolOptions::new().max_connections(4).connect_lazy_with(options);
        Self { name, url, pool }
    }

    /// Closes the user's connections and drops it; it owns nothing (what the workers make
    /// belongs to `loopync_workers`), so nothing else has to go first.
    async fn drop_user(self, admin: &PgPool) {
        self.pool.close().await;
        sqlx::query(&format!("DROP ROLE {}", self.name)).execute(admin).await.unwrap();
        std::mem::forget(self);
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        // Only reached when a test failed before dropping the user itself.
        let (name, url) = (self.name.clone(), std::env::var("DATABASE_URL").unwrap_or_default());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url).await.map_err(std::io::Error::other)?;
                let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {name}")).execute(&mut admin).await;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
    }
}

/// The statement fails for lack of a privilege or of ownership (SQLSTATE 42501) — not because
/// of the append-only trigger, which raises the same code with its own message.
async fn assert_denied(pool: &PgPool, sql: &str) {
    let error = sqlx::query(sql).execute(pool).await.err().unwrap_or_else(|| panic!("allowed: {sql}"));
    let database = error.as_database_error().unwrap_or_else(|| panic!("{sql}: {error}"));
    assert_eq!(database.code().as_deref(), Some("42501"), "{sql}: {error}");
    let message = database.message();
    assert!(
        message.starts_with("permission denied") || message.starts_with("must be owner"),
        "{sql}: {error}"
    );
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or_else(|error| panic!("{sql}: {error}"))
}

async fn active_generation(pool: &PgPool, projection: &str) -> i32 {
    sqlx::query_scalar("SELECT active_generation FROM projections WHERE name = $1")
        .bind(projection)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn each_role_does_its_work_and_nothing_more(pool: PgPool) {
    let app = Login::create(&pool, "loopync_app").await;
    let workers = Login::create(&pool, "loopync_workers").await;
    let analyst = Login::create(&pool, "loopync_analysts").await;
    let auditor = Login::create(&pool, "loopync_auditors").await;

    // The API's login appends (money moves through the pipeline, idempotency records too) ...
    generate_ledger_traffic(&node_pipeline(&app.pool, true), 4, 40).await;
    // ... and the workers' login makes the read models and applies the batches.
    let runner = start_runner(&workers.pool, loopync_api::features::projections(), RunnerConfig::default());
    for projection in [LedgerReadModel::NAME, "user_profiles", "user_sessions"] {
        wait_caught_up(&pool, projection, Duration::from_secs(30)).await;
    }
    let wallets = count(&pool, "SELECT count(*) FROM read_models.wallet_balances").await;
    assert_eq!(wallets, 4, "the workers' login projected the ledger");
    let owner: String = sqlx::query_scalar(
        "SELECT viewowner::text FROM pg_views WHERE schemaname = 'read_models' AND viewname = 'wallet_balances'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(owner, "loopync_workers", "read models belong to the role, not to the login");

    // The API: reads the log and both kinds of views; changes no event, writes no read model.
    assert!(count(&app.pool, "SELECT count(*) FROM events").await > 40);
    assert_eq!(count(&app.pool, "SELECT count(*) FROM read_models.wallet_balances").await, wallets);
    count(&app.pool, "SELECT count(*) FROM private_read_models.user_contacts").await;
    for sql in [
        "UPDATE events SET payload = '{}' WHERE global_position = 1",
        "DELETE FROM events WHERE global_position = 1",
        "TRUNCATE events",
        "DELETE FROM read_models.wallet_balances",
        "UPDATE read_models.wallet_balances SET available = 1000000",
        "INSERT INTO proj_looppay_ledger_g1.wallet_balances SELECT * FROM read_models.wallet_balances LIMIT 1",
        "DELETE FROM private_read_models.user_contacts",
        "UPDATE projection_checkpoints SET global_position = 0",
        "DELETE FROM live_updates",
        "CREATE TABLE public.mine (id int)",
        "CREATE SCHEMA mine",
        "DROP VIEW read_models.wallet_balances",
    ] {
        assert_denied(&app.pool, sql).await;
    }

    // The workers: no more rights over the log than appending.
    assert_denied(&workers.pool, "UPDATE events SET payload = '{}' WHERE global_position = 1").await;
    assert_denied(&workers.pool, "DELETE FROM events WHERE global_position = 1").await;
    assert_denied(&workers.pool, "CREATE TABLE public.mine (id int)").await;

    // Analysts: the views in read_models, nothing else.
    assert_eq!(count(&analyst.pool, "SELECT count(*) FROM read_models.wallet_balances").await, wallets);
    count(&analyst.pool, "SELECT count(*) FROM read_models.user_profiles").await;
    for sql in [
        "SELECT count(*) FROM private_read_models.user_contacts",
        "SELECT count(*) FROM private_read_models.user_session_addresses",
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM command_log",
        "SELECT count(*) FROM proj_user_profiles_g1.user_contacts",
        "SELECT count(*) FROM proj_looppay_ledger_g1.wallet_balances",
        "DELETE FROM read_models.wallet_balances",
        "INSERT INTO events (stream_name, stream_version, event_id, event_type, schema_version, payload, metadata) \
         VALUES ('x-1', 1, gen_random_uuid(), 'x', 1, '{}', '{}')",
    ] {
        assert_denied(&analyst.pool, sql).await;
    }

    // Auditors: the log and read_models, read only; still no personal read models.
    assert!(count(&auditor.pool, "SELECT count(*) FROM events").await > 40);
    assert_eq!(count(&auditor.pool, "SELECT count(*) FROM read_models.wallet_balances").await, wallets);
    assert_denied(&auditor.pool, "SELECT count(*) FROM private_read_models.user_contacts").await;
    assert_denied(&auditor.pool, "UPDATE events SET payload = '{}' WHERE global_position = 1").await;
    assert_denied(&auditor.pool, "DELETE FROM read_models.wallet_balances").await;
    let audit = Command::new(env!("CARGO_BIN_EXE_loopync"))
        .env("DATABASE_URL", &auditor.url)
        .env("RUST_LOG", "warn")
        .args(["audit", "ledger"])
        .output()
        .unwrap();
    let printed =
        format!("{}{}", String::from_utf8_lossy(&audit.stdout), String::from_utf8_lossy(&audit.stderr));
    assert_eq!(audit.status.code(), Some(0), "the audit as an auditor: {printed}");
    assert!(printed.contains("CLEAN"), "{printed}");

    // Another worker login takes the projection over and rebuilds it: it replaces the views
    // the first login made and drops the old generation, which only the owner may.
    runner.stop().await;
    let other_workers = Login::create(&pool, "loopync_workers").await;
    let generation = loopync_workers::rebuild::request(&other_workers.pool, LedgerReadModel::NAME)
        .await
        .unwrap()
        .expect("a rebuild generation");
    let runner =
        start_runner(&other_workers.pool, loopync_api::features::projections(), RunnerConfig::default());
    let started = Instant::now();
    while active_generation(&pool, LedgerReadModel::NAME).await != generation {
        assert!(started.elapsed() < Duration::from_secs(30), "the rebuild did not switch over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_caught_up(&pool, LedgerReadModel::NAME, Duration::from_secs(30)).await;
    runner.stop().await;
    assert_eq!(count(&analyst.pool, "SELECT count(*) FROM read_models.wallet_balances").await, wallets);
    assert_eq!(count(&app.pool, "SELECT count(*) FROM read_models.wallet_balances").await, wallets);
    let old_schema_left =
        count(&pool, "SELECT count(*) FROM pg_namespace WHERE nspname = 'proj_looppay_ledger_g1'").await;
    assert_eq!(old_schema_left, 0, "the old generation was dropped");

    for login in [app, workers, analyst, auditor, other_workers] {
        login.drop_user(&pool).await;
    }
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn loopync(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loopync"));
    command
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()))
        .env("RUST_LOG", "info")
        .env("LOOPYNC_LOG_FORMAT", "json")
        .env("LOOPYNC_DEV_MODE", "true");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_deployment_with_one_login_per_process_serves_without_ddl_rights(pool: PgPool) {
    let app = Login::create(&pool, "loopync_app").await;
    let workers = Login::create(&pool, "loopync_workers").await;
    let logs = tempdir();
    let worker = Process(
        loopync(&workers.url)
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.join("worker.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let port = free_port();
    let serve = Process(
        loopync(&app.url)
            .arg("serve")
            .env("LOOPYNC_SERVE_WORKERS", "false")
            .env("LOOPYNC_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("LOOPYNC_OUTBOX_DIR", logs.join("outbox"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.join("serve.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let log = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();

    // Ready: the migrations read (not run) by a login that could not run them, the read models
    // made by the worker process.
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/ready")).send().await.map(|r| r.status().as_u16());
        if ready.as_ref().ok() == Some(&200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not ready: {ready:?}\n--- serve\n{}\n--- worker\n{}",
            log("serve.log"),
            log("worker.log")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A sign-up (events, claims, the session) and a top-up, then the balance read from the
    // read model the worker process keeps.
    let handle = format!("roles{}", &Uuid::now_v7().simple().to_string()[20..]);
    let signup: serde_json::Value = client
        .post(format!("{base}/api/auth/signup"))
        .json(&serde_json::json!({
            "email": format!("{handle}@example.com"), "password": "correct horse battery staple",
            "name": handle, "handle": handle,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["token"].as_str().unwrap_or_else(|| panic!("sign-up: {signup}\n{}", log("serve.log")));
    let top_up = client
        .post(format!("{base}/api/looppay/topup"))
        .bearer_auth(token)
        .json(&serde_json::json!({"amount": 250}))
        .send()
        .await
        .unwrap();
    assert_eq!(top_up.status().as_u16(), 201, "{}", top_up.text().await.unwrap());
    let balance: serde_json::Value = client
        .get(format!("{base}/api/looppay/balance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["available"], 250, "{balance}");

    drop(serve);
    drop(worker);
    let (serve_log, worker_log) = (log("serve.log"), log("worker.log"));
    assert!(!serve_log.contains("migrations not applied"), "{serve_log}");
    assert!(!serve_log.contains("permission denied"), "{serve_log}");
    assert!(!worker_log.contains("permission denied"), "{worker_log}");
    std::fs::remove_dir_all(&logs).ok();
    for login in [app, workers] {
        login.drop_user(&pool).await;
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loopync-roles-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_table_of_the_migrations_is_granted_to_the_roles_that_use_it(pool: PgPool) {
    // A new table must say who uses it: a table nobody but its owner may touch is a migration
    // that forgot its grants (the app or the workers would fail on it in production only).
    let ungranted: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
            AND NOT has_table_privilege('loopync_app', c.oid, 'SELECT') \
            AND NOT has_table_privilege('loopync_workers', c.oid, 'SELECT') \
          ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(ungranted.is_empty(), "tables without grants to loopync_app or loopync_workers: {ungranted:?}");

    let logins: Vec<(String, bool)> = sqlx::query_as(
        "SELECT rolname::text, rolcanlogin FROM pg_roles WHERE rolname IN \
         ('loopync_app', 'loopync_workers', 'loopync_analysts', 'loopync_auditors') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        logins,
        [
            ("loopync_analysts".to_owned(), false),
            ("loopync_app".to_owned(), false),
            ("loopync_auditors".to_owned(), false),
            ("loopync_workers".to_owned(), false),
        ],
        "four group roles, none of which can log in"
    );
}

/// The roles' migration, with role names of this test's own (roles are cluster-wide: the real
/// ones exist already, and other tests use them).
fn roles_migration_renamed(prefix: &str) -> String {
    let migration = loopync_schemas::MIGRATOR.iter().find(|m| m.version == 10).expect("migration 0010");
    migration.sql.replace("loopync_", prefix)
}

#[tokio::test]
async fn databases_migrated_at_once_create_the_roles_once_and_all_succeed() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set");
    let prefix = format!("race{}_", &Uuid::now_v7().simple().to_string()[20..]);
    let sql = roles_migration_renamed(&prefix);
    // Databases migrated up to the roles' migration.
    let mut databases = Vec::new();
    for _ in 0..4 {
        let name = format!("loopync_test_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let options = PgConnectOptions::from_str(&url).unwrap().database(&name);
        let mut conn = PgConnection::connect_with(&options).await.unwrap();
        for migration in loopync_schemas::MIGRATOR.iter().filter(|m| m.version < 10) {
            sqlx::raw_sql(&migration.sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql("CREATE TABLE _sqlx_migrations (version bigint)").execute(&mut conn).await.unwrap();
        databases.push((name, conn));
    }

    // All four run the roles' migration at once, each in a transaction held open a moment
    // after it: the first to create a role holds it uncommitted, and the others' CREATE ROLE
    // waits for it, then finds it taken.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(databases.len()));
    let runs = databases.into_iter().map(|(name, mut conn)| {
        let (sql, barrier) = (sql.clone(), barrier.clone());
        async move {
            let mut tx = conn.begin().await.unwrap();
            barrier.wait().await;
            let started = Instant::now();
            let result = sqlx::raw_sql(&sql).execute(&mut *tx).await.map(drop);
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let result = match result {
                Ok(()) => tx.commit().await,
                Err(error) => {
                    drop(tx);
                    Err(error)
                }
            };
            drop(conn);
            (name, result, took)
        }
    });
    // Polled together in this task: each waits on its own connection, so they run at once.
    let outcomes: Vec<_> = futures::future::join_all(runs).await;

    let mut admin = PgConnection::connect(&url).await.unwrap();
    for (name, _, _) in &outcomes {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(&prefix)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for role in &roles {
        sqlx::query(&format!("DROP ROLE {role}")).execute(&mut admin).await.unwrap();
    }

    for (name, result, _) in &outcomes {
        assert!(result.is_ok(), "{name}: {result:?}");
    }
    assert_eq!(roles.len(), 4, "each role once: {roles:?}");
    assert!(
        outcomes.iter().any(|(_, _, took)| *took >= Duration::from_millis(250)),
        "no migration waited for another's role: the race did not happen ({:?})",
        outcomes.iter().map(|(_, _, took)| *took).collect::<Vec<_>>()
    );
}
