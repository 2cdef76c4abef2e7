//! Hold expiry with two workers: 50 holds expire together, a few captured before that;
//! two independent workers (two ledgers over two pipelines and event stores) sweep at once,
//! again and again until nothing is due. Each uncaptured hold expires exactly once, captured
//! ones stay captured, and every payer gets its credits back.
//!
//! And hold expiry without the read models: due holds are found in the table the event
//! store's trigger keeps, so with no projection running at all a due hold is still expired
//! and its credits released.

use chrono::{Duration as Span, Utc};
use loopync_commands::CommandContext;
use loopync_domain::given::credits;
use loopync_domain::looppay::{LedgerAccount, PlaceHold};
use loopync_testkit::{
    Options, TestDb, caught_up, events_of_type, replay_wallet, replay_wallets, spawn_app, standalone_pipeline,
};
use loopync_workers::looppay::hold_expiry::{Sweep, due_holds, expire_due_holds};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use uuid::Uuid;

const PAYERS: usize = 10;
const HOLDS_EACH: usize = 5;
const FUNDS: i64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_expire_each_uncaptured_hold_exactly_once() {
    let db = TestDb::create(20).await;
    let app = spawn_app(&db.pool, Options::default()).await;
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        let user = app.signup().await;
        app.top_up(&user, FUNDS, None).await.created();
        payers.push(user);
    }

    // 50 holds, all expiring together a little from now (time enough for the captures below
    // on a loaded 2-core machine).
    let looppay = &app.state.looppay;
    let context = CommandContext::actor("hold-tests");
    let expires_at = Utc::now() + Span::milliseconds(5000);
    let mut holds: Vec<(Uuid, usize, i64)> = Vec::new();
    for (p, payer) in payers.iter().enumerate() {
        for h in 0..HOLDS_EACH {
            let payment_id = Uuid::now_v7();
            let amount = 100 + (p * HOLDS_EACH + h) as i64;
            let command = PlaceHold {
                payment_id,
                payer: LedgerAccount::User(payer.id),
                payee: LedgerAccount::Escrow,
                amount: credits(amount),
                reference: format!("event:show-{p}-{h}"),
                expires_at,
                now: Utc::now(),
            };
            looppay.place_hold(command, &context).await.unwrap_or_else(|e| panic!("hold {p}/{h}: {e}"));
            holds.push((payment_id, p, amount));
        }
    }
    assert!(
        Utc::now() < expires_at - Span::milliseconds(2000),
        "placing the holds took too long for the test"
    );

    // Before expiry, every fifth hold is captured in full.
    let mut captured: BTreeSet<Uuid> = BTreeSet::new();
    for (payment_id, _, _) in holds.iter().step_by(5) {
        looppay.capture_hold(*payment_id, None, &context).await.expect("capture");
        captured.insert(*payment_id);
    }
    assert!(Utc::now() < expires_at, "the captures came after the expiry; the test is too slow");
    assert_eq!(captured.len(), 10);

    // After expiry, with the read model (where workers find due holds) caught up.
    let after = (expires_at + Span::milliseconds(200) - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(after).await;
    app.caught_up().await;
    assert_eq!(due_holds(&db.pool, Utc::now(), 1000).await.unwrap().len(), 40);

    // Two workers, as two processes: pools, stores, pipelines and ledgers of their own.
    let barrier = Arc::new(Barrier::new(2));
    let mut workers = Vec::new();
    for worker in 0..2 {
        let pool = db.another_pool(5).await;
        let board = app.state.checkpoints.clone();
        let projections = app.projection_names.clone();
        let barrier = barrier.clone();
        workers.push(tokio::spawn(async move {
            let pipeline = standalone_pipeline(&pool);
            let mut total = Sweep::default();
            let mut sweeps = 0;
            barrier.wait().await;
            loop {
                let sweep = expire_due_holds(&pipeline, &pool, Utc::now())
                    .await
                    .unwrap_or_else(|e| panic!("worker {worker}: sweep: {e}"));
                sweeps += 1;
                total.expired += sweep.expired;
                total.settled_elsewhere += sweep.settled_elsewhere;
                total.failed += sweep.failed;
                caught_up(&board, &pool, &projections).await;
                let due = due_holds(&pool, Utc::now(), 1000).await.unwrap();
                if due.is_empty() {
                    break;
                }
                assert!(sweeps < 50, "worker {worker}: holds stay due: {due:?}");
            }
            pool.close().await;
            (total, sweeps)
        }));
    }
    let mut sweeps = Vec::new();
    for worker in workers {
        let result = tokio::time::timeout(Duration::from_secs(60), worker)
            .await
            .expect("a worker hung")
            .expect("a worker panicked");
        sweeps.push(result);
    }
    eprintln!("hold expiry sweeps: {sweeps:?}");
    let expired: u64 = sweeps.iter().map(|(s, _)| s.expired).sum();
    assert_eq!(expired, 40, "the workers expired each uncaptured hold once between them: {sweeps:?}");
    assert!(sweeps.iter().all(|(s, _)| s.failed == 0), "{sweeps:?}");

    // The log: one `payment.expired` per uncaptured hold, none for captured ones.
    assert_eq!(events_of_type(&db.pool, "payment.expired").await, 40);
    assert_eq!(events_of_type(&db.pool, "wallet.hold_released").await, 40);
    assert_eq!(events_of_type(&db.pool, "payment.captured").await, 10);
    assert_eq!(events_of_type(&db.pool, "wallet.hold_captured").await, 10);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT stream_name, event_type FROM events \
         WHERE event_type IN ('payment.expired', 'payment.captured') ORDER BY global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut settled: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (stream, event_type) in rows {
        let id = Uuid::parse_str(stream.trim_start_matches("payment-"))
            .unwrap_or_else(|e| panic!("{stream}: {e}"));
        settled.entry(id).or_default().push(event_type);
    }
    for (payment_id, _, _) in &holds {
        let expected = if captured.contains(payment_id) { "payment.captured" } else { "payment.expired" };
        assert_eq!(
            settled.get(payment_id).map(Vec::as_slice),
            Some(&[expected.to_owned()][..]),
            "{payment_id}"
        );
    }

    // The wallets: nothing held any more; payers paid exactly their captured holds.
    let wallets = replay_wallets(&db.pool).await;
    let mut captured_amount = 0;
    for (p, payer) in payers.iter().enumerate() {
        let paid: i64 = holds
            .iter()
            .filter(|(id, owner, _)| *owner == p && captured.contains(id))
            .map(|(_, _, a)| a)
            .sum();
        captured_amount += paid;
        let wallet = &wallets[&payer.id.to_string()];
        assert_eq!((wallet.available, wallet.held), (FUNDS - paid, 0), "payer {p}");
    }
    assert_eq!(wallets["system.escrow"].available, captured_amount);

    // And the read models: payments settled, balances restored, nothing due.
    app.caught_up().await;
    let statuses: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM read_models.ledger_payments GROUP BY status ORDER BY status",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(statuses, [("expired".to_owned(), 40), ("paid".to_owned(), 10)]);
    let position = app.top_up(&payers[0], 1, None).await.pos();
    for (p, payer) in payers.iter().enumerate() {
        let wallet = &wallets[&payer.id.to_string()];
        let extra = if p == 0 { 1 } else { 0 };
        assert_eq!(app.balance(payer, &position).await, (wallet.available + extra, 0), "payer {p}");
    }

    drop(app);
    db.drop_database().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_due_hold_is_expired_with_no_projection_running(pool: PgPool) {
    // No projection runner: the ledger read model never sees a single event.
    let app = spawn_app(&pool, Options::default().without_projections()).await;
    let ada = app.signup().await;
    app.top_up(&ada, 1_000, None).await.created();
    let looppay = &app.state.looppay;
    let context = CommandContext::actor("hold-tests");
    let hold = |payment_id: Uuid, amount: i64, expires_in: Span| {
        let now = Utc::now();
        PlaceHold {
            payment_id,
            payer: LedgerAccount::User(ada.id),
            payee: LedgerAccount::Escrow,
            amount: credits(amount),
            reference: format!("event:{}", payment_id.simple()),
            expires_at: now + expires_in,
            now,
        }
    };
    let (due, captured, later) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    looppay.place_hold(hold(due, 300, Span::seconds(2)), &context).await.expect("hold");
    looppay.place_hold(hold(captured, 200, Span::seconds(2)), &context).await.expect("hold");
    looppay.place_hold(hold(later, 100, Span::hours(1)), &context).await.expect("hold");
    looppay.capture_hold(captured, None, &context).await.expect("capture");
    let read_model: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('read_models.ledger_payments')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(read_model, None, "the ledger read model does not even exist");

    // Found from the moment they commit, earliest expiry first, settled ones gone.
    let found: Vec<Uuid> = due_holds(&pool, Utc::now() + Span::hours(2), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.payment_id)
        .collect();
    assert_eq!(found, [due, later]);
    let first: Vec<Uuid> = due_holds(&pool, Utc::now() + Span::hours(2), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.payment_id)
        .collect();
    assert_eq!(first, [due]);

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let sweep = expire_due_holds(&app.state.pipeline, &pool, Utc::now()).await.unwrap();
    assert_eq!(sweep, Sweep { expired: 1, settled_elsewhere: 0, failed: 0 });
    assert_eq!(events_of_type(&pool, "payment.expired").await, 1);
    // Ada has her 300 back; 200 were paid, 100 are still held until later.
    let wallet = replay_wallet(&pool, &ada.id.to_string()).await;
    assert_eq!((wallet.available, wallet.held), (700, 100));
    let left: Vec<Uuid> = due_holds(&pool, Utc::now() + Span::hours(2), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.payment_id)
        .collect();
    assert_eq!(left, [later]);
    assert_eq!(expire_due_holds(&app.state.pipeline, &pool, Utc::now()).await.unwrap(), Sweep::default());
}
