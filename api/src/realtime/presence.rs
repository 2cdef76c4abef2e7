//! Presence: who is online, on any node, and when they were last seen. Core NATS only, never
//! events, nothing stored.
//!
//! Each node knows its own devices per user, and when each user's last device left it. Nothing
//! shared is written: a node that wants to know about a user asks the others.
//!
//! - **Peers.** Every node announces itself on `loopync.presence.nodes` every few seconds, and
//!   answers a newcomer's first announcement at once. A peer silent for three periods is gone,
//!   and its users with it.
//! - **Asking.** A status request goes out on `loopync.presence.query` with a reply inbox; every
//!   live peer answers with what it knows (`online`, `lastSeen`), and the answers are merged
//!   (online anywhere; the latest last seen). The wait ends when every live peer has answered,
//!   or after a short timeout: a single node asks nobody.
//! - **Changes.** Only a user's first device connecting to a node and their last one leaving
//!   change anything, and leaving waits a grace period first, so a flapping connection (a phone
//!   between cells, a page reload) changes nothing at all. When the user as a whole goes online
//!   or offline (no other node has them), `user_online` / `user_offline` is broadcast on
//!   `presence.user.<id>`, to the nodes whose connections watch that user.

use super::RealtimeConfig;
use super::frames::{PresenceSnapshot, PresenceStatus, UserOffline, UserOnline};
use super::hub::HubError;
use super::protocol;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use loopync_projections::Subjects;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use uuid::Uuid;

/// How long a status request waits for peers that do not answer.
const QUERY_TIMEOUT: Duration = Duration::from_millis(250);
/// Users whose last seen a node remembers, at most (the oldest are forgotten first).
const LAST_SEEN_KEPT: usize = 100_000;

/// What others see of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub online: bool,
    /// When the user's last device left; `None` while online or never seen here.
    pub last_seen: Option<DateTime<Utc>>,
}

impl Status {
    /// The `presence` frame of `user_id` with this status.
    pub fn snapshot(&self, user_id: Uuid) -> PresenceSnapshot {
        let status = if self.online { PresenceStatus::Online } else { PresenceStatus::Offline };
        PresenceSnapshot { user_id, status, last_seen: self.last_seen }
    }

