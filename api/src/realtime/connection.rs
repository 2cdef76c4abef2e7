//! One WebSocket connection, from the upgrade to the close.
//!
//! Two tasks per connection: this one reads the client's frames and runs the connection's
//! life (authentication, resume, token expiry, idle timeout); a writer task drains two bounded
//! queues into the socket and pings every heartbeat. Durable frames and the gateway's replies
//! go through the outbound queue: a client that stops reading fills it and is closed with 4005
//! instead of growing the server's memory. Ephemeral frames other users cause go through the
//! lossy queue ([`LossyQueue`]), which drops its oldest instead: somebody else's typing is
//! never a reason to close a socket.
//!
//! `typing` and `signal` frames are checked before they are relayed: the target is someone
//! else, who exists, and the two may see each other ([`audience`](super::audience)); the
//! sender is within its per-target limit ([`Hub::within_target_limit`]).

use super::audience::{self, Reach};
use super::frames::{
    Authenticated, Pong, Ready, RelayedSignal, ResyncReason, ResyncRequired, TokenExpiring, TypingIndicator,
};
use super::hub::{Device, Durable, Hub, Outbound, SocketSlot};
use super::lossy::LossyQueue;
use super::protocol::{self, ClientFrame, FrameError, close, codes};
use crate::identity::TokenError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use loopync_projections::live;
use poem::web::websocket::{Message, WebSocketStream};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Stored updates read per round trip while catching up.
const CATCH_UP_PAGE: i64 = 256;

/// What the upgrade request carried.
#[derive(Debug, Default, Clone)]
pub(crate) struct Opening {
    pub token: Option<String>,
    pub since: Option<String>,
}

/// Runs a connection to its end. `_slot` is the connection's place in its client address's
/// count, given back when it ends.
pub(crate) async fn run(
    socket: WebSocketStream,
    state: AppState,
    hub: Arc<Hub>,
    opening: Opening,
    _slot: SocketSlot,
) {
    let (sink, mut stream) = socket.split();
    let (outbound, queue) = mpsc::channel(hub.config.outbound_queue);
    let ephemeral = Arc::new(LossyQueue::new(hub.config.ephemeral_queue));
    let closing = CancellationToken::new();
    let close_code = Arc::new(AtomicU16::new(close::NORMAL));
    let writer = tokio::spawn(write(
        sink,
        Queues { durable: queue, ephemeral: ephemeral.clone() },
        closing.clone(),
        close_code.clone(),
        hub.config.heartbeat_interval,
    ));

    let Some(auth) = authenticate(&state, &hub, &mut stream, opening).await else {
        // No token in the query and no `auth` frame in time: the writer sends the close and stops.
        let _ = outbound.send(Outbound::Close(close::UNAUTHORIZED, "unauthorized")).await;
        drop(outbound);
        let _ = writer.await;
        return;
    };
    let (claims, since) = match auth {
        Ok(ok) => ok,
        Err(code) => {
            let _ = outbound.send(Outbound::Close(code, reason(code))).await;
            drop(outbound);
            let _ = writer.await;
            return;
        }
    };

    // Fail closed: a session that cannot be checked is not accepted.
    let refusal = match state.identity.session_is_current(claims.sub, claims.sid).await {
        Ok(true) => None,
        Ok(false) => Some(close::SESSION_REVOKED),
        Err(error) => {
            tracing::error!(%error, session_id = %claims.sid, "a session could not be checked; the socket is refused");
            Some(close::SERVER_ERROR)
        }
    };
    if let Some(code) = refusal {
        let _ = outbound.send(Outbound::Close(code, reason(code))).await;
        drop(outbound);
        let _ = writer.await;
        return;
    }
    let device = Arc::new(Device::new(
        hub.connection_id(),
        claims.sub,
        claims.sid,
        outbound,
        ephemeral,
        hub.config.outbound_queue,
        hub.config.stall_limit,
        closing,
        close_code,
    ));
    if hub.attach(device.clone()).await {
        let mut connection = Connection::new(state, hub.clone(), device.clone(), claims.exp);
        if connection.open(since).await.is_ok() {
            connection.serve(&mut stream).await;
        } else {
            device.close(close::SERVER_ERROR);
        }
        hub.detach(&device);
        device.close(close::NORMAL);
        drop(connection);
    } else {
        // The user's other connections stay; this one is told why, before `ready`.
        device.close(close::TOO_MANY_SOCKETS);
    }
    drop(device);
    // The closing handshake: keep reading (the client's pongs and its echo of our close) for a
    // moment, so the close frame reaches the client before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    let _ = writer.await;
}

