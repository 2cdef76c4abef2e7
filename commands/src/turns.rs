//! Turns per stream within one process.
//!
//! Optimistic concurrency makes racing commands on one stream safe, but not cheap: every
//! loser has read, decided and appended for nothing, and under a hot stream (everyone paying
//! one merchant) most attempts lose. Within a process the pipeline therefore lets commands on
//! the same streams take turns: a command waits for the streams it touches, then decides on
//! the cached state — which is current, since nobody else in the process could append — and
//! appends once. Expected versions still guard against other processes.
//!
//! Streams map onto a fixed set of slots by hash, so memory stays constant; two unrelated
//! streams that share a slot merely take turns too. A command touching several streams takes
//! their slots in ascending order, so two commands can never wait on each other in a cycle.

use loopync_domain::StreamName;
use std::hash::{BuildHasher, RandomState};
use tokio::sync::{Mutex, MutexGuard};

/// Slots: enough that unrelated streams rarely share one at the concurrency of a node.
const SLOTS: usize = 4096;

pub(crate) struct StreamTurns {
    slots: Vec<Mutex<()>>,
    hasher: RandomState,
}

/// Held while a command runs; dropping it lets the next command on its streams go.
pub(crate) struct Turn<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl StreamTurns {
    pub(crate) fn new() -> Self {
        Self { slots: (0..SLOTS).map(|_| Mutex::new(())).collect(), hasher: RandomState::new() }
    }

    /// Waits for the turn of every stream in `streams`.
    pub(crate) async fn take(&self, streams: &[StreamName]) -> Turn<'_> {
        let mut slots: Vec<usize> =
            streams.iter().map(|stream| (self.hasher.hash_one(stream) % SLOTS as u64) as usize).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut guards = Vec::with_capacity(slots.len());
        for slot in slots {
            guards.push(self.slots[slot].lock().await);
        }
        Turn { _guards: guards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn stream(name: &str) -> StreamName {
        StreamName::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn commands_on_one_stream_take_turns() {
        let turns = Arc::new(StreamTurns::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (turns, inside, most) = (turns.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = turns.take(&[stream("wallet-hot")]).await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn crossing_multi_stream_commands_do_not_deadlock() {
        let turns = Arc::new(StreamTurns::new());
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let turns = turns.clone();
                tokio::spawn(async move {
                    let pair = if i % 2 == 0 {
                        [stream("wallet-a"), stream("wallet-b")]
                    } else {
                        [stream("wallet-b"), stream("wallet-a")]
                    };
                    let _turn = turns.take(&pair).await;
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        let all = futures::future::join_all(tasks);
        let finished = tokio::time::timeout(Duration::from_secs(5), all).await;
        assert!(finished.is_ok(), "multi-stream turns deadlocked");
    }
}
