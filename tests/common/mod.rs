//! What the binary's end-to-end tests share beyond the test kit (`loopync-testkit`: nodes'
//! pipelines, the test database's URL for child processes): projection runners in this
//! process, waiting for them by their recorded status, traffic, and read models dumped for
//! comparison.
#![allow(dead_code)]

use loopync_commands::{CommandContext, CommandError, CommandPipeline};
use loopync_domain::given::credits;
use loopync_domain::looppay::{LedgerAccount, LedgerError, TopUp, TopUpLimits, Transfer};
use loopync_domain::sample::{SampleWallet, SampleWalletCommand};
use loopync_projections::{CheckpointBoard, LogWaker, Projection};
use loopync_schemas::Position;
use loopync_workers::{ProjectionRunner, RunnerConfig};
use rand::Rng;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A runner in this process; cancel the token to stop it.
pub struct RunningRunner {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
    pub board: Arc<CheckpointBoard>,
}

impl RunningRunner {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the projection runner ended without panicking");
    }
}

pub fn start_runner(
    pool: &PgPool,
    projections: Vec<Arc<dyn Projection>>,
    config: RunnerConfig,
) -> RunningRunner {
    let board = CheckpointBoard::new(pool.clone());
    let runner = ProjectionRunner::new(
        pool.clone(),
        projections,
        LogWaker::new(pool.clone(), None),
        board.clone(),
        None,
        RunnerConfig {
            lease_interval: Duration::from_millis(200),
            idle_poll: Duration::from_millis(100),
            ..config
        },
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.child_token()));
    RunningRunner { shutdown, task, board }
}

/// Random top-ups and withdrawals over `wallets` wallets, `count` commands from 8 clients.
pub async fn generate_wallet_traffic(pipeline: &Arc<CommandPipeline>, wallets: usize, count: usize) {
    let clients = (0..8).map(|client| {
        let pipeline = pipeline.clone();
        tokio::spawn(async move {
            for _ in 0..count / 8 {
                let (wallet, command) = {
                    let mut rng = rand::rng();
                    let wallet = rng.random_range(0..wallets);
                    let command = if rng.random_bool(0.7) {
                        SampleWalletCommand::TopUp { amount: rng.random_range(1..100) }
                    } else {
                        SampleWalletCommand::Withdraw { amount: rng.random_range(1..50) }
                    };
                    (wallet, command)
                };
                // Refusals (insufficient funds) are part of realistic traffic; anything else
                // (a conflict past the retries, a store error) is a failure of the test.
                let outcome = pipeline
                    .execute::<SampleWallet>(
                        format!("w{wallet}"),
                        command,
                        &CommandContext::actor(format!("c{client}")),
                    )
                    .await;
                match outcome {
                    Ok(_) | Err(CommandError::Domain(_)) => {}
                    Err(error) => panic!("traffic command failed: {error}"),
                }
            }
        })
    });
    for client in futures::future::join_all(clients).await {
        client.expect("traffic client panicked");
    }
}

/// Waits until the projection's active generation has read every committed event.
///
/// "Every committed", not "every readable": the visibility horizon is cluster-wide, so another
/// test holding a transaction open can keep this test's last events unreadable for a while.
/// Readers then rightly wait; so must this.
pub async fn wait_caught_up(pool: &PgPool, projection: &str, timeout: Duration) {
    let started = Instant::now();
    loop {
        let last_committed: Option<(i64, i64)> = sqlx::query_as(
            "SELECT transaction_id::text::bigint, global_position FROM events \
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await
        .unwrap();
        let last_committed = last_committed.map(|(t, p)| Position::new(t, p)).unwrap_or_default();
        let statuses = loopync_workers::projection_status(pool).await.unwrap();
        if statuses
            .iter()
            .any(|s| s.name == projection && s.rebuild.is_none() && s.position >= last_committed)
        {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "{projection} did not catch up within {timeout:?}: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// LoopPay traffic from `wallets` funded wallets: `count` transfers of 1 to 49 credits between
/// random distinct wallets, from 8 clients at once. Refusals (insufficient funds) are part of
/// it; anything else fails the test.
pub async fn generate_ledger_traffic(pipeline: &Arc<CommandPipeline>, wallets: usize, count: usize) {
    let accounts: Arc<Vec<LedgerAccount>> =
        Arc::new((0..wallets).map(|_| LedgerAccount::User(uuid::Uuid::now_v7())).collect());
    let limits = TopUpLimits { per_top_up: i64::MAX, daily: i64::MAX, pending: usize::MAX };
    for account in accounts.iter() {
        let top_up = TopUp {
            account: *account,
            top_up_id: uuid::Uuid::now_v7(),
            amount: credits(1_000),
            confirmed: true,
            limits,
            now: chrono::Utc::now(),
        };
        pipeline.decide(&top_up, &CommandContext::actor("traffic")).await.unwrap();
    }
    let clients = (0..8).map(|client| {
        let (pipeline, accounts) = (pipeline.clone(), accounts.clone());
        tokio::spawn(async move {
            for _ in 0..count / 8 {
                let transfer = {
                    let mut rng = rand::rng();
                    let from = rng.random_range(0..accounts.len());
                    let to = (from + rng.random_range(1..accounts.len())) % accounts.len();
                    Transfer {
                        entry_id: uuid::Uuid::now_v7(),
                        from: accounts[from],
                        to: accounts[to],
                        amount: credits(rng.random_range(1..50)),
                        note: None,
                        now: chrono::Utc::now(),
                    }
                };
                match pipeline.decide(&transfer, &CommandContext::actor(format!("c{client}"))).await {
                    Ok(_) | Err(CommandError::Domain(LedgerError::InsufficientFunds { .. })) => {}
                    Err(error) => panic!("traffic transfer failed: {error}"),
                }
            }
        })
    });
    for client in futures::future::join_all(clients).await {
        client.expect("traffic client panicked");
    }
}

/// Every row of the LoopPay ledger read model's balances and statements, as text, in a
/// stable order.
pub async fn dump_ledger_read_models(pool: &PgPool) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT format('balance %s %s %s %s %s', account, available, held, sequence, last_hash) \
         FROM read_models.wallet_balances ORDER BY account",
    )
    .fetch_all(pool)
    .await
    .expect("dump balances");
    let movements: Vec<String> = sqlx::query_scalar(
        "SELECT format('movement %s %s %s %s %s %s', global_position, account, sequence, kind, amount, \
                available_after) \
         FROM read_models.wallet_transactions ORDER BY global_position, account",
    )
    .fetch_all(pool)
    .await
    .expect("dump movements");
    rows.extend(movements);
    rows
}

/// Every row of the sample read models, as text, in a stable order.
pub async fn dump_sample_read_models(pool: &PgPool) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT format('balance %s %s %s %s', wallet_id, balance, operations, last_position) \
         FROM read_models.sample_wallet_balances ORDER BY wallet_id",
    )
    .fetch_all(pool)
    .await
    .expect("dump balances");
    let movements: Vec<String> = sqlx::query_scalar(
        "SELECT format('movement %s %s %s %s', global_position, wallet_id, amount, balance_after) \
         FROM read_models.sample_wallet_movements ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .expect("dump movements");
    rows.extend(movements);
    rows
}

pub mod proxy;