/// Reads the token from the query or the first frame. `None`: no usable first frame;
/// `Some(Err(code))`: a token that is refused with `code`.
async fn authenticate(
    state: &AppState,
    hub: &Hub,
    stream: &mut SplitStream<WebSocketStream>,
    opening: Opening,
) -> Option<Result<(crate::identity::AccessClaims, Option<String>), u16>> {
    let (token, since) = match opening.token {
        Some(token) => (token, opening.since),
        None => {
            let first = tokio::time::timeout(hub.config.auth_timeout, next_text(stream)).await.ok()??;
            match protocol::parse(&first) {
                Ok(ClientFrame::Auth { token, since }) => (token, since.or(opening.since)),
                _ => return None,
            }
        }
    };
    Some(match state.identity.tokens.verify_access(&token) {
        Ok(claims) => Ok((claims, since)),
        Err(TokenError::Expired) => Err(close::TOKEN_EXPIRED),
        Err(_) => Err(close::UNAUTHORIZED),
    })
}

/// The next text frame, skipping pings and pongs; `None` when the stream ends or sends
/// anything else.
async fn next_text(stream: &mut SplitStream<WebSocketStream>) -> Option<String> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(text)) => return Some(text),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            _ => return None,
        }
    }
}

/// The state of an authenticated connection.
struct Connection {
    state: AppState,
    hub: Arc<Hub>,
    device: Arc<Device>,
    /// When the current access token expires (Unix seconds).
    expires_at: i64,
    warned: bool,
    limiter: DefaultDirectRateLimiter,
    /// Last typing state sent to each user, and when.
    typing: HashMap<Uuid, (bool, Instant)>,
    /// Typing and signal targets' audience verdicts, and when each was read: repeats within
    /// [`RealtimeConfig::audience_ttl`](super::RealtimeConfig::audience_ttl) cost no query.
    reach: HashMap<Uuid, (Reach, Instant)>,
}

/// Most typing states and audience verdicts one connection remembers.
const REMEMBERED_TARGETS: usize = 1024;

/// The store could not be read: the connection closes with 1011 and the client resumes.
struct StoreUnavailable;

impl Connection {
    fn new(state: AppState, hub: Arc<Hub>, device: Arc<Device>, expires_at: i64) -> Self {
        let per_second = NonZeroU32::new(hub.config.frames_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            state,
            hub,
            device,
            expires_at,
            warned: false,
            limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            typing: HashMap::new(),
            reach: HashMap::new(),
        }
    }

    fn user_id(&self) -> Uuid {
        self.device.user_id
    }

    /// Sends `ready`, then everything missed since `since` (or `resync_required`).
    async fn open(&mut self, since: Option<String>) -> Result<(), StoreUnavailable> {
        let user_id = self.user_id();
        let pool = &self.hub.pool;
        let head = live::head(pool, user_id).await.map_err(|_| StoreUnavailable)?;
        let (start, resync) = match since.as_deref().map(protocol::parse_cursor) {
            None => (head, None),
            Some(None) => (head, Some(ResyncReason::UnknownCursor)),
            Some(Some(since)) if since > head => (head, Some(ResyncReason::UnknownCursor)),
            Some(Some(since)) if since == head => (since, None),
            Some(Some(since)) => {
                let next = live::after(pool, user_id, since, 1).await.map_err(|_| StoreUnavailable)?;
                if next.first().map(|update| update.seq) == Some(since + 1) {
                    (since, None)
                } else {
                    (head, Some(ResyncReason::CursorExpired))
                }
            }
        };
        self.device.start_after(start);
        let ready = Ready {
            user_id,
            connection_id: self.device.id.to_string(),
            expires_at: instant(self.expires_at),
            resumed: since.is_some() && resync.is_none(),
            heartbeat_seconds: self.hub.config.heartbeat_interval.as_secs(),
        };
        if let Some(ready) = protocol::with_cursor(Some(start), &ready) {
            self.device.send(ready).await;
        }
        if let Some(reason) = resync {
            self.resync_required(reason, head).await;
        }
        self.catch_up().await
    }

    async fn resync_required(&self, reason: ResyncReason, head: i64) {
        metrics::counter!("loopync_ws_resyncs_total").increment(1);
        let resync = ResyncRequired { reason, cursor: head.to_string() };
        if let Some(frame) = protocol::with_cursor(Some(head), &resync) {
            self.device.send(frame).await;
        }
    }

