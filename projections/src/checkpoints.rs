//! Where projections have read up to, and read-your-writes.
//!
//! Every command answers with the position it reached. A read that must reflect the caller's
//! earlier command names that position (the `Loopync-Position` header) and waits, bounded,
//! until the projections it reads from have passed it. Runners in this process report their
//! progress here directly; progress made by workers in other processes is picked up by polling
//! the checkpoint table, only while someone is waiting.

use loopync_schemas::Position;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Whether a read may reflect a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Every projection asked for has passed the position.
    Reached,
    /// The wait timed out; the read may not reflect the position yet.
    Stale,
}

/// The latest known checkpoint of every projection's active generation.
pub struct CheckpointBoard {
    positions: watch::Sender<HashMap<String, Position>>,
    waiters: AtomicUsize,
}

/// How often other processes' progress is polled while a read waits.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

impl CheckpointBoard {
    /// A board that polls `pool` for other processes' progress while reads wait.
    pub fn new(pool: PgPool) -> Arc<Self> {
        let board =
            Arc::new(Self { positions: watch::channel(HashMap::new()).0, waiters: AtomicUsize::new(0) });
        let weak = Arc::downgrade(&board);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(POLL_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(board) = weak.upgrade() else { return };
                if board.waiters.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                if let Ok(rows) = active_checkpoints(&pool).await {
                    for (name, position) in rows {
                        board.advance(&name, position);
                    }
                }
            }
        });
        board
    }

    /// Records that `projection`'s active generation has passed `position`.
    pub fn advance(&self, projection: &str, position: Position) {
        self.positions.send_if_modified(|positions| match positions.get_mut(projection) {
            Some(known) if *known >= position => false,
            Some(known) => {
                *known = position;
                true
            }
            None => {
                positions.insert(projection.to_owned(), position);
                true
            }
        });
    }

    /// Forgets a projection's position (its generation was switched: the new one starts over).
    pub fn reset(&self, projection: &str, position: Position) {
        self.positions.send_modify(|positions| {
            positions.insert(projection.to_owned(), position);
        });
    }

    /// The known position of a projection.
    pub fn position(&self, projection: &str) -> Option<Position> {
        self.positions.borrow().get(projection).copied()
    }

    /// Waits until every one of `projections` has passed `position`, at most `timeout`.
    pub async fn wait_for(&self, projections: &[&str], position: Position, timeout: Duration) -> Consistency {
        let reached = |positions: &HashMap<String, Position>| {
            projections.iter().all(|p| positions.get(*p).is_some_and(|known| *known >= position))
        };
        let mut receiver = self.positions.subscribe();
        if reached(&receiver.borrow_and_update()) {
            return Consistency::Reached;
        }
        // Counted while waiting, however the wait ends: a client that disconnects drops this
        // future mid-wait, and a waiter counted forever would keep the board polling forever.
        let _waiting = Waiting::count(&self.waiters);
        let result = tokio::time::timeout(timeout, receiver.wait_for(|positions| reached(positions))).await;
        match result {
            Ok(Ok(_)) => Consistency::Reached,
            _ => Consistency::Stale,
        }
    }
}

impl CheckpointBoard {
    /// Reads waiting right now (the board polls the checkpoint table while there are any).
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }
}

/// One waiting read, counted from its start to its end or its drop.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::Relaxed);
        Self(waiters)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The checkpoint of every projection's active generation.
pub async fn active_checkpoints(pool: &PgPool) -> Result<Vec<(String, Position)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT c.projection, c.transaction_id::text::bigint AS "transaction_id!", c.global_position
             FROM projection_checkpoints c JOIN projections p
               ON p.name = c.projection AND p.active_generation = c.generation"#,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.projection, Position::new(r.transaction_id, r.global_position))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[tokio::test]
    async fn a_wait_abandoned_midway_is_no_longer_counted() {
        // Never connects: nothing here reaches the database.
        let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let board = CheckpointBoard::new(pool);
        let position = Position::new(5, 5);
        {
            let mut wait = pin!(board.wait_for(&["ledger"], position, Duration::from_secs(60)));
            let polled = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(matches!(polled, Poll::Pending));
            assert_eq!(board.waiters(), 1, "counted while it waits");
        } // The client went away: the wait is dropped.
        assert_eq!(board.waiters(), 0);

        let stale = board.wait_for(&["ledger"], position, Duration::from_millis(10)).await;
        assert_eq!(
            (stale, board.waiters()),
            (Consistency::Stale, 0),
            "a timed-out wait is not counted either"
        );
        board.advance("ledger", position);
        let reached = board.wait_for(&["ledger"], position, Duration::from_millis(10)).await;
        assert_eq!((reached, board.waiters()), (Consistency::Reached, 0));
    }
}
