//! Sessions' positions shared between nodes over core NATS (publish/subscribe, nothing stored).
//!
//! Every node subscribes to the deployment's [`Subjects::session_positions`] and remembers every position it hears. A message is
//! `<node>:<ticket> [<session> <transaction>-<position>]`: the sending node, a number it uses
//! once, and the session's position (absent in the fence a node sends itself on start).
//!
//! **Why the sender waits for its own message.** NATS hands a message to all its subscribers,
//! the sender included (echo is on), as it processes it. So once the sender hears its own
//! message back, the server has processed it and queued it for every other node, and only then
//! does the command answer. A plain flush would only promise that the message left this process.
//! What remains is the server's writing to each node's connection and that node reading it:
//! microseconds apart normally, more when a busy machine deschedules the NATS server between
//! two writes. A client whose next request reaches another node sooner than that is the one case
//! where the read does not wait.
//!
//! The wait is bounded ([`ECHO_TIMEOUT`]) and skipped while NATS is disconnected: a broker
//! outage delays no command; it leaves other nodes unaware of the positions published meanwhile
//! (core NATS stores nothing), and their reads of those sessions then do not wait.

use super::sessions::Memory;
use loopync_projections::Subjects;
use loopync_schemas::Position;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// Longest a command waits for its position to come back from NATS before answering anyway.
const ECHO_TIMEOUT: Duration = Duration::from_millis(50);

/// Tickets sent and not yet heard back, by number.
type Pending = Mutex<HashMap<u64, oneshot::Sender<()>>>;

/// This node's side of the sharing.
pub(super) struct Sharing {
    nats: async_nats::Client,
    /// Where every node publishes and hears sessions' positions.
    subject: String,
    /// Tells this node's messages from the others' (random per process).
    node: u64,
    next_ticket: AtomicU64,
    pending: Arc<Pending>,
    /// Whether the subscription is known to be in place on the server.
    live: watch::Receiver<bool>,
}

/// A message on the positions' subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message {
    node: u64,
    ticket: u64,
    position: Option<(Uuid, Position)>,
}

impl Message {
    fn encode(&self) -> String {
        match self.position {
            Some((session, position)) => format!("{:x}:{} {session} {position}", self.node, self.ticket),
            None => format!("{:x}:{}", self.node, self.ticket),
        }
    }

    fn decode(payload: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut parts = text.split(' ');
        let (node, ticket) = parts.next()?.split_once(':')?;
        let node = u64::from_str_radix(node, 16).ok()?;
        let ticket = ticket.parse().ok()?;
        let position = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some(session), Some(position), None) => {
                Some((Uuid::parse_str(session).ok()?, Position::from_str(position).ok()?))
            }
            _ => return None,
        };
        Some(Self { node, ticket, position })
    }
}

impl Sharing {
    /// Subscribes in the background; once the subscription is in place, [`Sharing::live`]
    /// says so.
    pub(super) fn start(nats: async_nats::Client, subjects: &Subjects, memory: Weak<Memory>) -> Self {
        let node = rand::random::<u64>();
        let pending: Arc<Pending> = Arc::default();
        let (live_sender, live) = watch::channel(false);
        let subject = subjects.session_positions();
        let sharing = Self {
            nats: nats.clone(),
            subject: subject.clone(),
            node,
            next_ticket: AtomicU64::new(0),
            pending,
            live,
        };
        tokio::spawn(listen(nats, subject, node, memory, Arc::downgrade(&sharing.pending), live_sender));
        sharing
    }

    fn ticket(&self) -> (u64, oneshot::Receiver<()>) {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(ticket, sender);
        (ticket, receiver)
    }

    /// Publishes `session`'s `position` and waits (bounded) until NATS relayed it.
    pub(super) async fn publish(&self, session: Uuid, position: Position) {
        let (ticket, echoed) = self.ticket();
        let message = Message { node: self.node, ticket, position: Some((session, position)) };
        if let Err(error) = self.nats.publish(self.subject.clone(), message.encode().into()).await {
            tracing::debug!(%error, "session position not shared");
        } else if self.nats.connection_state() == async_nats::connection::State::Connected
            && tokio::time::timeout(ECHO_TIMEOUT, echoed).await.is_err()
        {
            tracing::debug!(%session, %position, "session position not relayed in time");
        }
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&ticket);
    }

    /// Waits (at most `within`) until the subscription is in place.
    pub(super) async fn live(&self, within: Duration) -> bool {
        let mut live = self.live.clone();
        matches!(tokio::time::timeout(within, live.wait_for(|live| *live)).await, Ok(Ok(_)))
    }
}

/// Hears every node's positions until this node's memory is gone. Subscribes, then sends a
/// fence to itself: when it comes back, the subscription is in place on the server.
async fn listen(
    nats: async_nats::Client,
    subject: String,
    node: u64,
    memory: Weak<Memory>,
    pending: Weak<Pending>,
    live: watch::Sender<bool>,
) {
    use futures::StreamExt;
    let mut subscriber = match nats.subscribe(subject.clone()).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, "sessions' positions are not shared: the subscription failed");
            return;
        }
    };
    // Ticket numbers of this node count up from 0 for commands; the fence uses the last one.
    let fence = Message { node, ticket: u64::MAX, position: None };
    if let Err(error) = nats.publish(subject, fence.encode().into()).await {
        tracing::warn!(%error, "sessions' positions: the start fence was not sent");
    }
    while let Some(delivered) = subscriber.next().await {
        let Some(message) = Message::decode(&delivered.payload) else {
            tracing::debug!(subject = %delivered.subject, "not a session position; ignored");
            continue;
        };
        if let Some((session, position)) = message.position {
            let Some(memory) = memory.upgrade() else { return };
            memory.note(session, position);
        }
        if message.node == node {
            if message.ticket == u64::MAX {
                live.send_replace(true);
            } else if let Some(pending) = pending.upgrade() {
                let echoed = pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&message.ticket);
                if let Some(echoed) = echoed {
                    let _ = echoed.send(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_written_and_garbage_is_refused() {
        let session = Uuid::now_v7();
        for message in [
            Message { node: 0xdead_beef, ticket: 7, position: Some((session, Position::new(12, 34))) },
            Message { node: u64::MAX, ticket: u64::MAX, position: None },
        ] {
            assert_eq!(Message::decode(message.encode().as_bytes()), Some(message));
        }
        for garbage in ["", "x", "1", "1:x", "1:2 not-a-uuid 3-4", &format!("1:2 {session}"), "1:2 a b c"] {
            assert_eq!(Message::decode(garbage.as_bytes()), None, "{garbage:?}");
        }
    }
}
