//! Guarantee 1, no skipped events: readers of the global log see every committed event
//! exactly once, in a stable order, even when transactions commit out of position order.
// Test code: a failed `unwrap` or `expect` is a failed test, with its message. clippy.toml
// allows them in `#[test]` functions; this also covers the helpers beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use loopync_projections::EventLog;
use loopync_schemas::Position;
use rand::Rng;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

async fn insert_event(tx: &mut Transaction<'_, Postgres>, stream: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (stream_name, stream_version, event_id, event_type, schema_version, payload, metadata) \
         VALUES ($1, 1, $2, 'sample_wallet.withdrawn', 1, '{}', '{\"commandId\": \"t\", \"correlationId\": \"t\"}')",
    )
    .bind(stream)
    .bind(id)
    .execute(&mut **tx)
    .await
    .expect("insert");
    id
}

async fn read_all(log: &EventLog) -> Vec<(Position, Uuid)> {
    let mut seen = Vec::new();
    let mut after = Position::ORIGIN;
    loop {
        let batch = log.read_after(after, 100).await.expect("read");
        let Some(last) = batch.last() else { return seen };
        after = last.position;
        seen.extend(batch.iter().map(|e| (e.position, e.event_id)));
    }
}

/// The case a position-ordered reader gets wrong: the event holding the lower position commits
/// last. Our reader must wait for it, then deliver both in order; the lag shows meanwhile.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_event_committed_late_is_not_skipped(pool: PgPool) {
    let log = EventLog::new(pool.clone());
    let mut slow = pool.begin().await.unwrap();
    let first = insert_event(&mut slow, "late-1").await;
    let mut fast = pool.begin().await.unwrap();
    let second = insert_event(&mut fast, "late-2").await;
    fast.commit().await.unwrap();

    // The later position is committed, but the earlier one is still open: nothing is readable.
    let naive: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM events ORDER BY global_position")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        naive,
        vec![second],
        "a position-ordered reader would take the second event and pass the first"
    );
    assert!(log.read_after(Position::ORIGIN, 10).await.unwrap().is_empty());
    let (held_back, oldest) = log.horizon_stall().await.unwrap();
    assert!(held_back >= 1, "the stalled horizon shows as held-back events");
    assert!(oldest > 0.0, "and as the age of the oldest open transaction");

    slow.commit().await.unwrap();
    // The horizon is cluster-wide: transactions of other tests running now may hold it a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        seen = read_all(&log).await.into_iter().map(|(_, id)| id).collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, vec![first, second]);
}

/// Many concurrent writers, some holding their transactions open for a while, some rolling
/// back; a reader tailing the log the whole time must see every committed event exactly once,
/// in increasing log order, and a second reading from the start must give the same sequence.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_tailing_reader_sees_every_committed_event_exactly_once(pool: PgPool) {
    const WRITERS: usize = 12;
    const TRANSACTIONS_PER_WRITER: usize = 40;
    let committed = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let writers_done = Arc::new(AtomicBool::new(false));

    let log = EventLog::new(pool.clone());
    let reader = {
        let log = log.clone();
        let writers_done = writers_done.clone();
        let committed = committed.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(Position, Uuid)> = Vec::new();
            let mut after = Position::ORIGIN;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let batch = log.read_after(after, 50).await.expect("read");
                if let Some(last) = batch.last() {
                    after = last.position;
                }
                let empty = batch.is_empty();
                seen.extend(batch.iter().map(|e| (e.position, e.event_id)));
                let expected = committed.lock().unwrap().len();
                if empty && writers_done.load(Ordering::SeqCst) && seen.len() >= expected {
                    return seen;
                }
                assert!(Instant::now() < deadline, "reader did not finish");
                if empty {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };

    let writers = (0..WRITERS).map(|writer| {
        let pool = pool.clone();
        let committed = committed.clone();
        tokio::spawn(async move {
            for i in 0..TRANSACTIONS_PER_WRITER {
                let (events, hold_ms, roll_back) = {
                    let mut rng = rand::rng();
                    let hold = if rng.random_bool(0.15) { rng.random_range(20..250) } else { 0 };
                    (rng.random_range(1..4), hold, rng.random_bool(0.1))
                };
                let mut tx = pool.begin().await.unwrap();
                let mut ids = Vec::new();
                for n in 0..events {
                    ids.push(insert_event(&mut tx, &format!("nsk-{writer}.{i}.{n}")).await);
                }
                // Hold the transaction open after taking positions: later positions commit first.
                if hold_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                }
                if roll_back {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    if let Ok(mut committed) = committed.lock() {
                        committed.extend(ids);
                    }
                }
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.expect("writer panicked");
    }
    writers_done.store(true, Ordering::SeqCst);
    let tailed = reader.await.expect("reader panicked");

    let committed = committed.lock().unwrap().clone();
    let tailed_ids: Vec<Uuid> = tailed.iter().map(|(_, id)| *id).collect();
    let unique: HashSet<Uuid> = tailed_ids.iter().copied().collect();
    assert_eq!(unique.len(), tailed_ids.len(), "an event was delivered twice");
    assert_eq!(unique, committed, "the tailing reader missed committed events or saw rolled-back ones");
    assert!(tailed.windows(2).all(|w| w[0].0 < w[1].0), "positions are not strictly increasing");

    // Stable order: reading again from the start gives exactly the same sequence.
    assert_eq!(read_all(&log).await, tailed);

    // The test is only meaningful if the log really was written out of position order.
    let out_of_order: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT global_position, lag(global_position) OVER (ORDER BY transaction_id, global_position) AS previous FROM events) t \
         WHERE global_position < previous",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(out_of_order > 0, "no transaction committed out of position order; the race was not exercised");
}
