//! Guarantee 2, exactly-once read-model effects, and the projection runtime around it:
//! batches aborted at any point, rebuilds that switch readers over without downtime, and
//! read-your-writes through the checkpoint board.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use async_trait::async_trait;
use common::*;
use loopync_commands::CommandContext;
use loopync_commands::pipeline::Loaded;
use loopync_domain::StreamName;
use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
use loopync_projections::projection::{LiveUpdate, Projection, ProjectionError};
use loopync_projections::sample::{self, SampleWalletBalances};
use loopync_projections::{CheckpointBoard, Consistency};
use loopync_schemas::RecordedEvent;
use loopync_testkit::node_pipeline;
use loopync_workers::{RunnerConfig, projection_status, rebuild};
use rand::Rng;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

/// The sample projection, sabotaged: while its budget lasts it applies part of a batch and then
/// fails — with an error or a panic — so the batch's transaction never commits. Poisoned, it
/// cannot apply anything of the stream `sample_wallet-bad` until it is cured (a fix deployed).
struct Sabotaged {
    inner: SampleWalletBalances,
    failures_left: AtomicUsize,
    failures: AtomicUsize,
    poisoned: AtomicBool,
}

impl Sabotaged {
    fn new(failures: usize, poisoned: bool) -> Self {
        Self {
            inner: SampleWalletBalances,
            failures_left: AtomicUsize::new(failures),
            failures: AtomicUsize::new(0),
            poisoned: AtomicBool::new(poisoned),
        }
    }
}

#[async_trait]
impl Projection for Sabotaged {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn schema_sql(&self) -> &'static str {
        self.inner.schema_sql()
    }
    fn tables(&self) -> &'static [&'static str] {
        self.inner.tables()
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<Vec<LiveUpdate>, ProjectionError> {
        if self.poisoned.load(Ordering::SeqCst) && events.iter().any(|e| e.stream_name == "sample_wallet-bad")
        {
            return Err(ProjectionError::Failed("a bad wallet's event cannot be applied".into()));
        }
        let (sabotage, cut, panic) = {
            let mut rng = rand::rng();
            (rng.random_bool(0.4), rng.random_range(0..=events.len()), rng.random_bool(0.5))
        };
        if sabotage
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            self.failures.fetch_add(1, Ordering::SeqCst);
            // Part of the batch really is written before the failure.
            self.inner.apply(conn, &events[..cut]).await?;
            if panic {
                panic!("sabotaged projection panics after {cut} of {} events", events.len());
            }
            // A transient failure (as a connection lost mid-batch is): retried, never parked.
            return Err(ProjectionError::Database(sqlx::Error::PoolTimedOut));
        }
        self.inner.apply(conn, events).await
    }
}

async fn active_generation(pool: &PgPool) -> i32 {
    projection_status(pool)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == SampleWalletBalances::NAME)
        .map(|s| s.active_generation)
        .expect("the projection's status")
}

async fn rebuild_and_wait(pool: &PgPool) -> i32 {
    let generation = rebuild::request(pool, SampleWalletBalances::NAME)
        .await
        .unwrap()
        .expect("the projection was registered");
    for _ in 0..600 {
        if active_generation(pool).await == generation {
            return generation;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the rebuild did not switch within 30 s");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn batches_aborted_at_any_point_leave_the_same_tables_as_a_rebuild(pool: PgPool) {
    let sabotaged = Arc::new(Sabotaged::new(30, false));
    let runner = start_runner(
        &pool,
        vec![sabotaged.clone()],
        RunnerConfig { batch_size: 37, max_backoff: Duration::from_millis(50), ..RunnerConfig::default() },
    );
    let pipeline = node_pipeline(&pool, true);
    generate_wallet_traffic(&pipeline, 40, 1600).await;
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(60)).await;
    assert!(
        sabotaged.failures.load(Ordering::SeqCst) >= 10,
        "the sabotage did not happen often enough to mean anything"
    );
    let after_crashes = dump_sample_read_models(&pool).await;

    // The read models agree with the aggregates themselves...
    let fresh = node_pipeline(&pool, false);
    for wallet in 0..40 {
        let id = format!("w{wallet}");
        let loaded: Loaded<SampleWallet> = fresh.load(StreamName::of::<SampleWallet>(&id)).await.unwrap();
        let view = sample::wallet(&pool, &id).await.unwrap();
        assert_eq!(
            view.map(|v| (v.balance, v.operations)).unwrap_or((0, 0)),
            (loaded.state.balance, loaded.state.operations as i64)
        );
    }
    // ...and with a rebuild from zero, row for row.
    rebuild_and_wait(&pool).await;
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(60)).await;
    assert_eq!(dump_sample_read_models(&pool).await, after_crashes);
    assert!(!after_crashes.is_empty());
    runner.stop().await;
}

