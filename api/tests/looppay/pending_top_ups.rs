//! Pending top-ups: at most `LOOPYNC_TOP_UP_PENDING_MAX` per wallet wait for the provider
//! (decided by the wallet, so racing starts on two nodes cannot pass the cap together), and a
//! top-up left unconfirmed past the pending window expires, found without any read model; a
//! confirmation arriving after that credits nothing and is answered 2xx.

use crate::webhooks::{WEBHOOK, deliver_to, notice, pending_top_up, sign};
use chrono::{Duration as Span, Utc};
use futures::future::join_all;
use loopync_testkit::{
    Options, Reply, TestApp, TestDb, assert_problem, events_of_type, logs, replay_wallet, spawn_app,
    spawn_two_nodes, string, uuid,
};
use loopync_workers::looppay::top_up_expiry::{Sweep, due_top_ups, expire_due_top_ups};
use serde_json::json;
use sqlx::PgPool;

/// The cap of these tests (the default, 5).
const CAP: usize = 5;

/// Rounds the race is run at most until the nodes have conflicted at least once.
const MOST_ROUNDS: usize = 10;

/// The pending window of these tests (the default, 60 minutes).
fn window() -> Span {
    Span::minutes(60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_starts_on_two_nodes_leave_exactly_the_cap_pending() {
    let db = TestDb::create(20).await;
    let nodes = spawn_two_nodes(&db, Options::webhook().with_pending_top_ups(CAP)).await;
    let conflicts = |nodes: &[TestApp; 2]| nodes.iter().map(TestApp::conflicts).sum::<u64>();
    let mut rounds = 0;
    while conflicts(&nodes) == 0 && rounds < MOST_ROUNDS {
        rounds += 1;
        let ada = nodes[0].signup().await;
        let starts = (0..20).map(|i| nodes[i % 2].top_up(&ada, 100 + i as i64, None));
        let replies: Vec<Reply> = join_all(starts).await;
        let started: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 201).collect();
        assert_eq!(
            started.len(),
            CAP,
            "round {rounds}: {:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for reply in replies.iter().filter(|reply| reply.status != 201) {
            let problem = assert_problem(reply, 422, "too_many_pending_top_ups");
            assert!(string(&problem["detail"]).contains('5'), "{problem}");
        }
        for reply in started {
            assert_eq!(reply.body["status"], "pending");
        }
        let wallet = replay_wallet(&db.pool, &ada.id.to_string()).await;
        assert_eq!(wallet.pending_top_ups.len(), CAP, "round {rounds}");
    }
    assert!(conflicts(&nodes) > 0, "the starts never raced in {rounds} rounds");
    // Nothing appended for a refused start: one request event per pending top-up, no more.
    assert_eq!(events_of_type(&db.pool, "wallet.top_up_requested").await, (CAP * rounds) as i64);
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM looppay_pending_top_ups").fetch_one(&db.pool).await.unwrap();
    assert_eq!(pending, (CAP * rounds) as i64, "the trigger tracked every pending top-up");
    drop(nodes);
    db.drop_database().await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_top_up_pending_past_the_window_expires_and_frees_its_place(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook().with_pending_top_ups(2)).await;
    let ada = app.signup().await;
    let (stale, _) = pending_top_up(&app, &ada, 2_500).await;
    let (confirmed, _) = pending_top_up(&app, &ada, 700).await;
    assert_problem(app.top_up(&ada, 100, None).await, 422, "too_many_pending_top_ups");
    let body = notice("top_up.succeeded", confirmed, ada.id, 700);
    assert_eq!(
        deliver_to(&app, WEBHOOK, &body, Some(&sign(&body, 0))).await.expect(200)["status"],
        "applied"
    );
    let fresh = uuid(&app.top_up(&ada, 300, None).await.created()["topUpId"]);

    // Found the moment they commit, from the trigger-kept table: only what is still pending.
    let due: Vec<_> =
        due_top_ups(&pool, Utc::now(), 10).await.unwrap().into_iter().map(|d| d.top_up_id).collect();
    assert_eq!(due, [stale, fresh]);

    // Not before the window ends...
    let pipeline = &app.state.pipeline;
    let sweep = expire_due_top_ups(pipeline, &pool, window(), Utc::now()).await.unwrap();
    assert_eq!(sweep, Sweep::default());
    // ...then each pending one once, the confirmed one never.
    let later = Utc::now() + window() + Span::seconds(1);
    let sweep = expire_due_top_ups(pipeline, &pool, window(), later).await.unwrap();
    assert_eq!(sweep, Sweep { expired: 2, settled_elsewhere: 0, failed: 0 });
    assert_eq!(expire_due_top_ups(pipeline, &pool, window(), later).await.unwrap(), Sweep::default());
    assert_eq!(events_of_type(&pool, "wallet.top_up_expired").await, 2);
    assert!(due_top_ups(&pool, later, 10).await.unwrap().is_empty());

    // Nothing moved; the read model shows them expired; their places are free again.
    let wallet = replay_wallet(&pool, &ada.id.to_string()).await;
    assert_eq!((wallet.available, wallet.held, wallet.pending_top_ups.len()), (700, 0, 0));
    let position = app.top_up(&ada, 100, None).await.created().clone();
    assert_eq!(position["status"], "pending");
    app.caught_up().await;
    for (top_up_id, status) in [(stale, "expired"), (fresh, "expired"), (confirmed, "confirmed")] {
        let reply = app.get_as(&ada.token, &format!("/api/looppay/topups/{top_up_id}")).await;
        assert_eq!(reply.expect(200)["status"], status, "{top_up_id}");
    }
    let statement = app.get_as(&ada.token, "/api/looppay/transactions").await;
    let kinds: Vec<String> =
        statement.expect(200)["data"].as_array().unwrap().iter().map(|t| string(&t["type"])).collect();
    assert_eq!(kinds, ["top_up"], "an expiry moves nothing and is no statement row");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_confirmation_after_expiry_credits_nothing_and_is_answered_2xx(pool: PgPool) {
    let app = spawn_app(&pool, Options { capture_logs: true, ..Options::webhook() }).await;
    let ada = app.signup().await;
    let (top_up_id, _) = pending_top_up(&app, &ada, 2_500).await;
    let later = Utc::now() + window() + Span::seconds(1);
    let sweep = expire_due_top_ups(&app.state.pipeline, &pool, window(), later).await.unwrap();
    assert_eq!(sweep.expired, 1);

    // The provider confirms late, and retries: refused each time, answered 200 so it stops.
    let body = notice("top_up.succeeded", top_up_id, ada.id, 2_500);
    for _ in 0..2 {
        let reply = deliver_to(&app, WEBHOOK, &body, Some(&sign(&body, 0))).await;
        assert_eq!(reply.expect(200), &json!({"status": "expired"}));
    }
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await, 0);
    let wallet = replay_wallet(&pool, &ada.id.to_string()).await;
    assert_eq!((wallet.available, wallet.held), (0, 0));
    // Support hears of it: the charge is to be given back.
    let warned = logs().lines().into_iter().any(|line| {
        line["fields"]["message"].as_str().is_some_and(|m| m.contains("expired top-up"))
            && line["fields"]["top_up"] == top_up_id.to_string()
    });
    assert!(warned, "no log line for the late confirmation");

    // A failure notice after the expiry agrees with it: nothing to do.
    let failed = notice("top_up.failed", top_up_id, ada.id, 2_500);
    let reply = deliver_to(&app, WEBHOOK, &failed, Some(&sign(&failed, 0))).await;
    assert_eq!(reply.expect(200), &json!({"status": "already_applied"}));
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_confirmation_racing_the_expiry_settles_the_top_up_once(pool: PgPool) {
    let app = spawn_app(&pool, Options::webhook().with_pending_top_ups(20)).await;
    let ada = app.signup().await;
    let mut top_ups = Vec::new();
    for n in 0..10 {
        top_ups.push(pending_top_up(&app, &ada, 100 + n).await.0);
    }
    let later = Utc::now() + window() + Span::seconds(1);
    let confirmations = top_ups.iter().zip(100..).map(|(id, amount)| {
        let body = notice("top_up.succeeded", *id, ada.id, amount);
        let app = &app;
        async move { deliver_to(app, WEBHOOK, &body, Some(&sign(&body, 0))).await }
    });
    let (replies, sweep) = tokio::join!(
        join_all(confirmations),
        expire_due_top_ups(&app.state.pipeline, &pool, window(), later)
    );
    let sweep = sweep.unwrap();
    let applied = replies.iter().filter(|r| r.expect(200)["status"] == "applied").count();
    let refused = replies.iter().filter(|r| r.expect(200)["status"] == "expired").count();
    assert_eq!(applied + refused, 10);
    assert_eq!(sweep.expired as usize, refused, "{sweep:?}");
    assert_eq!(events_of_type(&pool, "wallet.topped_up").await as usize, applied);
    assert_eq!(events_of_type(&pool, "wallet.top_up_expired").await as usize, refused);
    let wallet = replay_wallet(&pool, &ada.id.to_string()).await;
    let credited: i64 = replies
        .iter()
        .zip(100..)
        .filter(|(r, _)| r.body["status"] == "applied")
        .map(|(_, amount)| amount)
        .sum();
    assert_eq!((wallet.available, wallet.pending_top_ups.len()), (credited, 0));
}
