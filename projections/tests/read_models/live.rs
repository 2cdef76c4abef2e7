//! Durable live updates under concurrency: each user's cursors are gap-free and commit-ordered
//! however many projection batches write for the same users at once, so a reader asking for
//! "after n" never skips an update that commits late, and overlapping batches never deadlock.
//! (Their expiry is tested with the rest of housekeeping, in `tests/housekeeping.rs`.)

use loopync_projections::live::{self, LiveUpdate};
use serde_json::json;
use sqlx::PgPool;
use sqlx::types::Uuid;
use std::collections::BTreeMap;
use std::time::Duration;

const WRITERS: usize = 8;
const BATCHES: usize = 25;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_batches_number_each_users_updates_without_gaps_and_a_tailing_reader_sees_all(
    pool: PgPool,
) {
    let users: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();

    // A reader tails one user the way a resuming gateway does, while the writers run.
    let watched = users[0];
    let reader_pool = pool.clone();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            let last = seen.last().copied().unwrap_or(0);
            let page = live::after(&reader_pool, watched, last, 100).await.expect("read");
            for update in page {
                seen.push(update.seq);
            }
            if seen.len() >= WRITERS * BATCHES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    });

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let pool = pool.clone();
        let mut order = users.clone();
        // Every writer touches every user, in its own order, so lock order would matter.
        order.rotate_left(writer % users.len());
        if writer % 2 == 1 {
            order.reverse();
        }
        writers.push(tokio::spawn(async move {
            for batch in 0..BATCHES {
                let mut tx = pool.begin().await.expect("begin");
                let updates = order
                    .iter()
                    .map(|user_id| LiveUpdate {
                        user_id: *user_id,
                        kind: "balance_updated",
                        data: json!({ "writer": writer, "batch": batch }),
                    })
                    .collect();
                live::append(&mut tx, updates).await.expect("append");
                // Hold the transaction open a little, so commits interleave.
                tokio::time::sleep(Duration::from_micros(((writer * 37 + batch * 11) % 5 * 300) as u64))
                    .await;
                tx.commit().await.expect("commit");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = reader.await.expect("reader");
    let total = (WRITERS * BATCHES) as i64;
    assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "the tailing reader skipped or repeated cursors");

    for user_id in users {
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM live_updates WHERE user_id = $1 ORDER BY seq")
                .bind(user_id)
                .fetch_all(&pool)
                .await
                .expect("seqs");
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
        assert_eq!(live::head(&pool, user_id).await.expect("head"), total);
        // Within one writer, its batches reached the user in the order they were written.
        let rows: Vec<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM live_updates WHERE user_id = $1 ORDER BY seq")
                .bind(user_id)
                .fetch_all(&pool)
                .await
                .expect("rows");
        let mut last_batch: BTreeMap<i64, i64> = BTreeMap::new();
        for row in rows {
            let (writer, batch) =
                (row["writer"].as_i64().expect("a writer"), row["batch"].as_i64().expect("a batch"));
            let previous = last_batch.insert(writer, batch).unwrap_or(-1);
            assert!(batch > previous, "writer {writer}: batch {batch} after {previous}");
        }
    }
}