/// While a rebuild runs and commands keep arriving, readers of `read_models` never get an
/// error and never see the data go backwards; afterwards the old generation is gone.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_rebuild_switches_readers_over_without_downtime(pool: PgPool) {
    let runner = start_runner(&pool, vec![Arc::new(SampleWalletBalances)], RunnerConfig::default());
    let pipeline = node_pipeline(&pool, true);
    generate_wallet_traffic(&pipeline, 20, 2000).await;
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(60)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicI64::new(0));
    let reader = {
        let pool = pool.clone();
        let stop = stop.clone();
        let reads = reads.clone();
        tokio::spawn(async move {
            let mut previous = 0_i64;
            while !stop.load(Ordering::SeqCst) {
                let count: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM read_models.sample_wallet_movements")
                        .fetch_one(&pool)
                        .await
                        .expect("a reader failed during the rebuild");
                assert!(count >= previous, "readers saw the read model go backwards: {previous} -> {count}");
                previous = count;
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let traffic = {
        let pipeline = pipeline.clone();
        tokio::spawn(async move { generate_wallet_traffic(&pipeline, 20, 400).await })
    };
    let generation = rebuild_and_wait(&pool).await;
    traffic.await.unwrap();
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(60)).await;
    stop.store(true, Ordering::SeqCst);
    reader.await.unwrap();
    assert!(reads.load(Ordering::SeqCst) > 10, "the reader did not overlap the rebuild");

    let movements: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.sample_wallet_movements")
        .fetch_one(&pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(movements, events, "the rebuilt generation holds every movement");
    let old_schema: Option<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname = 'proj_sample_wallet_balances_g1'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(old_schema, None, "the retired generation was dropped");
    assert_eq!(generation, 2);
    runner.stop().await;
}

/// A command's position, waited for on the board, means the read model reflects the command.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_after_waiting_for_the_commands_position_reflects_it(pool: PgPool) {
    let runner = start_runner(&pool, vec![Arc::new(SampleWalletBalances)], RunnerConfig::default());
    let pipeline = node_pipeline(&pool, true);
    for amount in 1..=20 {
        let outcome = pipeline
            .execute::<SampleWallet>(
                "ryw",
                SampleWalletCommand::TopUp { amount },
                &CommandContext::actor("a"),
            )
            .await
            .unwrap();
        let position = outcome.position.expect("a top-up appends");
        // A board in another "process" (it learns progress by polling the checkpoint table).
        let remote_board = CheckpointBoard::new(pool.clone());
        for board in [&runner.board, &remote_board] {
            let consistency =
                board.wait_for(&[SampleWalletBalances::NAME], position, Duration::from_secs(10)).await;
            assert_eq!(consistency, Consistency::Reached);
            let view = sample::wallet(&pool, "ryw").await.unwrap();
            assert_eq!(view.map(|v| v.balance), Some((1..=amount).sum::<i64>()));
        }
    }
    // A position nobody reaches times out as stale instead of hanging.
    let beyond = loopync_schemas::Position::new(i64::MAX, 0);
    let consistency =
        runner.board.wait_for(&[SampleWalletBalances::NAME], beyond, Duration::from_millis(100)).await;
    assert_eq!(consistency, Consistency::Stale);
    runner.stop().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_poisoned_event_is_parked_and_the_read_model_goes_on(pool: PgPool) {
    use loopync_workers::dead_letters::{self, Resolution};
    let pipeline = node_pipeline(&pool, true);
    let cx = CommandContext::actor("poison-test");
    // Two poisoned top-ups among twenty good ones, all in one batch's reach.
    let mut good = 0;
    for n in 0..22 {
        let wallet = if n == 7 || n == 15 {
            "bad".to_owned()
        } else {
            good += 1;
            format!("w{}", good % 5)
        };
        pipeline
            .execute::<SampleWallet>(&wallet, SampleWalletCommand::TopUp { amount: 10 }, &cx)
            .await
            .unwrap();
    }
    let poisoned = Arc::new(Sabotaged::new(0, true));
    let runner = start_runner(
        &pool,
        vec![poisoned.clone()],
        RunnerConfig { batch_size: 50, max_backoff: Duration::from_millis(50), ..RunnerConfig::default() },
    );
    wait_caught_up(&pool, SampleWalletBalances::NAME, Duration::from_secs(30)).await;

    // Everything else was applied; the two poisoned events are parked with their error.
    for n in 0..5 {
        let view =
            sample::wallet(&pool, &format!("w{n}")).await.unwrap().expect("the good wallets are there");
        assert_eq!(view.balance, 40, "w{n}");
    }
    assert!(sample::wallet(&pool, "bad").await.unwrap().is_none());
    let parked = dead_letters::list(&pool).await.unwrap();
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert!(parked.iter().all(|letter| letter.error.contains("cannot be applied")), "{parked:?}");
    assert!(parked.iter().all(|letter| letter.event_type == "sample_wallet.topped_up"));
    assert_eq!(parked_events(&pool).await, 2, "status (and its gauge) counts the parked events");

    // The fix is deployed: one is applied again, the other given up.
    poisoned.poisoned.store(false, Ordering::SeqCst);
    let (first, second) = (parked[0].position.global_position, parked[1].position.global_position);
    assert!(matches!(dead_letters::retry(&pool, poisoned.as_ref(), first).await, Ok(Resolution::Applied)));
    assert!(matches!(
        dead_letters::skip(&pool, SampleWalletBalances::NAME, second).await,
        Ok(Resolution::Skipped)
    ));
    assert!(matches!(dead_letters::retry(&pool, poisoned.as_ref(), second).await, Ok(Resolution::NotFound)));
    assert_eq!(sample::wallet(&pool, "bad").await.unwrap().map(|view| view.balance), Some(10));
    assert!(dead_letters::list(&pool).await.unwrap().is_empty());
    assert_eq!(parked_events(&pool).await, 0);
    runner.stop().await;
}

/// The sample projection's parked events, as `projections status` shows them.
async fn parked_events(pool: &PgPool) -> i64 {
    let statuses = projection_status(pool).await.unwrap();
    let sample =
        statuses.iter().find(|s| s.name == SampleWalletBalances::NAME).expect("the sample projection");
    sample.parked_events
}
