//! Read-your-writes without the client's help: the last position each session's commands
//! reached, remembered by every node, so that the session's next read waits for it wherever it
//! lands.
//!
//! - **Remembering.** When a command of a signed-in session answers with a `Loopync-Position`,
//!   [`RememberPositions`] (a layer around every route) records it for the caller's session
//!   before the answer leaves. Commands that start a session (sign-up, login, refresh, phone
//!   sign-in, a password change) record their position for the session they created, so the
//!   first read with the new token waits for it too.
//! - **Sharing.** The node that ran the command tells every node through NATS
//!   (`super::sharing`) and waits, before answering, until NATS has relayed the message back to
//!   it; by then the server has queued it for every other node as well. What remains is the
//!   time the server takes to write it to another node and that node to read it, against the
//!   time the client takes to receive the answer and send its next request to that node.
//! - **Reading.** `AppState::wait_for_position` waits for the later of the request's
//!   `Loopync-Position` and the session's remembered position.
//!
//! Only the session's own commands count: another device of the same user remembers its own.
//!
//! **What to forget, and when.** A remembered position matters until every projection has
//! passed it: after that, a read waiting for it returns at once. Each node checks the
//! projections' checkpoints once a second while it remembers anything and forgets the positions
//! they have all passed. Forgetting by age alone would not be correct: a position older than the
//! read timeout still matters while a projection lags (its reads must keep waiting, and say
//! `stale` when they time out, rather than answer stale data unmarked). Two hard bounds keep the
//! memory finite whatever the projections do: at most `capacity` sessions (the least recently
//! written is forgotten first, counted in `loopync_read_your_writes_evicted_total`), and no
//! position is kept past `max_age`.

use super::sharing::Sharing;
use crate::auth::caller_of;
use crate::problem::POSITION_HEADER;
use loopync_projections::checkpoints::active_checkpoints;
use loopync_projections::{CheckpointBoard, Subjects};
use loopync_schemas::Position;
use lru::LruCache;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use sqlx::PgPool;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How sessions' positions are remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConsistencyConfig {
    /// Remember each session's last command position and make its reads wait for it (default
    /// on). Off: only reads that send `Loopync-Position` wait.
    pub enabled: bool,
    /// Most sessions remembered per node (default 100,000; about 80 bytes each).
    pub capacity: usize,
    /// Longest a position is remembered, even if a projection has still not passed it (default
    /// 5 minutes: a projection that far behind is an outage, and its lag metrics say so).
    pub max_age: Duration,
}

impl Default for SessionConsistencyConfig {
    fn default() -> Self {
        Self { enabled: true, capacity: 100_000, max_age: Duration::from_secs(300) }
    }
}

/// How often positions the projections have passed are forgotten.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Independent locks, so concurrent requests rarely wait for each other.
const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Remembered {
    position: Position,
    at: Instant,
}

/// The positions themselves: LRU maps by session, in the order positions were last raised.
pub(super) struct Memory {
    shards: Box<[Mutex<LruCache<Uuid, Remembered>>]>,
    max_age: Duration,
}

