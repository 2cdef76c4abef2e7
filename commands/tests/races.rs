//! Races between nodes, against a real PostgreSQL: two pipelines, each with its own event store
//! (its own group-commit writer, aggregate cache and stream turns), as two API nodes have.
//!
//! Within one pipeline, commands on the same streams take turns and never conflict, so a race
//! inside one process proves nothing about optimistic concurrency. These races run across two
//! pipelines, and each test asserts that appends actually lost races (`conflicts > 0`) before it
//! checks that nothing was lost or applied twice: a race that never conflicted did not race.
//! Lost races show in each outcome (`CommandOutcome::conflicts`) and, for commands then refused
//! on the new state, in the node's count (`CommandPipeline::conflicts`).
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use loopync_commands::{
    CommandContext, CommandError, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig,
};
use loopync_domain::StreamName;
use loopync_domain::given::credits;
use loopync_domain::identity::account::Registration;
use loopync_domain::identity::{DisplayName, Email, Handle, IdentityError, Register, RegistrationError};
use loopync_domain::looppay::{
    CaptureHold, LedgerAccount, LedgerError, Payment, PaymentStatus, PlaceHold, Release, ReleaseHold, TopUp,
    TopUpLimits, Transfer, Wallet,
};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Barrier;
use uuid::Uuid;

/// Rounds a race is run at most until it has conflicted at least once.
const MOST_ROUNDS: usize = 10;

/// A node: a pipeline over an event store of its own, with group commit as in production.
fn node(pool: &PgPool) -> Arc<CommandPipeline> {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: true, max_batch: 64, max_in_flight: 2 });
    Arc::new(CommandPipeline::new(Arc::new(store), PipelineConfig::default()))
}

fn context() -> CommandContext {
    CommandContext::actor("races")
}

async fn fund(node: &CommandPipeline, account: LedgerAccount, amount: i64) {
    let limits = TopUpLimits { per_top_up: i64::MAX, daily: i64::MAX, pending: usize::MAX };
    let top_up = TopUp {
        account,
        top_up_id: Uuid::now_v7(),
        amount: credits(amount),
        confirmed: true,
        limits,
        now: Utc::now(),
    };
    node.decide(&top_up, &context()).await.expect("top-up");
}

/// A wallet as the store has it now.
async fn wallet(node: &CommandPipeline, account: LedgerAccount) -> Wallet {
    let loaded = node.load_latest::<Wallet>(StreamName::of::<Wallet>(account)).await;
    (*loaded.unwrap().state).clone()
}

async fn payment(node: &CommandPipeline, payment_id: Uuid) -> Payment {
    let loaded = node.load_latest::<Payment>(StreamName::of::<Payment>(payment_id)).await;
    (*loaded.unwrap().state).clone()
}

/// Transfers of 1 credit each from `from` to `to` on `node`, all at once once `start` opens.
/// Returns the appends that lost a race on the way.
async fn transfers(
    node: Arc<CommandPipeline>,
    start: Arc<Barrier>,
    from: LedgerAccount,
    to: LedgerAccount,
    count: usize,
) -> u32 {
    start.wait().await;
    let sent = (0..count).map(|_| {
        let node = node.clone();
        async move {
            let transfer = Transfer {
                entry_id: Uuid::now_v7(),
                from,
                to,
                amount: credits(1),
                note: None,
                now: Utc::now(),
            };
            node.decide(&transfer, &context()).await.expect("transfer").conflicts
        }
    });
    join_all(sent).await.into_iter().sum()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn transfers_in_both_directions_on_two_nodes_conflict_and_lose_nothing(pool: PgPool) {
    let (east, west) = (node(&pool), node(&pool));
    let (ada, bob) = (LedgerAccount::User(Uuid::now_v7()), LedgerAccount::User(Uuid::now_v7()));
    fund(&east, ada, 1_000).await;
    fund(&east, bob, 1_000).await;
    const EACH: usize = 40;

    let mut conflicts = 0;
    let mut rounds = 0;
    while conflicts == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let start = Arc::new(Barrier::new(2));
        let eastward = tokio::spawn(transfers(east.clone(), start.clone(), ada, bob, EACH));
        let westward = tokio::spawn(transfers(west.clone(), start, bob, ada, EACH));
        for side in [eastward, westward] {
            conflicts += side.await.unwrap();
        }
    }
    assert!(conflicts > 0, "{rounds} rounds of crossing transfers on two nodes never conflicted");

    // Every transfer landed once: equal traffic both ways leaves both where they started, and
    // each wallet's chain holds its top-up plus one event per transfer it took part in.
    for account in [ada, bob] {
        let wallet = wallet(&west, account).await;
        assert_eq!(wallet.available, 1_000, "{account}");
        assert_eq!(wallet.sequence, 1 + (2 * EACH * rounds) as i64, "{account}");
    }
}

