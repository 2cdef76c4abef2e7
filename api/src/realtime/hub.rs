//! A node's share of the gateway: who is connected here, and what NATS brings them.
//!
//! The hub subscribes to `live.user.<id>.*` while at least one device of that user is
//! connected to this node, and to `presence.user.<id>` while at least one device here watches
//! that user: a node receives only what its own connections need, whatever the number of nodes.
//!
//! Durable frames are delivered through each [`Device`]'s [`Delivery`] state, which makes them
//! loss-free and duplicate-free: a device is either *catching up* (its connection is reading
//! stored updates; live ones wait in `pending`) or *live* after cursor `last`, taking the next
//! number only. A number past the next is a gap (a lost NATS message, or two projections
//! publishing out of order): the device goes back to catching up from the store, where every
//! number up to the one just seen is already committed. A broker reconnect does the same for
//! every device, since a message lost at the very end shows no gap until the next one.
//!
//! Presence is shared only by users who allow it, and privacy can change while someone
//! watches: each presence change is checked against the watched user's privacy before it is
//! relayed, and a watcher who may no longer see it gets `presence_forbidden` instead and stops
//! watching. One read per change per node, and presence changes are coalesced.
//!
//! Ephemeral frames (typing, signals, presence changes) go to each device's [`LossyQueue`],
//! never through the durable path: a flood of them drops frames, it never closes the socket.
//!
//! **Caps**, per node like the HTTP rate limits (behind N nodes a user or an address gets up
//! to N times as much; what they protect, a node's memory and its sockets, is per node too):
//! - sockets per client address, counted from the upgrade on, so even connections that never
//!   authenticate count ([`Hub::admit`]); an IPv6 client counts by its /64, as the rate limits
//!   count it;
//! - sockets per user: a connection over the cap is refused (4006), the ones already open are
//!   left alone. Closing the oldest instead would let whoever holds a user's token, or a client
//!   stuck in a reconnect loop, take the user's other devices offline one by one; refusing the
//!   newcomer costs a device whose old socket died unnoticed at most the idle timeout;
//! - `typing` and `signal` frames per (sender, target), across the sender's connections
//!   ([`Hub::within_target_limit`]), on top of each connection's own frame rate: twenty
//!   connections of one user cannot add up to a flood at one person.

use super::RealtimeConfig;
use super::audience::may_see;
use super::frames::{Signal, Typing};
use super::lossy::LossyQueue;
use super::presence::Presence;
use super::protocol::{self, FrameError, close, codes};
use futures::StreamExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use loopync_domain::social::Relation;
use loopync_projections::Subjects;
use loopync_projections::identity::{SessionRevoked, profiles};
use loopync_projections::live::{self, LiveFrame};
use loopync_projections::social::graph;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the writer task of a connection sends.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Close(u16, &'static str),
}

/// A durable frame on its way to a device.
#[derive(Debug, Clone)]
pub(crate) struct Durable {
    pub frame: String,
    /// For a [`SessionRevoked`] frame: the session whose sockets it closes.
    pub ends_session: Option<Uuid>,
}

impl Durable {
    /// A frame as NATS brought it. Only a [`SessionRevoked`] frame's `data` is read.
    fn from_wire(frame: String) -> Self {
        let ends_session = ended_session(live::decode::<SessionRevoked>(&frame));
        Self { frame, ends_session }
    }

    /// A frame read back from the store.
    pub(crate) fn stored(update: &live::StoredUpdate) -> Self {
        Self { frame: update.frame(), ends_session: ended_session(update.decode::<SessionRevoked>()) }
    }
}

/// The session a durable frame ends, if it is a [`SessionRevoked`]. One that cannot be read
/// ends none: the session's own sockets then close when their token expires.
fn ended_session(revoked: Result<Option<SessionRevoked>, serde_json::Error>) -> Option<Uuid> {
    match revoked {
        Ok(revoked) => revoked.map(|revoked| revoked.session_id),
        Err(error) => {
            tracing::warn!(%error, "durable frame not readable; it ends no session");
            None
        }
    }
}

/// Where a device stands in its user's durable updates.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The connection is reading stored updates after `after`; live ones wait here.
    CatchingUp { after: i64, pending: BTreeMap<i64, Durable> },
    /// Everything up to `last` has been queued for the client.
    Live { last: i64 },
}