impl Memory {
    fn new(capacity: usize, max_age: Duration) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        let shards = (0..SHARDS).map(|_| Mutex::new(LruCache::new(per_shard))).collect();
        Self { shards, max_age }
    }

    fn shard(&self, session: Uuid) -> std::sync::MutexGuard<'_, LruCache<Uuid, Remembered>> {
        // v7 ids start with a timestamp: the low bits of the random tail spread sessions evenly.
        let index = (session.as_u128() as usize) % SHARDS;
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Raises `session`'s position to `position` (positions arrive out of order from several
    /// nodes; a lower one changes nothing).
    pub(super) fn note(&self, session: Uuid, position: Position) {
        let mut shard = self.shard(session);
        if shard.peek(&session).is_some_and(|known| known.position >= position) {
            return;
        }
        let evicted = shard.push(session, Remembered { position, at: Instant::now() });
        if evicted.is_some_and(|(key, _)| key != session) {
            metrics::counter!("loopync_read_your_writes_evicted_total").increment(1);
        }
    }

    /// `session`'s position, unless it is older than `max_age`.
    fn last(&self, session: Uuid) -> Option<Position> {
        let shard = self.shard(session);
        let remembered = shard.peek(&session)?;
        (remembered.at.elapsed() < self.max_age).then_some(remembered.position)
    }

    /// Forgets, oldest first, the positions every projection has passed (`floor`: the lowest
    /// checkpoint) and those older than `max_age`. Stops at the first one still needed: the
    /// order is that of writing, which follows the log closely enough for a sweep a second.
    fn forget_passed(&self, floor: Option<Position>) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            while let Some((_, oldest)) = shard.peek_lru() {
                let passed = floor.is_some_and(|floor| oldest.position <= floor);
                if !passed && oldest.at.elapsed() < self.max_age {
                    break;
                }
                shard.pop_lru();
            }
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}

/// The sessions' last command positions on this node, shared with the other nodes.
pub struct SessionPositions {
    memory: Arc<Memory>,
    sharing: Option<Sharing>,
    enabled: bool,
}

impl SessionPositions {
    /// Starts remembering: a sweeper that forgets what the projections (`pool`'s checkpoints,
    /// also reported to `board`) have passed, and with `nats`, the sharing between nodes. Off
    /// when `config.enabled` is false: nothing is remembered and nothing runs.
    pub fn start(
        config: &SessionConsistencyConfig,
        nats: Option<async_nats::Client>,
        subjects: &Subjects,
        pool: PgPool,
        board: Arc<CheckpointBoard>,
    ) -> Arc<Self> {
        let memory = Arc::new(Memory::new(config.capacity, config.max_age));
        if !config.enabled {
            return Arc::new(Self { memory, sharing: None, enabled: false });
        }
        tokio::spawn(sweep(Arc::downgrade(&memory), pool, board));
        let sharing = nats.map(|nats| Sharing::start(nats, subjects, Arc::downgrade(&memory)));
        Arc::new(Self { memory, sharing, enabled: true })
    }

    /// Whether sessions' positions are remembered at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records that `session`'s command reached `position`, here and (with NATS) on every
    /// node, before the command answers. Never fails: without NATS, or with NATS away, only
    /// this node remembers.
    pub async fn remember(&self, session: Uuid, position: Position) {
        if !self.enabled {
            return;
        }
        self.memory.note(session, position);
        if let Some(sharing) = &self.sharing {
            sharing.publish(session, position).await;
        }
    }

    /// The last position `session`'s commands reached, if it still matters.
    pub fn last(&self, session: Uuid) -> Option<Position> {
        if !self.enabled {
            return None;
        }
        self.memory.last(session)
    }

    /// Waits (at most `within`) until this node receives the other nodes' positions; `false`
    /// when it does not (no NATS, sharing off, or NATS not answering). A node that serves
    /// before this may miss positions of commands answered elsewhere in the meantime.
    pub async fn shared(&self, within: Duration) -> bool {
        match &self.sharing {
            Some(sharing) => sharing.live(within).await,
            None => false,
        }
    }
}

/// Once a second while anything is remembered: reads the projections' checkpoints and forgets
/// the positions all of them have passed (and those past `max_age`). Reading the table rather
/// than this node's board: the board only hears of projections run here or waited on lately.
/// Every active projection counts, read by this node or not: a projection that stopped moving
/// holds this back, and then the hard bounds (age, capacity) are what forget.
async fn sweep(memory: Weak<Memory>, pool: PgPool, board: Arc<CheckpointBoard>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(memory) = memory.upgrade() else { return };
        let remembered = memory.len();
        metrics::gauge!("loopync_read_your_writes_sessions").set(remembered as f64);
        if remembered == 0 {
            continue;
        }
        let floor = match active_checkpoints(&pool).await {
            Ok(checkpoints) => {
                for (name, position) in &checkpoints {
                    board.advance(name, *position);
                }
                checkpoints.into_iter().map(|(_, position)| position).min()
            }
            Err(error) => {
                tracing::debug!(%error, "checkpoints unreadable; forgetting by age only");
                None
            }
        };
        memory.forget_passed(floor);
    }
}