/// What one side of a capture/expiry race did.
#[derive(Debug, Default)]
struct Settled {
    captured: i64,
    expired: i64,
    conflicts: u32,
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_capture_racing_an_expiry_on_another_node_settles_each_hold_once(pool: PgPool) {
    let (shop, sweeper) = (node(&pool), node(&pool));
    let ada = LedgerAccount::User(Uuid::now_v7());
    let escrow = LedgerAccount::Escrow;
    fund(&shop, ada, 100_000).await;
    const HOLDS: usize = 20;

    let mut conflicts = 0;
    let (mut captured, mut expired) = (0_i64, 0_i64);
    let mut rounds = 0;
    while conflicts == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let expires_at = Utc::now() + Duration::minutes(10);
        let mut holds = Vec::new();
        for h in 0..HOLDS {
            let hold = PlaceHold {
                payment_id: Uuid::now_v7(),
                payer: ada,
                payee: escrow,
                amount: credits(100 + h as i64),
                reference: format!("event:{rounds}-{h}"),
                expires_at,
                now: Utc::now(),
            };
            shop.decide(&hold, &context()).await.expect("hold");
            holds.push(hold);
        }
        // The capture is decided a moment before the expiry, the sweep a moment after: both
        // are valid on the hold as placed, and only the order of the appends tells which wins.
        let just_before: DateTime<Utc> = expires_at - Duration::milliseconds(1);
        let just_after: DateTime<Utc> = expires_at + Duration::milliseconds(1);
        let start = Arc::new(Barrier::new(2 * HOLDS));
        type Race = std::pin::Pin<Box<dyn std::future::Future<Output = Settled> + Send>>;
        let mut races: Vec<Race> = Vec::new();
        for hold in &holds {
            let payment_id = hold.payment_id;
            let (shop, start_capture) = (shop.clone(), start.clone());
            races.push(Box::pin(async move {
                start_capture.wait().await;
                let capture =
                    CaptureHold { payment_id, accounts: (ada, escrow), amount: None, now: just_before };
                match shop.decide(&capture, &context()).await {
                    Ok(outcome) => Settled { captured: 1, expired: 0, conflicts: outcome.conflicts },
                    // The expiry won: the hold is no longer active.
                    Err(CommandError::Domain(LedgerError::HoldNotActive("expired"))) => Settled::default(),
                    Err(other) => panic!("capture: {other}"),
                }
            }));
            let (sweeper, start_expiry) = (sweeper.clone(), start.clone());
            races.push(Box::pin(async move {
                start_expiry.wait().await;
                let expiry = ReleaseHold { payment_id, payer: ada, why: Release::Expire, now: just_after };
                let outcome = sweeper.decide(&expiry, &context()).await.expect("expiry");
                // An expiry that finds the hold captured decides nothing.
                Settled {
                    captured: 0,
                    expired: i64::from(!outcome.appended.is_empty()),
                    conflicts: outcome.conflicts,
                }
            }));
        }
        for settled in join_all(races).await {
            captured += settled.captured;
            expired += settled.expired;
            conflicts += settled.conflicts;
        }
        // Each hold settled exactly one way.
        for hold in &holds {
            let status = payment(&sweeper, hold.payment_id).await.status;
            assert!(matches!(status, PaymentStatus::Paid | PaymentStatus::Expired), "{status:?}");
        }
    }
    assert!(conflicts > 0, "{rounds} rounds of captures racing expiries on two nodes never conflicted");
    assert_eq!(captured + expired, (HOLDS * rounds) as i64, "every hold settled once, one way or the other");

    // Nothing is left held, and the credits are where the settlements put them.
    let ada_wallet = wallet(&shop, ada).await;
    let escrow_wallet = wallet(&shop, escrow).await;
    assert_eq!(ada_wallet.held, 0);
    assert_eq!(ada_wallet.available + escrow_wallet.available, 100_000, "no credit created or lost");
}

fn parse<T>(result: Result<T, IdentityError>) -> T {
    result.unwrap()
}

