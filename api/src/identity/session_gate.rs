//! Revoked sessions stop at once. An access token stays valid until it expires (15 minutes),
//! but the session behind it can end sooner: sign-out, `DELETE /auth/sessions/{id}`, a reused
//! refresh token, a password change or reset. Every authenticated request asks the
//! [`SessionGate`] whether its session is still live, and an ended session is 401
//! `session_ended` on its very next request, on every node.
//!
//! - **Verdicts in memory.** The gate remembers, per session, "ended" (until the LRU forgets
//!   it; the token has expired by then in practice) or "live, as checked at t". A request whose
//!   session has a trusted verdict costs one sharded map lookup and no I/O.
//! - **How long "live" is trusted** depends on whether the node can hear endings. While its
//!   subscription is in place and has been since the verdict was checked, an ending would have
//!   reached it, so "live" is trusted for [`SessionGate::live_for`] (60 s by default; it only
//!   bounds what a lost announcement can cost). A verdict older than the node's last gap in
//!   hearing (NATS down, a reconnect: announcements in between are lost) is trusted only for
//!   [`SessionGate::unheard_for`] (5 s by default).
//! - **Asking the event store.** A session without a trusted verdict is looked up once, in the
//!   event store (the session's and the account's streams, caught up), not in a read model that
//!   may lag. A lookup that fails is not taken for "live": the request fails closed.
//! - **Endings, at once on every node.** The node that ends a session marks it here before it
//!   answers and tells every node over NATS ([`Subjects::sessions_ended`]); a password change or reset makes every
//!   node forget its "live" verdicts on the account's sessions, so their next request is looked
//!   up again. A verdict from a lookup that started before an ending never overwrites it.
//! - **What window remains.** A node that misses a NATS message (the broker is down, or the node
//!   is reconnecting) still trusts a "live" verdict of an ended session for at most `unheard_for`
//!   (plus up to [`HEARING_CHECK`], the time it takes to notice the gap); an ending whose
//!   announcement failed to publish is trusted elsewhere for at most `live_for`.
//!
//! Why not a shorter `live_for` everywhere: each untrusted verdict is a lookup of two streams in
//! the event store. With a thousand active sessions, re-checking every 5 s was about 400 queries
//! a second, which cost HTTP transfers a tenth of their rate (BENCHMARKS.md, bench-ledger).

use loopync_projections::Subjects;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// Independent locks, so concurrent requests rarely wait for each other.
const SHARDS: usize = 16;

/// How often the listener looks at its NATS connection for a gap in hearing.
pub const HEARING_CHECK: Duration = Duration::from_millis(100);

/// How long an ending's announcement may wait for NATS before the request goes on.
const ANNOUNCE_WITHIN: Duration = Duration::from_secs(1);

/// [`SessionGate::hearing_since`] while the node cannot hear endings.
const NOT_HEARING: u64 = 0;

/// What the gate knows of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Live { user: Uuid, checked: Instant },
    Ended,
}

/// An ending, as a node announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// One session ended (sign-out, revocation, a reused refresh token).
    Session(Uuid),
    /// The account's credentials changed: sessions of earlier credentials have ended.
    Account(Uuid),
}

impl Ending {
    fn encode(self) -> String {
        match self {
            Self::Session(session) => format!("session {session}"),
            Self::Account(user) => format!("account {user}"),
        }
    }

    fn decode(payload: &[u8]) -> Option<Self> {
        let (kind, id) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "session" => Some(Self::Session(id)),
            "account" => Some(Self::Account(id)),
            _ => None,
        }
    }
}

/// This node's verdicts on sessions, kept current by every node's endings.
pub struct SessionGate {
    shards: Box<[Mutex<LruCache<Uuid, Verdict>>]>,
    /// When each account's credentials last changed, as far as this node heard.
    credentials_changed: Mutex<LruCache<Uuid, Instant>>,
    live_for: Duration,
    unheard_for: Duration,
    /// When the gate was made: the origin of [`hearing_since`](Self::hearing_since).
    origin: Instant,
    /// Nanoseconds after `origin` (plus one) since which this node has heard every ending
    /// without a gap, or [`NOT_HEARING`]. Read on every request: an atomic, not a lock.
    hearing_since: AtomicU64,
    /// The connection and subject ([`Subjects::sessions_ended`]) endings are announced on.
    nats: Mutex<Option<(async_nats::Client, String)>>,
    /// Whether this node's subscription to the endings' subject is in place on the server.
    listening: watch::Sender<bool>,
}