    /// Sends the stored updates the device is missing, then lets it go live.
    async fn catch_up(&self) -> Result<(), StoreUnavailable> {
        let user_id = self.user_id();
        loop {
            let Some(mut last) = self.device.catching_up_after() else { return Ok(()) };
            loop {
                let page = {
                    let _permit = self.hub.store_reads.acquire().await;
                    live::after(&self.hub.pool, user_id, last, CATCH_UP_PAGE)
                        .await
                        .map_err(|_| StoreUnavailable)?
                };
                let full = page.len() as i64 == CATCH_UP_PAGE;
                for update in page {
                    if update.seq != last + 1 {
                        // Pruned past retention while the client was away.
                        let head = live::head(&self.hub.pool, user_id).await.map_err(|_| StoreUnavailable)?;
                        self.resync_required(ResyncReason::CursorExpired, head).await;
                        last = head;
                        break;
                    }
                    if !self.device.send_durable(Durable::stored(&update)).await {
                        return Ok(());
                    }
                    last = update.seq;
                }
                if !full {
                    break;
                }
            }
            if self.device.finish_catch_up(last) {
                return Ok(());
            }
        }
    }

    /// Reads frames until the connection ends.
    async fn serve(&mut self, stream: &mut SplitStream<WebSocketStream>) {
        let config = self.hub.config.clone();
        let mut last_heard = Instant::now();
        loop {
            let expires = deadline(self.expires_at);
            let warn_at = expires.checked_sub(config.token_warning).unwrap_or(expires);
            tokio::select! {
                biased;
                () = self.device.closing.cancelled() => return,
                () = self.hub.shutdown.cancelled() => {
                    self.device.close(close::GOING_AWAY);
                    return;
                }
                () = self.device.catch_up.notified() => {
                    if self.catch_up().await.is_err() {
                        self.device.close(close::SERVER_ERROR);
                        return;
                    }
                    // The client was not read meanwhile; its silence was ours.
                    last_heard = Instant::now();
                }
                () = tokio::time::sleep_until(expires) => {
                    self.device.close(close::TOKEN_EXPIRED);
                    return;
                }
                () = tokio::time::sleep_until(warn_at), if !self.warned => {
                    self.warned = true;
                    self.device.push_frame(&TokenExpiring { expires_at: instant(self.expires_at) });
                }
                () = tokio::time::sleep_until(last_heard + config.idle_timeout) => {
                    self.device.close(close::IDLE_TIMEOUT);
                    return;
                }
                message = stream.next() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(text))) => self.handle(&text).await,
                        Some(Ok(Message::Binary(_))) => {
                            self.device.close(close::UNSUPPORTED_DATA);
                            return;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return,
                        Some(Err(error)) => {
                            // tungstenite reports a message over `max_message_size` as a
                            // capacity error ("Space limit exceeded"); poem passes it on as text.
                            if error.to_string().contains("Space limit exceeded") {
                                self.device.close(close::TOO_BIG);
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Handles one text frame from the client.
    async fn handle(&mut self, text: &str) {
        if text.len() > self.hub.config.max_frame_bytes {
            let limit = self.hub.config.max_frame_bytes;
            return self.refuse(codes::FRAME_TOO_LARGE, format!("frames are at most {limit} bytes"), None);
        }
        if self.limiter.check().is_err() {
            return self.refuse(codes::RATE_LIMITED, "too many frames; slow down", None);
        }
        let frame = match protocol::parse(text) {
            Ok(frame) => frame,
            Err(error) => {
                self.device.push_frame(&error.frame());
                return;
            }
        };
        match frame {
            ClientFrame::Auth { token, .. } => self.refresh(&token),
            ClientFrame::Ping => {
                self.device.push_frame(&Pong {});
            }
            ClientFrame::Typing { to, is_typing } => self.typing(to, is_typing).await,
            ClientFrame::PresenceSubscribe { user_ids } => self.watch(user_ids).await,
            ClientFrame::PresenceUnsubscribe { user_ids } => {
                for user_id in user_ids {
                    self.hub.unwatch(&self.device, user_id);
                }
            }
            ClientFrame::Signal { to, signal } => self.signal(to, signal).await,
        }
    }

    fn refuse(&self, code: &'static str, message: impl Into<String>, frame_type: Option<&str>) {
        self.device.push_frame(&FrameError::new(code, message, frame_type).frame());
    }

    /// A refreshed access token: the connection lives on until the new expiry.
    fn refresh(&mut self, token: &str) {
        match self.state.identity.tokens.verify_access(token) {
            Ok(claims) if claims.sub == self.user_id() => {
                self.expires_at = claims.exp;
                self.warned = false;
                self.device.push_frame(&Authenticated { expires_at: instant(claims.exp) });
            }
            Ok(_) => self.refuse(codes::TOKEN_USER_MISMATCH, "the token is another user's", Some("auth")),
            Err(error) => self.refuse(codes::TOKEN_INVALID, error.to_string(), Some("auth")),
        }
    }

    /// Whether `to` may be addressed: someone else, who exists, and who the caller and `to`
    /// may both see. Refusals are answered with an error frame.
    async fn check_target(&mut self, to: Uuid, frame_type: &str) -> bool {
        if to == self.user_id() {
            self.refuse(codes::SELF_TARGET, "that is you", Some(frame_type));
            return false;
        }
        let ttl = self.hub.config.audience_ttl;
        let remembered = self.reach.get(&to).filter(|(_, at)| at.elapsed() < ttl).map(|(reach, _)| *reach);
        let reach = match remembered {
            Some(reach) => reach,
            None => match audience::reach(&self.state.pool, self.user_id(), to).await {
                Ok(reach) => {
                    if reach != Reach::Unknown {
                        if self.reach.len() >= REMEMBERED_TARGETS {
                            self.reach.retain(|_, (_, at)| at.elapsed() < ttl);
                        }
                        if self.reach.len() < REMEMBERED_TARGETS {
                            self.reach.insert(to, (reach, Instant::now()));
                        }
                    }
                    reach
                }
                Err(_) => {
                    self.refuse(codes::UNKNOWN_USER, "users cannot be looked up right now", Some(frame_type));
                    return false;
                }
            },
        };
        match reach {
            Reach::Allowed => true,
            Reach::Forbidden => {
                let refusal = FrameError::new(
                    codes::TARGET_FORBIDDEN,
                    "you and this user may not both see each other",
                    Some(frame_type),
                );
                self.device.push_frame(&refusal.naming(vec![to]).frame());
                false
            }
            Reach::Unknown => {
                self.refuse(codes::UNKNOWN_USER, format!("no user {to}"), Some(frame_type));
                false
            }
        }
    }

    /// Whether the caller is within its per-target limit of `frame_type` frames to `to`
    /// (refused with `rate_limited` naming `to` otherwise).
    fn within_target_limit(&self, to: Uuid, frame_type: &str) -> bool {
        if self.hub.within_target_limit(frame_type, self.user_id(), to) {
            return true;
        }
        metrics::counter!("loopync_ws_target_limited_total", "type" => frame_type.to_owned()).increment(1);
        let refusal = FrameError::new(
            codes::RATE_LIMITED,
            format!("too many {frame_type} frames to this user; slow down"),
            Some(frame_type),
        );
        self.device.push_frame(&refusal.naming(vec![to]).frame());
        false
    }

    async fn typing(&mut self, to: Uuid, is_typing: bool) {
        if !self.check_target(to, "typing").await {
            return;
        }
        let throttle = self.hub.config.typing_throttle;
        if let Some((state, at)) = self.typing.get(&to)
            && *state == is_typing
            && at.elapsed() < throttle
        {
            // A repeat: dropped before the per-target limit, which it does not count against
            // (clients that send `typing` on every keystroke are not refused).
            return;
        }
        if !self.within_target_limit(to, "typing") {
            return;
        }
        if self.typing.len() >= REMEMBERED_TARGETS {
            self.typing.retain(|_, (_, at)| at.elapsed() < throttle);
        }
        self.typing.insert(to, (is_typing, Instant::now()));
        let indicator = TypingIndicator { from: self.user_id(), is_typing };
        self.publish_to(to, protocol::ephemeral(&indicator)).await;
    }

    async fn signal(&mut self, to: Uuid, signal: serde_json::Value) {
        if !self.check_target(to, "signal").await || !self.within_target_limit(to, "signal") {
            return;
        }
        let relayed =
            RelayedSignal { from: self.user_id(), from_connection: self.device.id.to_string(), signal };
        self.publish_to(to, protocol::ephemeral(&relayed)).await;
    }

    async fn publish_to(&self, to: Uuid, frame: Option<String>) {
        let Some(frame) = frame else { return };
        if let Err(error) = self.hub.nats.publish(self.hub.subjects.live_ephemeral(to), frame.into()).await {
            tracing::debug!(%error, "ephemeral frame not published");
        }
    }

    /// Watches the presence of the users the caller may see, with a snapshot of each.
    async fn watch(&mut self, user_ids: Vec<Uuid>) {
        let watching = self.device.watching.lock().map(|w| w.len()).unwrap_or_default();
        if watching + user_ids.len() > protocol::MAX_WATCHED_USERS {
            let most = protocol::MAX_WATCHED_USERS;
            return self.refuse(
                codes::INVALID_FIELD,
                format!("a connection watches at most {most} users"),
                Some("presence_subscribe"),
            );
        }
        let visible = match audience::visibility(&self.state.pool, self.user_id(), &user_ids).await {
            Ok(visible) => visible,
            Err(_) => {
                return self.refuse(
                    codes::UNKNOWN_USER,
                    "users cannot be looked up right now",
                    Some("presence_subscribe"),
                );
            }
        };
        let (mut forbidden, mut unknown) = (Vec::new(), Vec::new());
        for user_id in user_ids {
            match visible.get(&user_id) {
                None => unknown.push(user_id),
                Some(false) => forbidden.push(user_id),
                Some(true) => {
                    self.hub.watch(&self.device, user_id).await;
                    let status = self.hub.presence.status(user_id).await;
                    self.device.push_frame(&status.snapshot(user_id));
                }
            }
        }
        for (code, users, message) in [
            (codes::PRESENCE_FORBIDDEN, forbidden, "these users do not share their presence with you"),
            (codes::UNKNOWN_USER, unknown, "no such users"),
        ] {
            if !users.is_empty() {
                let error = FrameError::new(code, message, Some("presence_subscribe")).naming(users);
                self.device.push_frame(&error.frame());
            }
        }
    }
}

/// What the writer drains: the durable path (and replies), and the lossy path.
struct Queues {
    durable: mpsc::Receiver<Outbound>,
    ephemeral: Arc<LossyQueue>,
}

/// The writer task: queues → socket, pings, and the close frame. The durable queue goes
/// first: when both have frames, the one a client cannot do without is written first.
async fn write(
    mut sink: SplitSink<WebSocketStream, Message>,
    queues: Queues,
    closing: CancellationToken,
    close_code: Arc<AtomicU16>,
    heartbeat: Duration,
) {
    let Queues { durable: mut queue, ephemeral } = queues;
    let mut pings = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let (code, why) = loop {
        let message = tokio::select! {
            biased;
            () = closing.cancelled() => {
                let code = close_code.load(Ordering::Relaxed);
                break (code, reason(code));
            }
            next = queue.recv() => match next {
                Some(Outbound::Text(text)) => Message::Text(text),
                Some(Outbound::Close(code, why)) => break (code, why),
                None => break (close::NORMAL, reason(close::NORMAL)),
            },
            frame = ephemeral.pop() => Message::Text(frame),
            _ = pings.tick() => Message::Ping(Vec::new()),
        };
        tokio::select! {
            sent = sink.send(message) => if sent.is_err() { return },
            // A client that stopped reading blocks the send; closing must not wait for it.
            () = closing.cancelled() => {}
        }
    };
    // The reader stops too, whoever decided to close.
    closing.cancel();
    metrics::counter!("loopync_ws_closed_total", "code" => code.to_string()).increment(1);
    // Best effort: a client that reads nothing will not read this either.
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::close_with(code, why))).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// The reason text sent with a close code.
fn reason(code: u16) -> &'static str {
    match code {
        close::NORMAL => "bye",
        close::GOING_AWAY => "server shutting down; reconnect and resume",
        close::UNSUPPORTED_DATA => "text frames only",
        close::TOO_BIG => "frame too large",
        close::SERVER_ERROR => "server error; reconnect and resume",
        close::UNAUTHORIZED => "unauthorized",
        close::TOKEN_EXPIRED => "token_expired",
        close::SESSION_REVOKED => "session_revoked",
        close::IDLE_TIMEOUT => "idle_timeout",
        close::SLOW_CONSUMER => "slow_consumer",
        close::TOO_MANY_SOCKETS => "too_many_sockets",
        _ => "",
    }
}

/// The instant a Unix time falls on.
fn deadline(unix_seconds: i64) -> Instant {
    let now = chrono::Utc::now().timestamp_millis();
    let left = (unix_seconds.saturating_mul(1000) - now).max(0);
    Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// A token's expiry (Unix seconds) as an instant, for frames. Out of chrono's range (hundreds
/// of thousands of years away, so never a token this server signed) it is the latest instant.
fn instant(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}