    /// Two nodes' views of one user, merged.
    fn merge(self, other: Self) -> Self {
        let online = self.online || other.online;
        Self { online, last_seen: if online { None } else { self.last_seen.max(other.last_seen) } }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Announcement {
    node_id: Uuid,
    /// Set on a node's first announcement: peers answer with theirs at once.
    #[serde(default)]
    hello: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query {
    node_id: Uuid,
    user_id: Uuid,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    node_id: Uuid,
    status: Status,
}

enum Change {
    Online(Uuid),
    Offline(Uuid),
}

#[derive(Default)]
struct Local {
    devices: usize,
    pending_offline: Option<AbortHandle>,
}

/// This node's side of presence.
pub struct Presence {
    shared: Arc<Shared>,
    changes: mpsc::UnboundedSender<Change>,
    grace: Duration,
    tasks: Vec<AbortHandle>,
}

struct Shared {
    nats: async_nats::Client,
    subjects: Subjects,
    node_id: Uuid,
    period: Duration,
    local: Mutex<HashMap<Uuid, Local>>,
    last_seen: Mutex<HashMap<Uuid, DateTime<Utc>>>,
    /// Live peers and when each last announced itself.
    peers: Mutex<HashMap<Uuid, Instant>>,
}

impl Presence {
    pub(crate) async fn start(
        nats: async_nats::Client,
        subjects: &Subjects,
        node_id: Uuid,
        config: &RealtimeConfig,
    ) -> Result<Self, HubError> {
        let shared = Arc::new(Shared {
            nats: nats.clone(),
            subjects: subjects.clone(),
            node_id,
            period: (config.presence_node_ttl / 3).max(Duration::from_millis(100)),
            local: Mutex::new(HashMap::new()),
            last_seen: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
        });
        let announcements =
            nats.subscribe(subjects.presence_nodes()).await.map_err(|e| HubError(e.to_string()))?;
        let queries = nats.subscribe(subjects.presence_query()).await.map_err(|e| HubError(e.to_string()))?;
        // Confirmed by the server, or the gateway is not up: a node whose NATS is not there
        // yet retries (see `gateway`) rather than count as started.
        match tokio::time::timeout(Duration::from_secs(2), nats.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                return Err(HubError(format!("NATS did not confirm the subscriptions: {error}")));
            }
            Err(_) => return Err(HubError("NATS did not confirm the subscriptions in 2 s".to_owned())),
        }
        let (changes, inbox) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(listen_to_peers(shared.clone(), announcements)).abort_handle(),
            tokio::spawn(answer_queries(shared.clone(), queries)).abort_handle(),
            tokio::spawn(announce(shared.clone())).abort_handle(),
            tokio::spawn(apply_changes(shared.clone(), inbox)).abort_handle(),
        ];
        Ok(Self { shared, changes, grace: config.presence_grace, tasks })
    }

    /// A device of `user_id` connected to this node.
    pub(crate) fn connected(&self, user_id: Uuid) {
        let mut local = self.shared.local.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = local.entry(user_id).or_default();
        entry.devices += 1;
        if entry.devices == 1 {
            match entry.pending_offline.take() {
                // Back within the grace period: nobody was told it left.
                Some(pending) => pending.abort(),
                None => {
                    let _ = self.changes.send(Change::Online(user_id));
                }
            }
        }
    }

    /// A device of `user_id` left this node.
    pub(crate) fn disconnected(&self, user_id: Uuid) {
        let mut local = self.shared.local.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = local.get_mut(&user_id) else { return };
        entry.devices = entry.devices.saturating_sub(1);
        if entry.devices > 0 {
            return;
        }
        let shared = self.shared.clone();
        let changes = self.changes.clone();
        let grace = self.grace;
        // Last seen is when the last device left, not when the grace period ran out.
        let left_at = Utc::now();
        let pending = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut local = shared.local.lock().unwrap_or_else(PoisonError::into_inner);
            // A device that came back meanwhile finds this task already running: it does not
            // announce itself, so this one must not announce the departure either.
            if local.get(&user_id).is_some_and(|entry| entry.devices == 0) {
                local.remove(&user_id);
                drop(local);
                shared.remember(user_id, left_at);
                let _ = changes.send(Change::Offline(user_id));
            }
        });
        entry.pending_offline = Some(pending.abort_handle());
    }

    /// Marks this node's users offline now (the node is shutting down).
    pub(crate) async fn shut_down(&self) {
        let users: Vec<Uuid> = {
            let mut local = self.shared.local.lock().unwrap_or_else(PoisonError::into_inner);
            local.drain().map(|(user_id, _)| user_id).collect()
        };
        let now = Utc::now();
        for user_id in users {
            self.shared.remember(user_id, now);
            self.shared.went(user_id, false).await;
        }
        for task in &self.tasks {
            task.abort();
        }
    }

    /// A user's presence as every node sees it.
    pub async fn status(&self, user_id: Uuid) -> Status {
        self.shared.status(user_id).await
    }

    /// Peers this node currently hears from.
    pub fn peers(&self) -> usize {
        self.shared.live_peers().len()
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Shared {
    fn here(&self, user_id: Uuid) -> Status {
        let online = self.local.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&user_id);
        let last_seen = self.last_seen.lock().unwrap_or_else(PoisonError::into_inner).get(&user_id).copied();
        Status { online, last_seen: if online { None } else { last_seen } }
    }

    fn remember(&self, user_id: Uuid, at: DateTime<Utc>) {
        let mut last_seen = self.last_seen.lock().unwrap_or_else(PoisonError::into_inner);
        if last_seen.len() >= LAST_SEEN_KEPT
            && let Some(oldest) = last_seen.iter().min_by_key(|(_, at)| **at).map(|(id, _)| *id)
        {
            last_seen.remove(&oldest);
        }
        last_seen.insert(user_id, at);
    }

    fn live_peers(&self) -> Vec<Uuid> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let horizon = self.period * 3;
        peers.retain(|_, seen| seen.elapsed() < horizon);
        peers.keys().copied().collect()
    }

    /// What the other live nodes know of `user_id`, merged.
    async fn elsewhere(&self, user_id: Uuid) -> Status {
        let expected = self.live_peers().len();
        if expected == 0 {
            return Status::default();
        }
        let inbox = self.nats.new_inbox();
        let Ok(mut answers) = self.nats.subscribe(inbox.clone()).await else { return Status::default() };
        let query = serde_json::to_vec(&Query { node_id: self.node_id, user_id }).unwrap_or_default();
        if self.nats.publish_with_reply(self.subjects.presence_query(), inbox, query.into()).await.is_err() {
            return Status::default();
        }
        let mut merged = Status::default();
        let mut heard = 0;
        let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
        while heard < expected {
            let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await else { break };
            if let Ok(answer) = serde_json::from_slice::<Answer>(&message.payload)
                && answer.node_id != self.node_id
            {
                merged = merged.merge(answer.status);
                heard += 1;
            }
        }
        merged
    }

    async fn status(&self, user_id: Uuid) -> Status {
        let here = self.here(user_id);
        if here.online {
            return here;
        }
        here.merge(self.elsewhere(user_id).await)
    }

    /// Broadcasts that `user_id` went online (or offline) here, unless another node has them.
    async fn went(&self, user_id: Uuid, online: bool) {
        if self.elsewhere(user_id).await.online {
            return;
        }
        let frame = if online {
            protocol::ephemeral(&UserOnline { user_id })
        } else {
            let last_seen = self.here(user_id).last_seen.unwrap_or_else(Utc::now);
            protocol::ephemeral(&UserOffline { user_id, last_seen })
        };
        let Some(frame) = frame else { return };
        if let Err(error) = self.nats.publish(self.subjects.presence(user_id), frame.into()).await {
            tracing::debug!(%error, "presence change not broadcast");
        }
    }

    async fn announce(&self, hello: bool) {
        let announcement =
            serde_json::to_vec(&Announcement { node_id: self.node_id, hello }).unwrap_or_default();
        let _ = self.nats.publish(self.subjects.presence_nodes(), announcement.into()).await;
    }
}