impl std::fmt::Debug for SessionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGate")
            .field("live_for", &self.live_for)
            .field("unheard_for", &self.unheard_for)
            .finish_non_exhaustive()
    }
}

impl SessionGate {
    /// A gate remembering up to `capacity` sessions, trusting "live" for `live_for` while it
    /// hears endings and for `unheard_for` (at most `live_for`) otherwise.
    pub fn new(capacity: usize, live_for: Duration, unheard_for: Duration) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(LruCache::new(per_shard))).collect(),
            credentials_changed: Mutex::new(LruCache::new(per_shard)),
            live_for,
            unheard_for: unheard_for.min(live_for),
            origin: Instant::now(),
            hearing_since: AtomicU64::new(NOT_HEARING),
            nats: Mutex::new(None),
            listening: watch::Sender::new(false),
        }
    }

    /// How long a "live" verdict is trusted without asking the event store again, while the
    /// node has heard every ending since the verdict was checked.
    pub fn live_for(&self) -> Duration {
        self.live_for
    }

    /// How long a "live" verdict is trusted when the node may have missed an ending since it
    /// was checked.
    pub fn unheard_for(&self) -> Duration {
        self.unheard_for
    }

    /// Whether this node hears endings now.
    pub fn hearing(&self) -> bool {
        self.hearing_since.load(Ordering::Acquire) != NOT_HEARING
    }

    /// From now on, every ending reaches this node.
    fn start_hearing(&self) {
        let since = self.origin.elapsed().as_nanos() as u64 + 1;
        self.hearing_since.store(since, Ordering::Release);
    }

    /// Endings may be lost from now on (until [`start_hearing`](Self::start_hearing)).
    fn stop_hearing(&self) {
        self.hearing_since.store(NOT_HEARING, Ordering::Release);
    }

    /// How long a "live" verdict checked at `checked` is trusted.
    fn trust(&self, checked: Instant) -> Duration {
        match self.hearing_since.load(Ordering::Acquire) {
            NOT_HEARING => self.unheard_for,
            since if checked >= self.origin + Duration::from_nanos(since - 1) => self.live_for,
            _ => self.unheard_for,
        }
    }

    fn shard(&self, session: Uuid) -> MutexGuard<'_, LruCache<Uuid, Verdict>> {
        // v7 ids start with a timestamp: the low bits of the random tail spread sessions evenly.
        let index = (session.as_u128() as usize) % SHARDS;
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The verdict on `session` of `user`, if one is known and still trusted: `Some(true)`
    /// live, `Some(false)` ended, `None` to be looked up.
    pub fn known(&self, user: Uuid, session: Uuid) -> Option<bool> {
        match *self.shard(session).get(&session)? {
            Verdict::Ended => Some(false),
            Verdict::Live { user: owner, checked } => {
                (owner == user && checked.elapsed() < self.trust(checked)).then_some(true)
            }
        }
    }

    /// Records what a lookup that started at `started` found. "Live" never overwrites an
    /// ending, nor outlives a credentials change heard after the lookup started.
    pub fn record(&self, user: Uuid, session: Uuid, live: bool, started: Instant) {
        if !live {
            self.shard(session).put(session, Verdict::Ended);
            return;
        }
        let changed =
            self.credentials_changed.lock().unwrap_or_else(PoisonError::into_inner).peek(&user).copied();
        if changed.is_some_and(|changed| changed >= started) {
            return;
        }
        let mut shard = self.shard(session);
        if shard.peek(&session) != Some(&Verdict::Ended) {
            shard.put(session, Verdict::Live { user, checked: started });
        }
    }

    /// Applies an ending to this node's verdicts.
    fn apply(&self, ending: Ending) {
        match ending {
            Ending::Session(session) => {
                self.shard(session).put(session, Verdict::Ended);
            }
            Ending::Account(user) => {
                self.credentials_changed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .put(user, Instant::now());
                for shard in self.shards.iter() {
                    let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                    let stale: Vec<Uuid> = shard
                        .iter()
                        .filter(|(_, verdict)| matches!(verdict, Verdict::Live { user: owner, .. } if *owner == user))
                        .map(|(session, _)| *session)
                        .collect();
                    for session in stale {
                        shard.pop(&session);
                    }
                }
            }
        }
    }

    /// Applies an ending here, then tells every other node. An announcement that cannot be
    /// confirmed within [`ANNOUNCE_WITHIN`] is logged and left to the client, which sends it
    /// when NATS is back: a sign-out must not hang on an outage, and the other nodes learn of
    /// the ending within [`live_for`](Self::live_for) (or [`unheard_for`](Self::unheard_for) if
    /// they lost NATS too).
    pub async fn end(&self, ending: Ending) {
        self.apply(ending);
        let nats = self.nats.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some((nats, subject)) = nats else { return };
        let announced = tokio::time::timeout(ANNOUNCE_WITHIN, async {
            nats.publish(subject, ending.encode().into()).await?;
            nats.flush().await.map_err(|error| error.to_string())?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .await;
        match announced {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, ?ending, "an ended session was not announced to the other nodes");
            }
            Err(_) => tracing::warn!(?ending, "an ended session's announcement is waiting for NATS"),
        }
    }

    /// Hears the other nodes' endings over `nats` (and announces this node's there), on the
    /// deployment's `subjects`, until the gate is dropped.
    pub fn listen(self: &Arc<Self>, nats: async_nats::Client, subjects: &Subjects) {
        let subject = subjects.sessions_ended();
        *self.nats.lock().unwrap_or_else(PoisonError::into_inner) = Some((nats.clone(), subject.clone()));
        tokio::spawn(hear(nats, subject, Arc::downgrade(self), self.listening.clone()));
    }

    /// Waits (at most `within`) until this node hears the other nodes' endings: a node should
    /// before it serves, or an ending announced meanwhile would reach it only through
    /// [`live_for`](Self::live_for).
    pub async fn listening(&self, within: Duration) -> bool {
        let mut listening = self.listening.subscribe();
        matches!(tokio::time::timeout(within, listening.wait_for(|listening| *listening)).await, Ok(Ok(_)))
    }
}