/// A sign-up of `email` with a handle of its own.
fn sign_up(email: &str, n: usize) -> Register {
    Register {
        user_id: Uuid::now_v7(),
        registration: Registration {
            email: Some(parse(Email::parse(email))),
            phone: None,
            handle: parse(Handle::parse(&format!("racer_{n}"))),
            name: parse(DisplayName::parse("Racer")),
            password_hash: Some("bcrypt".into()),
            email_verification: None,
            at: Utc::now(),
        },
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn sign_ups_for_one_email_on_two_nodes_conflict_and_let_exactly_one_win(pool: PgPool) {
    let nodes = [node(&pool), node(&pool)];
    const EACH: usize = 10;
    // Only the winner's outcome is seen; the losers' lost races are counted by their nodes.
    let conflicts = || nodes.iter().map(|node| node.conflicts()).sum::<u64>();
    let mut rounds = 0;
    while conflicts() == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let email = format!("race{rounds}@example.com");
        let start = Arc::new(Barrier::new(2 * EACH));
        let attempts = (0..2 * EACH).map(|n| {
            let (node, start, sign_up) =
                (nodes[n % 2].clone(), start.clone(), sign_up(&email, rounds * 100 + n));
            tokio::spawn(async move {
                start.wait().await;
                node.decide(&sign_up, &context()).await
            })
        });
        let mut winners = 0;
        for attempt in join_all(attempts).await {
            match attempt.unwrap() {
                Ok(_) => winners += 1,
                Err(CommandError::Domain(RegistrationError::EmailTaken)) => {}
                Err(other) => panic!("sign-up: {other}"),
            }
        }
        assert_eq!(winners, 1, "exactly one sign-up with {email} wins");
    }
    assert!(conflicts() > 0, "{rounds} rounds of sign-ups on two nodes never conflicted");
}

/// A node deciding again on conflict for at least `budget`, however few attempts that is.
fn node_with_budget(pool: &PgPool, max_retries: u32, budget: std::time::Duration) -> Arc<CommandPipeline> {
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: true, max_batch: 64, max_in_flight: 2 });
    let config = PipelineConfig { max_retries, retry_budget: budget, ..PipelineConfig::default() };
    Arc::new(CommandPipeline::new(Arc::new(store), config))
}

/// The transfers of [`transfers`], keeping each outcome rather than expecting success.
async fn attempted_transfers(
    node: Arc<CommandPipeline>,
    start: Arc<Barrier>,
    from: LedgerAccount,
    to: LedgerAccount,
    count: usize,
) -> Vec<Result<u32, String>> {
    start.wait().await;
    let sent = (0..count).map(|_| {
        let node = node.clone();
        async move {
            let transfer = Transfer {
                entry_id: Uuid::now_v7(),
                from,
                to,
                amount: credits(1),
                note: None,
                now: Utc::now(),
            };
            match node.decide(&transfer, &context()).await {
                Ok(outcome) => Ok(outcome.conflicts),
                Err(CommandError::Conflict { attempts }) => {
                    Err(format!("conflict after {attempts} attempts"))
                }
                Err(other) => panic!("transfer: {other}"),
            }
        }
    });
    join_all(sent).await
}

/// Crossing transfers on two nodes until they conflict, each node giving up after its first
/// attempt unless `budget` lets it go on: the outcomes, and how many rounds it took.
async fn race_with_budget(pool: &PgPool, budget: std::time::Duration) -> (Vec<Result<u32, String>>, usize) {
    let (east, west) = (node_with_budget(pool, 0, budget), node_with_budget(pool, 0, budget));
    let (ada, bob) = (LedgerAccount::User(Uuid::now_v7()), LedgerAccount::User(Uuid::now_v7()));
    fund(&east, ada, 10_000).await;
    fund(&east, bob, 10_000).await;
    let mut outcomes = Vec::new();
    for round in 1..=MOST_ROUNDS {
        let start = Arc::new(Barrier::new(2));
        let eastward = tokio::spawn(attempted_transfers(east.clone(), start.clone(), ada, bob, 40));
        let westward = tokio::spawn(attempted_transfers(west.clone(), start, bob, ada, 40));
        for side in [eastward, westward] {
            outcomes.extend(side.await.unwrap());
        }
        let raced = outcomes.iter().any(|outcome| !matches!(outcome, Ok(0)));
        if raced {
            return (outcomes, round);
        }
    }
    (outcomes, MOST_ROUNDS)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_loser_keeps_deciding_again_for_its_time_budget_however_few_attempts_that_is(pool: PgPool) {
    // No retry counted in attempts, ten seconds in time: every transfer lands.
    let (outcomes, rounds) = race_with_budget(&pool, std::time::Duration::from_secs(10)).await;
    let conflicts: u32 = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()).sum();
    assert!(conflicts > 0, "{rounds} rounds of crossing transfers on two nodes never conflicted");
    let failed: Vec<&String> = outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).collect();
    assert!(failed.is_empty(), "conflicts reached the caller within the budget: {failed:?}");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn with_neither_attempts_nor_time_left_a_conflict_is_answered(pool: PgPool) {
    // The bound still holds: no retry and no time, and the first lost race is the answer.
    let (outcomes, rounds) = race_with_budget(&pool, std::time::Duration::ZERO).await;
    assert!(
        outcomes.iter().any(Result::is_err),
        "{rounds} rounds without retries never answered a conflict: {outcomes:?}"
    );
}