/// Applies this node's presence changes one at a time, in the order it saw them.
async fn apply_changes(shared: Arc<Shared>, mut inbox: mpsc::UnboundedReceiver<Change>) {
    while let Some(change) = inbox.recv().await {
        match change {
            Change::Online(user_id) => shared.went(user_id, true).await,
            Change::Offline(user_id) => shared.went(user_id, false).await,
        }
    }
}

async fn announce(shared: Arc<Shared>) {
    shared.announce(true).await;
    loop {
        tokio::time::sleep(shared.period).await;
        shared.announce(false).await;
    }
}

async fn listen_to_peers(shared: Arc<Shared>, mut announcements: async_nats::Subscriber) {
    while let Some(message) = announcements.next().await {
        let Ok(announcement) = serde_json::from_slice::<Announcement>(&message.payload) else { continue };
        if announcement.node_id == shared.node_id {
            continue;
        }
        let new = shared
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(announcement.node_id, Instant::now())
            .is_none();
        if new && announcement.hello {
            // A newcomer: tell it about us now rather than at our next beat.
            shared.announce(false).await;
        }
    }
}

async fn answer_queries(shared: Arc<Shared>, mut queries: async_nats::Subscriber) {
    while let Some(message) = queries.next().await {
        let Ok(query) = serde_json::from_slice::<Query>(&message.payload) else { continue };
        let Some(reply) = message.reply else { continue };
        if query.node_id == shared.node_id {
            continue;
        }
        let answer = Answer { node_id: shared.node_id, status: shared.here(query.user_id) };
        let answer = serde_json::to_vec(&answer).unwrap_or_default();
        let _ = shared.nats.publish(reply, answer.into()).await;
    }
}