async fn hear(
    nats: async_nats::Client,
    subject: String,
    gate: Weak<SessionGate>,
    listening: watch::Sender<bool>,
) {
    use futures::StreamExt;
    let mut subscriber = match nats.subscribe(subject).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::error!(%error, "ended sessions are not heard from other nodes: the subscription failed");
            return;
        }
    };
    let statistics = nats.statistics();
    let mut connects = statistics.connects.load(Ordering::Relaxed);
    // Once the flush returns, the server has the subscription.
    match nats.flush().await {
        Ok(()) => {
            if let Some(gate) = gate.upgrade() {
                gate.start_hearing();
            }
            listening.send_replace(true)
        }
        Err(error) => {
            tracing::warn!(%error, "the subscription to ended sessions is not confirmed");
            false
        }
    };
    let mut checks = tokio::time::interval(HEARING_CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = subscriber.next() => {
                let Some(message) = message else { break };
                let Some(gate) = gate.upgrade() else { return };
                match Ending::decode(&message.payload) {
                    Some(ending) => gate.apply(ending),
                    None => tracing::debug!("not an ended session; ignored"),
                }
            }
            _ = checks.tick() => {
                let Some(gate) = gate.upgrade() else { return };
                // A reconnect between two checks is a gap too: the connection count tells.
                let now_connects = statistics.connects.load(Ordering::Relaxed);
                let connected = nats.connection_state() == async_nats::connection::State::Connected;
                if !connected || now_connects != connects {
                    if gate.hearing() {
                        tracing::warn!("NATS connection lost: ended sessions may be missed, live sessions are re-checked sooner");
                    }
                    gate.stop_hearing();
                }
                // Back: once a flush has made the round trip, the resubscription is in place.
                if connected && !gate.hearing() && nats.flush().await.is_ok() {
                    connects = statistics.connects.load(Ordering::Relaxed);
                    gate.start_hearing();
                    listening.send_replace(true);
                }
            }
        }
    }
    if let Some(gate) = gate.upgrade() {
        gate.stop_hearing();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_travel_as_text_and_anything_else_is_ignored() {
        for ending in [Ending::Session(Uuid::now_v7()), Ending::Account(Uuid::now_v7())] {
            assert_eq!(Ending::decode(ending.encode().as_bytes()), Some(ending));
        }
        for junk in ["", "session", "session not-a-uuid", "user 0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10"] {
            assert_eq!(Ending::decode(junk.as_bytes()), None, "{junk}");
        }
    }

    fn hearing(gate: SessionGate) -> SessionGate {
        gate.start_hearing();
        gate
    }

    #[test]
    fn live_is_trusted_long_only_if_checked_while_the_node_hears_every_ending() {
        let gate = SessionGate::new(100, Duration::from_secs(60), Duration::from_millis(50));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let checked = Instant::now();
        gate.record(user, session, true, checked);
        assert_eq!(gate.known(user, session), Some(true));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(gate.known(user, session), None, "not hearing: trusted for unheard_for only");

        gate.start_hearing();
        assert_eq!(gate.known(user, session), None, "checked before the node heard: still short");
        gate.record(user, session, true, Instant::now());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(gate.known(user, session), Some(true), "checked while hearing: live_for");

        gate.stop_hearing();
        assert_eq!(gate.known(user, session), None, "a gap: endings may have been missed");
        gate.start_hearing();
        assert_eq!(gate.known(user, session), None, "and the gap is not forgotten on reconnect");
    }

    #[test]
    fn unheard_trust_never_exceeds_live_for() {
        let gate = SessionGate::new(100, Duration::ZERO, Duration::from_secs(5));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        gate.record(user, session, true, Instant::now());
        assert_eq!(gate.known(user, session), None);
    }

    #[test]
    fn a_live_verdict_is_trusted_for_a_while_and_an_ending_at_once() {
        let gate = hearing(SessionGate::new(100, Duration::from_secs(60), Duration::from_secs(5)));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(gate.known(user, session), None, "unknown: look it up");
        gate.record(user, session, true, Instant::now());
        assert_eq!(gate.known(user, session), Some(true));
        assert_eq!(gate.known(Uuid::now_v7(), session), None, "another user's token for the session");
        gate.apply(Ending::Session(session));
        assert_eq!(gate.known(user, session), Some(false));
        gate.record(user, session, true, Instant::now());
        assert_eq!(gate.known(user, session), Some(false), "a late lookup never revives an ended session");

        let stale = hearing(SessionGate::new(100, Duration::ZERO, Duration::from_secs(5)));
        stale.record(user, session, true, Instant::now());
        assert_eq!(stale.known(user, session), None, "past live_for: look it up again");
    }

    #[test]
    fn a_credentials_change_forgets_the_accounts_live_verdicts_and_outdates_lookups_under_way() {
        let gate = hearing(SessionGate::new(100, Duration::from_secs(60), Duration::from_secs(60)));
        let (ada, grace) = (Uuid::now_v7(), Uuid::now_v7());
        let (laptop, phone, hers) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let before = Instant::now();
        for (user, session) in [(ada, laptop), (ada, phone), (grace, hers)] {
            gate.record(user, session, true, before);
        }
        gate.apply(Ending::Account(ada));
        assert_eq!((gate.known(ada, laptop), gate.known(ada, phone)), (None, None));
        assert_eq!(gate.known(grace, hers), Some(true), "other accounts keep theirs");
        gate.record(ada, laptop, true, before);
        assert_eq!(
            gate.known(ada, laptop),
            None,
            "a lookup that started before the change counts for nothing"
        );
        gate.record(ada, laptop, true, Instant::now());
        assert_eq!(gate.known(ada, laptop), Some(true), "one that started after it does");
    }
}