/// One connected client (a device of a user).
pub(crate) struct Device {
    pub id: u64,
    pub user_id: Uuid,
    /// The signed-in session (device) the connection's token belongs to.
    pub session_id: Uuid,
    outbound: mpsc::Sender<Outbound>,
    /// Ephemeral frames from others: dropped, never a reason to close (see [`LossyQueue`]).
    ephemeral: Arc<LossyQueue>,
    delivery: Mutex<Delivery>,
    /// Wakes the connection to catch up from the store.
    pub catch_up: Notify,
    /// Cancelled when the connection must end; `close_code` says why. Shared with the writer.
    pub closing: CancellationToken,
    close_code: Arc<AtomicU16>,
    /// Users this device watches the presence of.
    pub watching: Mutex<HashSet<Uuid>>,
    queue_bound: usize,
    stall_limit: Duration,
}

impl Device {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        user_id: Uuid,
        session_id: Uuid,
        outbound: mpsc::Sender<Outbound>,
        ephemeral: Arc<LossyQueue>,
        queue_bound: usize,
        stall_limit: Duration,
        closing: CancellationToken,
        close_code: Arc<AtomicU16>,
    ) -> Self {
        Self {
            id,
            user_id,
            session_id,
            outbound,
            ephemeral,
            delivery: Mutex::new(Delivery::CatchingUp { after: 0, pending: BTreeMap::new() }),
            catch_up: Notify::new(),
            closing,
            close_code,
            watching: Mutex::new(HashSet::new()),
            queue_bound,
            stall_limit,
        }
    }

    /// Ends the connection with `code` (the first reason given wins).
    pub(crate) fn close(&self, code: u16) {
        if !self.closing.is_cancelled() {
            self.close_code.store(code, Ordering::Relaxed);
            self.closing.cancel();
        }
    }

    /// Queues a frame without waiting; a full queue means the client reads too slowly.
    pub(crate) fn push(&self, frame: String) -> bool {
        match self.outbound.try_send(Outbound::Text(frame)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("loopync_ws_slow_consumers_total").increment(1);
                self.close(close::SLOW_CONSUMER);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues an ephemeral frame another user caused (typing, a signal, a presence change) on
    /// the lossy path: when the client reads too slowly, older ones are dropped instead.
    pub(crate) fn push_ephemeral(&self, frame: String) {
        if !self.closing.is_cancelled() {
            self.ephemeral.push(frame);
        }
    }

    /// Queues one of the gateway's own frames (no cursor) without waiting, like [`Device::push`].
    pub(crate) fn push_frame<F: LiveFrame>(&self, data: &F) -> bool {
        protocol::ephemeral(data).is_some_and(|frame| self.push(frame))
    }

    /// Queues a stored durable frame, waiting for room like [`Device::send`]; a
    /// `session_revoked` for this device's session then closes it (4003) after the frame.
    /// Returns whether the connection goes on.
    pub(crate) async fn send_durable(&self, durable: Durable) -> bool {
        if !self.send(durable.frame).await {
            return false;
        }
        if durable.ends_session == Some(self.session_id) {
            self.close_after_queue(close::SESSION_REVOKED, "session_revoked");
            return false;
        }
        true
    }

    /// Queues a frame, waiting for room (catch-up: the client's reading paces it) unless the
    /// connection is closing. A queue that stays full for the stall limit is a client that
    /// stopped reading: closed with 4005.
    pub(crate) async fn send(&self, frame: String) -> bool {
        tokio::select! {
            sent = tokio::time::timeout(self.stall_limit, self.outbound.send(Outbound::Text(frame))) => match sent {
                Ok(sent) => sent.is_ok(),
                Err(_) => {
                    metrics::counter!("loopync_ws_slow_consumers_total").increment(1);
                    self.close(close::SLOW_CONSUMER);
                    false
                }
            },
            () = self.closing.cancelled() => false,
        }
    }

    /// Queues a durable frame; a `session_revoked` for this device's session then closes it
    /// (4003) once the frames before the close have been written.
    pub(crate) fn push_durable(&self, durable: Durable) -> bool {
        if !self.push(durable.frame) {
            return false;
        }
        if durable.ends_session == Some(self.session_id) {
            self.close_after_queue(close::SESSION_REVOKED, "session_revoked");
        }
        true
    }

    /// Ends the connection with `code` after the frames already queued have been written.
    pub(crate) fn close_after_queue(&self, code: u16, reason: &'static str) {
        if self.outbound.try_send(Outbound::Close(code, reason)).is_err() {
            self.close(code);
        }
    }

    /// A durable update from NATS.
    fn deliver_durable(&self, seq: i64, durable: Durable) {
        let mut delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *delivery {
            Delivery::CatchingUp { after, pending } => {
                if seq > *after {
                    if pending.len() >= self.queue_bound {
                        drop(delivery);
                        self.close(close::SLOW_CONSUMER);
                        return;
                    }
                    pending.insert(seq, durable);
                }
            }
            Delivery::Live { last } => {
                if seq <= *last {
                    // Already delivered (from the store, or published twice).
                } else if seq == *last + 1 {
                    if self.push_durable(durable) {
                        *last = seq;
                    }
                } else {
                    let after = *last;
                    *delivery = Delivery::CatchingUp { after, pending: BTreeMap::from([(seq, durable)]) };
                    drop(delivery);
                    metrics::counter!("loopync_ws_gaps_total").increment(1);
                    self.catch_up.notify_one();
                }
            }
        }
    }

    /// Makes the device catch up from the store after what it has (a broker reconnect).
    fn resync(&self) {
        let mut delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
        if let Delivery::Live { last } = *delivery {
            *delivery = Delivery::CatchingUp { after: last, pending: BTreeMap::new() };
        }
        drop(delivery);
        self.catch_up.notify_one();
    }

    /// Sets where catching up starts (before the first catch-up of a connection).
    pub(crate) fn start_after(&self, cursor: i64) {
        let mut delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
        if let Delivery::CatchingUp { after, pending } = &mut *delivery {
            *after = cursor;
            pending.retain(|seq, _| *seq > cursor);
        }
    }

    /// Where catching up must continue from, or `None` when the device is live.
    pub(crate) fn catching_up_after(&self) -> Option<i64> {
        match &*self.delivery.lock().unwrap_or_else(PoisonError::into_inner) {
            Delivery::CatchingUp { after, .. } => Some(*after),
            Delivery::Live { .. } => None,
        }
    }

    /// After the store has been read up to `last`: queues the pending live updates that follow
    /// it and goes live. Returns `false` when the pending ones do not follow on (more was
    /// committed meanwhile): the caller reads the store again from the returned state.
    pub(crate) fn finish_catch_up(&self, mut last: i64) -> bool {
        let mut delivery = self.delivery.lock().unwrap_or_else(PoisonError::into_inner);
        let Delivery::CatchingUp { pending, .. } = &mut *delivery else { return true };
        let mut rest = std::mem::take(pending).split_off(&(last + 1));
        while let Some(entry) = rest.first_entry() {
            if *entry.key() != last + 1 {
                break;
            }
            let (seq, durable) = entry.remove_entry();
            if !self.push_durable(durable) {
                return true;
            }
            last = seq;
        }
        if rest.is_empty() {
            *delivery = Delivery::Live { last };
            true
        } else {
            *delivery = Delivery::CatchingUp { after: last, pending: rest };
            false
        }
    }
}

/// The devices of one user on this node, and the subscription that feeds them.
struct Route {
    devices: RwLock<Vec<Arc<Device>>>,
    /// Becomes `true` once the NATS subscription is in place (the server has it).
    subscribed: watch::Receiver<bool>,
    task: Mutex<Option<AbortHandle>>,
}

impl Route {
    fn snapshot(&self) -> Vec<Arc<Device>> {
        self.devices.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The connections of this node.
pub struct Hub {
    pub(crate) nats: async_nats::Client,
    /// The deployment's subjects (`LOOPYNC_NATS_PREFIX`).
    pub(crate) subjects: Subjects,
    pub(crate) pool: PgPool,
    pub(crate) config: RealtimeConfig,
    pub(crate) presence: Presence,
    node_id: Uuid,
    users: Mutex<HashMap<Uuid, Arc<Route>>>,
    watched: Mutex<HashMap<Uuid, Arc<Route>>>,
    next_connection: AtomicU64,
    /// Open sockets per client address key ([`Hub::admit`]).
    addresses: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// `typing` and `signal` frames per (sender, target); `None`: no limit.
    typing_limits: Option<DefaultKeyedRateLimiter<(Uuid, Uuid)>>,
    signal_limits: Option<DefaultKeyedRateLimiter<(Uuid, Uuid)>>,
    /// Checks of the per-target limits, to drop idle keys now and then.
    target_checks: AtomicU64,
    /// Bounds concurrent catch-up reads (a broker reconnect wakes every device at once).
    pub(crate) store_reads: Semaphore,
    /// Cancelled when the node shuts down: connections close with 1001.
    pub(crate) shutdown: CancellationToken,
}

/// The hub could not start.
#[derive(Debug, thiserror::Error)]
#[error("the realtime gateway could not start: {0}")]
pub struct HubError(pub String);

impl Hub {
    /// Starts the hub: presence buckets, node heartbeat, broker watch.
    pub async fn start(
        nats: async_nats::Client,
        subjects: &Subjects,
        pool: PgPool,
        config: RealtimeConfig,
    ) -> Result<Arc<Self>, HubError> {
        let node_id = Uuid::now_v7();
        let presence = Presence::start(nats.clone(), subjects, node_id, &config).await?;
        let typing_limits = per_target_limiter(config.typing_per_target);
        let signal_limits = per_target_limiter(config.signals_per_target);
        let hub = Arc::new(Self {
            nats,
            subjects: subjects.clone(),
            pool,
            config,
            presence,
            node_id,
            users: Mutex::new(HashMap::new()),
            watched: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            addresses: Arc::new(Mutex::new(HashMap::new())),
            typing_limits,
            signal_limits,
            target_checks: AtomicU64::new(0),
            store_reads: Semaphore::new(4),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(watch_broker(Arc::downgrade(&hub)));
        Ok(hub)
    }

    /// This node's id (in presence records and logs).
    pub fn node_id(&self) -> Uuid {
        self.node_id
    }

    /// Devices connected to this node.
    pub fn connections(&self) -> usize {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users.values().map(|route| route.devices.read().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Closes every connection with 1001 and marks this node's users offline.
    pub async fn shut_down(&self) {
        self.stop();
        self.presence.shut_down().await;
    }

    /// Closes every connection with 1001 ("reconnect and resume"), without waiting.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    pub(crate) fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a device unless its user already has [`RealtimeConfig::sockets_per_user`] here
    /// (then `false`, and nothing changed); returns once its user's subscription is in place,
    /// so that whatever the projections publish from now on reaches it.
    pub(crate) async fn attach(self: &Arc<Self>, device: Arc<Device>) -> bool {
        let subject = self.subjects.live_all(device.user_id);
        let cap = Some(self.config.sockets_per_user).filter(|cap| *cap > 0);
        let Some(route) = self.join(&self.users, device.user_id, subject, device.clone(), Kind::Own, cap)
        else {
            metrics::counter!("loopync_ws_sockets_refused_total", "cap" => "user").increment(1);
            return false;
        };
        self.presence.connected(device.user_id);
        metrics::gauge!("loopync_ws_connections").increment(1.0);
        wait_subscribed(route).await;
        true
    }

    /// Takes a socket slot of `address` (the client's, as `crate::client_address` resolved
    /// it), or `None` when it already has [`RealtimeConfig::sockets_per_ip`] sockets here. The
    /// slot is given back when dropped, however the socket ends (or if the upgrade fails).
    pub(crate) fn admit(&self, address: Option<IpAddr>) -> Option<SocketSlot> {
        let cap = self.config.sockets_per_ip;
        let Some(key) = address.map(crate::rate_limit::budget_key).filter(|_| cap > 0) else {
            return Some(SocketSlot { addresses: self.addresses.clone(), key: None });
        };
        let mut addresses = self.addresses.lock().unwrap_or_else(PoisonError::into_inner);
        let open = addresses.entry(key).or_insert(0);
        if *open >= cap {
            drop(addresses);
            metrics::counter!("loopync_ws_sockets_refused_total", "cap" => "address").increment(1);
            return None;
        }
        *open += 1;
        Some(SocketSlot { addresses: self.addresses.clone(), key: Some(key) })
    }

    /// Whether `sender` may send one more `kind` frame (`typing` or `signal`) to `target`
    /// now, across all of the sender's connections to this node.
    pub(crate) fn within_target_limit(&self, kind: &str, sender: Uuid, target: Uuid) -> bool {
        let limiter = match kind {
            Typing::KIND => &self.typing_limits,
            Signal::KIND => &self.signal_limits,
            _ => &None,
        };
        let Some(limiter) = limiter else { return true };
        // Pairs idle long enough to be full again are dropped, so the map holds only
        // conversations under way.
        if self.target_checks.fetch_add(1, Ordering::Relaxed) % TARGET_RETAIN_EVERY == TARGET_RETAIN_EVERY - 1
        {
            limiter.retain_recent();
        }
        limiter.check_key(&(sender, target)).is_ok()
    }

    /// Removes a device and what it watched.
    pub(crate) fn detach(&self, device: &Arc<Device>) {
        leave(&self.users, device.user_id, device);
        let watching: Vec<Uuid> =
            device.watching.lock().unwrap_or_else(PoisonError::into_inner).drain().collect();
        for user_id in watching {
            leave(&self.watched, user_id, device);
        }
        self.presence.disconnected(device.user_id);
        metrics::gauge!("loopync_ws_connections").decrement(1.0);
    }

    /// Starts relaying `user_id`'s presence changes to `device`.
    pub(crate) async fn watch(self: &Arc<Self>, device: &Arc<Device>, user_id: Uuid) {
        let fresh = device.watching.lock().unwrap_or_else(PoisonError::into_inner).insert(user_id);
        if fresh {
            let subject = self.subjects.presence(user_id);
            let route =
                self.join(&self.watched, user_id, subject, device.clone(), Kind::Watched(user_id), None);
            if let Some(route) = route {
                wait_subscribed(route).await;
            }
        }
    }

    pub(crate) fn unwatch(&self, device: &Arc<Device>, user_id: Uuid) {
        if device.watching.lock().unwrap_or_else(PoisonError::into_inner).remove(&user_id) {
            leave(&self.watched, user_id, device);
        }
    }

    fn join(
        self: &Arc<Self>,
        routes: &Mutex<HashMap<Uuid, Arc<Route>>>,
        user_id: Uuid,
        subject: String,
        device: Arc<Device>,
        kind: Kind,
        cap: Option<usize>,
    ) -> Option<Arc<Route>> {
        // Counted and added under the routes' lock: racing connections cannot both take the
        // last place.
        let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = routes.get(&user_id) {
            let mut devices = route.devices.write().unwrap_or_else(PoisonError::into_inner);
            if cap.is_some_and(|cap| devices.len() >= cap) {
                return None;
            }
            devices.push(device);
            drop(devices);
            return Some(route.clone());
        }
        let (ready, subscribed) = watch::channel(false);
        let route =
            Arc::new(Route { devices: RwLock::new(vec![device]), subscribed, task: Mutex::new(None) });
        let task = tokio::spawn(relay(Arc::downgrade(self), subject, Arc::downgrade(&route), ready, kind));
        *route.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        routes.insert(user_id, route.clone());
        Some(route)
    }

    /// Relays a presence change of `user_id` to the watchers who may still see it. The others
    /// (the user turned private, unfriended or blocked them since they subscribed) are told
    /// and stop watching.
    async fn relay_presence(&self, user_id: Uuid, frame: &str, watchers: Vec<Arc<Device>>) {
        let privacy = match profiles::privacy(&self.pool, user_id).await {
            Ok(privacy) => privacy,
            Err(error) => {
                // Unknown privacy shares nothing; presence is ephemeral, the next change retries.
                tracing::warn!(%error, %user_id, "presence change not relayed: privacy unreadable");
                return;
            }
        };
        let viewers: Vec<Uuid> = watchers.iter().map(|device| device.user_id).collect();
        // What each watcher is to the user: asked from the user's side, one query, mirrored.
        let relations = match graph::relations(&self.pool, user_id, &viewers).await {
            Ok(relations) => relations,
            Err(error) => {
                tracing::warn!(%error, %user_id, "presence change not relayed: relationships unreadable");
                return;
            }
        };
        for device in watchers {
            let relation = relations.get(&device.user_id).map(Relation::mirrored).unwrap_or_default();
            if may_see(&relation, privacy.as_deref()) {
                device.push_ephemeral(frame.to_owned());
            } else {
                self.unwatch(&device, user_id);
                let refusal = FrameError::new(
                    codes::PRESENCE_FORBIDDEN,
                    "this user no longer shares their presence with you",
                    Some("presence_subscribe"),
                );
                device.push_frame(&refusal.naming(vec![user_id]).frame());
            }
        }
    }

    /// Every device catches up from the store (after a broker reconnect).
    fn resync_all(&self) {
        let routes: Vec<Arc<Route>> =
            self.users.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        for route in routes {
            for device in route.snapshot() {
                device.resync();
            }
        }
    }
}

/// How often (in checks) idle (sender, target) pairs are dropped from the limiters.
const TARGET_RETAIN_EVERY: u64 = 4096;

/// A per-(sender, target) limiter of `per_second` frames (twice as many in a burst), or `None`
/// for 0 (no limit).
fn per_target_limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<(Uuid, Uuid)>> {
    let per_second = NonZeroU32::new(per_second)?;
    let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
    Some(RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)))
}

/// A socket's place in its client address's count ([`Hub::admit`]).
pub(crate) struct SocketSlot {
    addresses: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// `None`: not counted (no cap, or no address known).
    key: Option<IpAddr>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut addresses = self.addresses.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = addresses.get_mut(&key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                addresses.remove(&key);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `live.user.<id>.*`: the user's own durable and ephemeral frames.
    Own,
    /// `presence.user.<id>`: presence changes of the watched user.
    Watched(Uuid),
}

fn leave(routes: &Mutex<HashMap<Uuid, Arc<Route>>>, user_id: Uuid, device: &Arc<Device>) {
    let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(route) = routes.get(&user_id) else { return };
    let mut devices = route.devices.write().unwrap_or_else(PoisonError::into_inner);
    devices.retain(|d| !Arc::ptr_eq(d, device));
    if devices.is_empty() {
        drop(devices);
        if let Some(route) = routes.remove(&user_id)
            && let Some(task) = route.task.lock().unwrap_or_else(PoisonError::into_inner).take()
        {
            // Dropping the subscriber unsubscribes.
            task.abort();
        }
    }
}

async fn wait_subscribed(route: Arc<Route>) {
    let mut subscribed = route.subscribed.clone();
    drop(route);
    // A broker outage must not hold the connection: it catches up when the broker returns.
    let _ = tokio::time::timeout(Duration::from_secs(2), subscribed.wait_for(|ready| *ready)).await;
}

/// Subscribes to `subject` and hands each message to the route's devices until aborted.
async fn relay(
    hub: std::sync::Weak<Hub>,
    subject: String,
    route: std::sync::Weak<Route>,
    ready: watch::Sender<bool>,
    kind: Kind,
) {
    let Some(nats) = hub.upgrade().map(|hub| hub.nats.clone()) else { return };
    let mut subscriber = match nats.subscribe(subject.clone()).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, %subject, "live subscription failed");
            return;
        }
    };
    // The round trip makes sure the server has the subscription before anyone reads the store.
    let _ = tokio::time::timeout(Duration::from_secs(2), nats.flush()).await;
    ready.send_replace(true);
    while let Some(message) = subscriber.next().await {
        let Some(route) = route.upgrade() else { return };
        let Ok(frame) = String::from_utf8(message.payload.to_vec()) else { continue };
        let cursor = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(live::CURSOR_HEADER))
            .and_then(|value| value.as_str().parse::<i64>().ok());
        let devices = route.snapshot();
        match (kind, cursor) {
            (Kind::Own, Some(seq)) => {
                let durable = Durable::from_wire(frame);
                for device in devices {
                    device.deliver_durable(seq, durable.clone());
                }
            }
            (Kind::Watched(user_id), _) => {
                let Some(hub) = hub.upgrade() else { return };
                hub.relay_presence(user_id, &frame, devices).await;
            }
            (Kind::Own, None) => {
                for device in devices {
                    device.push_ephemeral(frame.clone());
                }
            }
        }
    }
}

/// Watches the broker connection: after a reconnect, every device catches up from the store
/// (messages published while the node was cut off are there).
async fn watch_broker(hub: std::sync::Weak<Hub>) {
    let mut was_connected = true;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(hub) = hub.upgrade() else { return };
        if hub.shutdown.is_cancelled() {
            return;
        }
        let now = matches!(hub.nats.connection_state(), async_nats::connection::State::Connected);
        if now && !was_connected {
            tracing::info!("NATS is back: connections catch up from the store");
            metrics::counter!("loopync_ws_broker_reconnects_total").increment(1);
            hub.resync_all();
        }
        was_connected = now;
    }
}