/// The layer that remembers, for the caller's session, the position each of its commands
/// answered with (`Loopync-Position`), before the answer leaves. Inside
/// `crate::auth::Authenticate`, whose verified caller it reads.
pub(crate) struct RememberPositions {
    positions: Arc<SessionPositions>,
}

impl RememberPositions {
    pub(crate) fn new(positions: Arc<SessionPositions>) -> Self {
        Self { positions }
    }
}

impl<E: Endpoint> Middleware<E> for RememberPositions {
    type Output = RememberPositionsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RememberPositionsEndpoint { inner, positions: self.positions.clone() }
    }
}

pub(crate) struct RememberPositionsEndpoint<E> {
    inner: E,
    positions: Arc<SessionPositions>,
}

impl<E: Endpoint> Endpoint for RememberPositionsEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let caller = if self.positions.enabled() { caller_of(&request) } else { None };
        let response = self.inner.call(request).await?.into_response();
        if let Some(caller) = caller
            && let Some(position) = response
                .headers()
                .get(POSITION_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(|token| token.parse::<Position>().ok())
        {
            self.positions.remember(caller.session_id, position).await;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_keeps_its_highest_position_whatever_order_they_arrive_in() {
        let memory = Memory::new(100, Duration::from_secs(60));
        let session = Uuid::now_v7();
        assert_eq!(memory.last(session), None);
        memory.note(session, Position::new(10, 5));
        memory.note(session, Position::new(9, 7));
        assert_eq!(memory.last(session), Some(Position::new(10, 5)));
        memory.note(session, Position::new(11, 1));
        assert_eq!(memory.last(session), Some(Position::new(11, 1)));
        assert_eq!(memory.last(Uuid::now_v7()), None, "another session made none of them");
    }

    #[test]
    fn positions_every_projection_passed_are_forgotten_and_the_others_kept() {
        let memory = Memory::new(100, Duration::from_secs(60));
        let (old, new) = (Uuid::now_v7(), Uuid::now_v7());
        memory.note(old, Position::new(5, 1));
        memory.note(new, Position::new(8, 1));
        memory.forget_passed(None);
        assert_eq!(memory.len(), 2, "nothing is known to be passed");
        memory.forget_passed(Some(Position::new(6, 0)));
        assert_eq!(memory.last(old), None);
        assert_eq!(memory.last(new), Some(Position::new(8, 1)));
        memory.forget_passed(Some(Position::new(8, 1)));
        assert_eq!(memory.len(), 0);
    }

    #[test]
    fn positions_older_than_the_bound_no_longer_count_and_are_forgotten() {
        let memory = Memory::new(100, Duration::ZERO);
        let session = Uuid::now_v7();
        memory.note(session, Position::new(5, 1));
        assert_eq!(memory.last(session), None);
        memory.forget_passed(None);
        assert_eq!(memory.len(), 0);
    }

    #[test]
    fn memory_is_bounded_by_capacity_forgetting_the_least_recently_written() {
        let memory = Memory::new(SHARDS, Duration::from_secs(60));
        // One shard's worth: sessions whose low bits pick shard 0.
        let sessions: Vec<Uuid> = (0..3u128).map(|n| Uuid::from_u128(n * SHARDS as u128)).collect();
        for (n, session) in sessions.iter().enumerate() {
            memory.note(*session, Position::new(n as i64 + 1, 1));
        }
        assert_eq!(memory.len(), 1, "one entry per shard at this capacity");
        assert_eq!(memory.last(sessions[2]), Some(Position::new(3, 1)));
        assert_eq!(memory.last(sessions[0]), None);
    }
}
