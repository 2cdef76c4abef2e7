//! The AsyncAPI 3.0.0 document of the realtime gateway (`GET /api/ws`), served at
//! `/api/asyncapi.json`.
//!
//! The WebSocket protocol has one channel carrying JSON text frames
//! `{"type": <name>, "cursor": <string|null>, "data": {...}}` both ways. Each frame type is one
//! message in `components.messages`, keyed `server_<type>` or `client_<type>` (the two sides
//! share the type name `signal`). Operations are written from the gateway's point of view, as
//! AsyncAPI 3 wants: the gateway `send`s server frames and `receive`s client frames, one
//! operation per frame type.
//!
//! What a frame is, is not written here but on its [`LiveFrame`] type (the projections' durable
//! frames, the gateway's own in [`frames`](super::frames)): the message's summary and
//! description are the type's doc comment (its first paragraph, then the rest), the schema of
//! `data` is generated from the type with schemars (fields documented by theirs), and the
//! examples are values of the type, encoded as the gateway encodes them. What is written here
//! is the protocol-wide prose (the introduction, the channel, cursors, tags) and what AsyncAPI
//! has no field for, kept machine-readable all the same: the close codes are the channel's
//! `x-close-codes` extension (and listed in its description), the error codes are the `enum` of
//! the `error` frame's `code` (from [`codes::ALL`](super::protocol::codes::ALL)).

use super::frames::{
    Auth, Authenticated, ErrorFrame, Ping, Pong, PresenceSnapshot, PresenceStatus, PresenceSubscribe,
    PresenceUnsubscribe, Ready, RelayedSignal, ResyncReason, ResyncRequired, Signal, TokenExpiring, Typing,
    TypingIndicator, UserOffline, UserOnline,
};
use super::protocol::{FrameError, codes};
use chrono::{DateTime, Utc};
use loopync_projections::identity::{ProfileUpdated, SessionEndReason, SessionRevoked};
use loopync_projections::live::{self, LiveFrame};
use loopync_projections::looppay::BalanceUpdated;
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::{Map, Value, json};
use uuid::{Uuid, uuid};

/// Every frame type the gateway sends.
pub const SERVER_FRAME_TYPES: &[&str] = &[
    Ready::KIND,
    ResyncRequired::KIND,
    BalanceUpdated::KIND,
    ProfileUpdated::KIND,
    SessionRevoked::KIND,
    TypingIndicator::KIND,
    UserOnline::KIND,
    UserOffline::KIND,
    RelayedSignal::KIND,
    TokenExpiring::KIND,
    Authenticated::KIND,
    PresenceSnapshot::KIND,
    Pong::KIND,
    ErrorFrame::KIND,
];

/// Every frame type a client may send.
pub const CLIENT_FRAME_TYPES: &[&str] =
    &[Auth::KIND, Ping::KIND, Typing::KIND, PresenceSubscribe::KIND, PresenceUnsubscribe::KIND, Signal::KIND];

/// The one channel's id (its address is [`WS_ADDRESS`]).
const CHANNEL: &str = "ws";
const WS_ADDRESS: &str = "/api/ws";

/// The codes the gateway closes connections with: `(code, name, meaning)`.
const CLOSE_CODES: &[(u16, &str, &str)] = &[
    (1000, "normal", "Normal closure."),
    (1001, "going_away", "The server is shutting down. Reconnect (to another node) with `since`."),
    (1003, "unsupported_data", "The client sent a binary frame; the protocol is text frames only."),
    (1009, "message_too_big", "The client sent a frame over the hard limit of 64 KiB."),
    (
        4001,
        "unauthorized",
        "Missing or invalid token, a first frame that is not `auth` when the URL has no `token`, \
         or no `auth` frame within 5 s.",
    ),
    (
        4002,
        "token_expired",
        "The access token expired and no refreshed token arrived in an `auth` frame. Refresh the \
         token over HTTP and reconnect with `since`.",
    ),
    (
        4003,
        "session_revoked",
        "The connection's session ended (logout, revoked from another device, password changed), \
         after its `session_revoked` frame. Sign in again.",
    ),
    (
        4004,
        "idle_timeout",
        "Nothing received from the client, not even a pong, for 60 s (the server pings every 20 s).",
    ),
    (
        4005,
        "slow_consumer",
        "The connection's outbound queue (256 frames) was full: the client reads too slowly. \
         Reconnect with `since` to get the durable frames it missed.",
    ),
];

/// The AsyncAPI 3 document of `GET /api/ws`, served at `/api/asyncapi.json`.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for frame in server_frames().into_iter().chain(client_frames()) {
        let key = frame.key();
        channel_messages.insert(key.clone(), reference(&format!("#/components/messages/{key}")));
        operations.insert(frame.operation_id(), frame.operation());
        messages.insert(key, frame.message());
    }

    json!({
        "asyncapi": "3.0.0",
        "id": "urn:loopync:realtime",
        "info": {
            "title": "Loopync realtime",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO_DESCRIPTION,
            "license": { "name": "MIT" },
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:8080",
                "protocol": "ws",
                "title": "Local gateway",
                "description": "A local `loopync serve` (`LOOPYNC_HTTP_ADDR`, default `0.0.0.0:8080`). \
                                Deployments behind TLS use `wss`.",
                "security": [reference("#/components/securitySchemes/accessToken")],
            },
        },
        "channels": { CHANNEL: channel(channel_messages) },
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "accessToken": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The access JWT (as from `POST /api/auth/login`) in the `token` query \
                                    parameter. Alternatively, connect without it and send it in the \
                                    first frame, `auth`, within 5 s.",
                },
            },
            "tags": {
                "session": {
                    "name": "session",
                    "description": "Frames about the connection itself: a cursor that says where the \
                                    stream starts, not stored.",
                },
                "durable": {
                    "name": "durable",
                    "description": "Stored with a cursor, increasing per user; replayed on resume with \
                                    `since`.",
                },
                "ephemeral": { "name": "ephemeral", "description": "Cursor null; never stored, not replayed." },
                "client": { "name": "client", "description": "Sent by the client; only `type` and `data` are needed." },
            },
        },
    })
}

const INFO_DESCRIPTION: &str = "\
The Loopync WebSocket gateway: live updates for a signed-in user's devices (wallet balance, own \
profile), presence, typing indicators and WebRTC signalling.

Every frame is a JSON **text** frame `{\"type\": <name>, \"cursor\": <string|null>, \"data\": {...}}`. \
Client frames need only `type` and `data`.

**Point of view.** As AsyncAPI 3 prescribes, operations describe the application, i.e. the \
gateway: it *sends* the server frames (`send…` operations) and *receives* the client frames \
(`receive…` operations). A client does the opposite.

**Authentication.** Pass the access JWT in the URL, `/api/ws?token=<jwt>`, or connect without it \
and send `{\"type\": \"auth\", \"data\": {\"token\": \"<jwt>\"}}` as the first frame within 5 s. \
Either way the gateway answers `ready`; a missing or invalid token, a first frame that is not \
`auth`, or no `auth` in time closes the connection with 4001. About 30 s before the access token \
expires the gateway sends `token_expiring`; refresh the token over HTTP and send it in an `auth` \
frame on the same connection (no reconnect), answered with `authenticated`. Without a refreshed \
token the connection is closed with 4002 when the token expires.

**Resume.** Durable frames (`balance_updated`, `profile_updated`, `session_revoked`) carry a cursor: opaque, \
increasing per user. Keep the last one processed and reconnect with `since=<cursor>` (query, or \
`since` in the `auth` frame). `ready.cursor` is where the connection starts: without `since` the \
user's current head; with an honoured `since` equal to it, and the missed durable frames follow in \
order, then live ones, with no duplicates and no gap. A `since` that can no longer be honoured \
(older than the retention window, 7 days by default, or unknown or malformed) is answered with \
`ready` at the head followed by `resync_required`: refetch the state over HTTP and carry on from \
the head. Ephemeral frames have a null cursor and are never stored or replayed.

**Heartbeats.** The gateway sends a WebSocket ping every 20 s (`ready.data.heartbeatSeconds`). \
A connection from which nothing arrives for 60 s, not even a pong, is closed with 4004. A client \
that cannot see control frames may send `ping` frames, answered with `pong`.

**Slow consumers.** Each connection has an outbound queue of 256 frames; when it is full the \
connection is closed with 4005. Reconnect with `since` to get the durable frames missed.

**Limits.** A frame over 16 KiB is refused with an `error` frame `frame_too_large`; over 64 KiB \
the connection is closed with 1009. Binary frames close it with 1003. More than 20 frames per \
second, sustained, are refused with `rate_limited`. `presence_subscribe` takes at most 100 user \
ids; a `signal` is at most 8 KiB; repeats of the same typing state within 2 s are dropped. \
`error` frames leave the connection open; the close codes are listed on the channel \
(`x-close-codes`).";

fn channel(messages: Map<String, Value>) -> Value {
    let mut close_codes = Map::new();
    let mut close_lines = Vec::new();
    for &(code, name, meaning) in CLOSE_CODES {
        close_codes.insert(code.to_string(), json!({ "name": name, "description": meaning }));
        close_lines.push(format!("- `{code}` {name}: {meaning}"));
    }
    let description = format!(
        "The WebSocket of a signed-in user's connection: both directions carry JSON text frames. \
         Upgrade with `GET {WS_ADDRESS}`.\n\nClose codes:\n{}",
        close_lines.join("\n")
    );
    json!({
        "address": WS_ADDRESS,
        "title": "Realtime WebSocket",
        "description": description,
        "messages": messages,
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "token": {
                            "type": "string",
                            "description": "The access JWT. Without it the first frame must be `auth` \
                                            (within 5 s).",
                        },
                        "since": {
                            "type": "string",
                            "description": "The cursor of the last durable frame processed: the \
                                            missed durable frames are replayed after `ready`.",
                        },
                    },
                },
                "bindingVersion": "0.1.0",
            },
        },
        "x-close-codes": close_codes,
    })
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// What a server frame's `cursor` is.
enum Cursor {
    /// A position that is not the frame's own (`ready`, `resync_required`): not stored.
    Session(&'static str),
    /// The frame's position in the user's stream: stored, replayed on resume.
    Durable,
    /// Always null: the frame is never stored.
    Ephemeral,
}

impl Cursor {
    fn tag(&self) -> &'static str {
        match self {
            Cursor::Session(_) => "session",
            Cursor::Durable => "durable",
            Cursor::Ephemeral => "ephemeral",
        }
    }

    fn schema(&self) -> Value {
        match self {
            Cursor::Session(description) => json!({ "type": "string", "description": description }),
            Cursor::Durable => json!({
                "type": "string",
                "description": "This update's position in the user's stream: opaque, increasing per \
                                user. Keep the last one processed and reconnect with `since` to \
                                get what was missed.",
            }),
            Cursor::Ephemeral => json!({ "type": "null", "description": "Ephemeral frame: never stored." }),
        }
    }
}

/// Who sends a frame, and what follows from that.
enum Sender {
    /// The gateway; what the frame's `cursor` is.
    Server(Cursor),
    /// A client. `replies`: the server frames that answer it on the same connection, if any.
    Client { replies: &'static [&'static str] },
}

/// One frame type of the protocol: a message of the document and the operation carrying it.
struct Frame {
    /// The frame's `type`.
    name: &'static str,
    /// From the type's doc comment: its first paragraph, and the rest.
    summary: String,
    description: String,
    sender: Sender,
    /// The schema of `data`, generated from the frame's type.
    data: Value,
    /// `{name, summary, payload}`, each payload a whole wire frame.
    examples: Vec<Value>,
}

impl Frame {
    /// The frame of type `F`. Its `data` schema is what the type serializes to for a server
    /// frame (exactly: nothing else appears), and what the gateway accepts for a client frame.
    /// The type's doc comment becomes the message's summary and description.
    fn new<F: LiveFrame>(sender: Sender) -> Self {
        let mut data = match sender {
            Sender::Server(_) => {
                let mut data = data_schema::<F>(SchemaSettings::draft07().for_serialize());
                if data["type"] == "object" {
                    data["additionalProperties"] = Value::Bool(false);
                }
                data
            }
            Sender::Client { .. } => data_schema::<F>(SchemaSettings::draft07().for_deserialize()),
        };
        let doc = data.as_object_mut().and_then(|data| data.remove("description"));
        let doc = doc.as_ref().and_then(Value::as_str).unwrap_or_default();
        let (summary, details) = doc.split_once("\n\n").unwrap_or((doc, ""));
        // What the cursor says about delivery comes first, as the tags say it.
        let delivery = match &sender {
            Sender::Server(Cursor::Durable) => "Durable: has a cursor and is replayed on resume.",
            Sender::Server(Cursor::Ephemeral) => "Ephemeral.",
            Sender::Server(Cursor::Session(_)) | Sender::Client { .. } => "",
        };
        let description = match (delivery, details) {
            ("", "") => summary.to_owned(),
            ("", only) | (only, "") => only.to_owned(),
            (delivery, details) => format!("{delivery} {details}"),
        };
        Self { name: F::KIND, summary: summary.to_owned(), description, sender, data, examples: Vec::new() }
    }

    /// An example of this frame carrying `data`: for a server frame, exactly the text the
    /// gateway sends (with `cursor`); for a client frame, `type` and `data`.
    fn example<F: LiveFrame>(mut self, name: &str, summary: &str, cursor: Option<i64>, data: F) -> Self {
        // Encoding cannot fail for these plain types (see `protocol::with_cursor`); a null
        // example would fail `every_example_matches_its_payload_schema`.
        let payload = match self.sender {
            Sender::Server(_) => live::encode(cursor, &data)
                .ok()
                .and_then(|frame| serde_json::from_str(&frame).ok())
                .unwrap_or_default(),
            Sender::Client { .. } => {
                json!({ "type": F::KIND, "data": serde_json::to_value(&data).unwrap_or_default() })
            }
        };
        self.examples.push(json!({ "name": name, "summary": summary, "payload": payload }));
        self
    }

    /// The message's key in `components.messages` and the channel's `messages`: prefixed with
    /// the sender, because both sides have a frame named `signal`.
    fn key(&self) -> String {
        match self.sender {
            Sender::Server(_) => format!("server_{}", self.name),
            Sender::Client { .. } => format!("client_{}", self.name),
        }
    }

    /// `send` for server frames, `receive` for client frames: the gateway's point of view.
    fn action(&self) -> &'static str {
        match self.sender {
            Sender::Server(_) => "send",
            Sender::Client { .. } => "receive",
        }
    }

    /// `sendBalanceUpdated`, `receivePresenceSubscribe`, ...
    fn operation_id(&self) -> String {
        format!("{}{}", self.action(), pascal_case(self.name))
    }

    fn message(&self) -> Value {
        let frame_type = json!({ "type": "string", "const": self.name });
        let (payload, tag) = match &self.sender {
            // The envelope of server frames is fixed by the protocol: nothing else appears in it.
            Sender::Server(cursor) => (
                json!({
                    "type": "object",
                    "required": ["type", "cursor", "data"],
                    "additionalProperties": false,
                    "properties": { "type": frame_type, "cursor": cursor.schema(), "data": self.data },
                }),
                cursor.tag(),
            ),
            // Client frames need only `type` and `data`; the schema does not forbid more.
            Sender::Client { .. } => (
                json!({
                    "type": "object",
                    "required": ["type", "data"],
                    "properties": { "type": frame_type, "data": self.data },
                }),
                "client",
            ),
        };
        json!({
            "name": self.name,
            "title": title(self.name),
            "summary": self.summary,
            "description": self.description,
            "contentType": "application/json",
            "tags": [reference(&format!("#/components/tags/{tag}"))],
            "payload": payload,
            "examples": self.examples,
        })
    }

    /// The gateway's operation on this frame.
    fn operation(&self) -> Value {
        let channel = reference(&format!("#/channels/{CHANNEL}"));
        let channel_message = |key: &str| reference(&format!("#/channels/{CHANNEL}/messages/{key}"));
        let mut operation = json!({
            "action": self.action(),
            "channel": channel,
            "title": format!("{} {}", pascal_case(self.action()), self.name),
            "summary": self.summary,
            "messages": [channel_message(&self.key())],
        });
        if let Sender::Client { replies } = self.sender
            && !replies.is_empty()
        {
            let messages: Vec<Value> =
                replies.iter().map(|name| channel_message(&format!("server_{name}"))).collect();
            operation["reply"] = json!({ "channel": channel, "messages": messages });
        }
        operation
    }
}

/// The schema of `F` as a frame's `data`: JSON Schema draft 07 (what AsyncAPI schemas build
/// on), every subschema inline so that the payload stands alone.
fn data_schema<F: LiveFrame>(settings: SchemaSettings) -> Value {
    let settings = settings
        .with(|settings| {
            settings.meta_schema = None;
            settings.inline_subschemas = true;
        })
        .with_transform(RecursiveTransform(unwrap_lines as fn(&mut Schema)));
    let mut schema = settings.into_generator().root_schema_for::<F>().to_value();
    // The type's Rust name says nothing to client authors; the message has a title.
    if let Some(schema) = schema.as_object_mut() {
        schema.remove("title");
    }
    schema
}

/// Joins the lines of a description taken from a doc comment, which wraps at the source's
/// width: a lone line break inside a paragraph is a space, as in Markdown. Blank lines and list
/// items (`- `) keep theirs.
fn unwrap_lines(schema: &mut Schema) {
    let Some(Value::String(description)) = schema.get_mut("description") else { return };
    let mut unwrapped = String::with_capacity(description.len());
    let mut previous: Option<&str> = None;
    for line in description.split('\n') {
        if let Some(previous) = previous {
            let kept = previous.is_empty() || line.is_empty() || line.starts_with("- ");
            unwrapped.push(if kept { '\n' } else { ' ' });
        }
        unwrapped.push_str(line);
        previous = Some(line);
    }
    *description = unwrapped;
}

// Example values, shared so that the examples tell one consistent story.
const ADA: Uuid = uuid!("0192f3a1-6b2c-7d4e-8f10-2a3b4c5d6e7f");
const GRACE: Uuid = uuid!("0192f3a1-9c8d-7e6f-a012-3b4c5d6e7f80");
const CONNECTION: &str = "0192f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
const EXPIRES_AT: &str = "2025-11-21T18:15:00Z";
const LAST_SEEN: &str = "2025-11-21T18:02:11.304Z";

/// An instant of the examples.
fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).map(|at| at.to_utc()).unwrap_or_default()
}

fn server_frames() -> Vec<Frame> {
    let ready = |resumed| Ready {
        user_id: ADA,
        connection_id: CONNECTION.to_owned(),
        expires_at: at(EXPIRES_AT),
        resumed,
        heartbeat_seconds: 20,
    };
    vec![
        // --- Session ---
        Frame::new::<Ready>(Sender::Server(Cursor::Session(
            "Where this connection starts. Without `since`: the user's current head. With an \
             honoured `since`: equal to it. With a `since` that cannot be honoured: the head.",
        )))
        .example(
            "fresh",
            "Connected without `since`: the stream starts at the user's head.",
            Some(1041),
            ready(false),
        )
        .example(
            "resumed",
            "Connected with `since=1037`: frames 1038 onwards follow.",
            Some(1037),
            ready(true),
        ),
        Frame::new::<ResyncRequired>(Sender::Server(Cursor::Session(
            "The user's head, as in `data.cursor`.",
        )))
        .example(
            "expired",
            "The client was offline for longer than the retention window.",
            Some(1041),
            ResyncRequired { reason: ResyncReason::CursorExpired, cursor: "1041".to_owned() },
        ),
        // --- Durable ---
        Frame::new::<BalanceUpdated>(Sender::Server(Cursor::Durable)).example(
            "transfer_received",
            "12.50 LOOP arrived; 3.00 are held by a pending payment.",
            Some(1042),
            BalanceUpdated { available: 9750, held: 300, currency: "LOOP".to_owned(), sequence: 17 },
        ),
        Frame::new::<ProfileUpdated>(Sender::Server(Cursor::Durable)).example(
            "renamed",
            "Ada changed her display name on her laptop.",
            Some(1043),
            ProfileUpdated {
                user_id: ADA,
                handle: "ada_l".to_owned(),
                name: "Ada King".to_owned(),
                avatar: None,
            },
        ),
        Frame::new::<SessionRevoked>(Sender::Server(Cursor::Durable)).example(
            "signed_out_elsewhere",
            "Ada revoked her phone's session from her laptop.",
            Some(1044),
            SessionRevoked {
                session_id: uuid!("01935f1c-2b1e-7c3a-9d4e-5f6a7b8c9d0e"),
                reason: SessionEndReason::Revoked,
            },
        ),
        // --- Ephemeral ---
        Frame::new::<TypingIndicator>(Sender::Server(Cursor::Ephemeral)).example(
            "started",
            "Grace is typing to Ada.",
            None,
            TypingIndicator { from: GRACE, is_typing: true },
        ),
        Frame::new::<UserOnline>(Sender::Server(Cursor::Ephemeral)).example(
            "online",
            "Grace came online.",
            None,
            UserOnline { user_id: GRACE },
        ),
        Frame::new::<UserOffline>(Sender::Server(Cursor::Ephemeral)).example(
            "offline",
            "Grace went offline.",
            None,
            UserOffline { user_id: GRACE, last_seen: at(LAST_SEEN) },
        ),
        Frame::new::<RelayedSignal>(Sender::Server(Cursor::Ephemeral)).example(
            "offer",
            "Grace offers a call.",
            None,
            RelayedSignal {
                from: GRACE,
                from_connection: "0192f3b2-4d5e-7f60-8a1b-2c3d4e5f6a7b".to_owned(),
                signal: json!({ "kind": "offer", "sdp": "v=0\r\no=- 46117314 2 IN IP4 127.0.0.1\r\n" }),
            },
        ),
        Frame::new::<TokenExpiring>(Sender::Server(Cursor::Ephemeral)).example(
            "expiring",
            "The token expires in 30 s.",
            None,
            TokenExpiring { expires_at: at(EXPIRES_AT) },
        ),
        Frame::new::<Authenticated>(Sender::Server(Cursor::Ephemeral)).example(
            "refreshed",
            "The connection now runs on a token valid for 15 more minutes.",
            None,
            Authenticated { expires_at: at("2025-11-21T18:30:00Z") },
        ),
        Frame::new::<PresenceSnapshot>(Sender::Server(Cursor::Ephemeral))
            .example(
                "offline",
                "Grace is offline, last seen a few minutes ago.",
                None,
                PresenceSnapshot {
                    user_id: GRACE,
                    status: PresenceStatus::Offline,
                    last_seen: Some(at(LAST_SEEN)),
                },
            )
            .example(
                "online",
                "Grace is online.",
                None,
                PresenceSnapshot { user_id: GRACE, status: PresenceStatus::Online, last_seen: None },
            ),
        Frame::new::<Pong>(Sender::Server(Cursor::Ephemeral)).example(
            "pong",
            "Answering a ping.",
            None,
            Pong {},
        ),
        Frame::new::<ErrorFrame>(Sender::Server(Cursor::Ephemeral))
            .example(
                "self_target",
                "The client signalled its own user.",
                None,
                FrameError::new(codes::SELF_TARGET, "that is you", Some("signal")).frame(),
            )
            .example(
                "malformed",
                "The frame was not JSON.",
                None,
                FrameError::new(
                    codes::MALFORMED_FRAME,
                    "a frame is a JSON object with a string `type`",
                    None,
                )
                .frame(),
            )
            .example(
                "presence_forbidden",
                "Grace turned private while Ada watched her: the watch ends.",
                None,
                FrameError::new(
                    codes::PRESENCE_FORBIDDEN,
                    "this user no longer shares their presence with you",
                    Some("presence_subscribe"),
                )
                .naming(vec![GRACE])
                .frame(),
            ),
    ]
}

fn client_frames() -> Vec<Frame> {
    vec![
        Frame::new::<Auth>(Sender::Client {
            replies: &[Ready::KIND, ResyncRequired::KIND, Authenticated::KIND],
        })
        .example(
            "first_frame",
            "Authenticating and resuming after cursor 1037.",
            None,
            Auth {
                token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl".to_owned(),
                since: Some("1037".to_owned()),
            },
        )
        .example(
            "refresh",
            "Refreshing the token after `token_expiring`.",
            None,
            Auth {
                token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIuLi4ifQ.bmV3c2lnbmF0dXJl".to_owned(),
                since: None,
            },
        ),
        Frame::new::<Ping>(Sender::Client { replies: &[Pong::KIND] }).example(
            "ping",
            "A ping.",
            None,
            Ping {},
        ),
        Frame::new::<Typing>(Sender::Client { replies: &[] }).example(
            "started",
            "Ada starts typing to Grace.",
            None,
            Typing { to: GRACE, is_typing: true },
        ),
        Frame::new::<PresenceSubscribe>(Sender::Client { replies: &[PresenceSnapshot::KIND] }).example(
            "watch",
            "Ada watches Grace.",
            None,
            PresenceSubscribe { user_ids: vec![GRACE] },
        ),
        Frame::new::<PresenceUnsubscribe>(Sender::Client { replies: &[] }).example(
            "unwatch",
            "Ada stops watching Grace.",
            None,
            PresenceUnsubscribe { user_ids: vec![GRACE] },
        ),
        Frame::new::<Signal>(Sender::Client { replies: &[] }).example(
            "answer",
            "Ada answers Grace's offer.",
            None,
            Signal {
                to: GRACE,
                signal: json!({ "kind": "answer", "sdp": "v=0\r\no=- 28908445 2 IN IP4 127.0.0.1\r\n" }),
            },
        ),
    ]
}

fn reference(pointer: &str) -> Value {
    json!({ "$ref": pointer })
}

/// `resync_required` → `Resync required`: a message's title.
fn title(kind: &str) -> String {
    let words = kind.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `presence_subscribe` → `PresenceSubscribe`, for operation ids.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
        value.pointer(pointer).unwrap_or_else(|| panic!("nothing at {pointer}"))
    }

    fn object_at<'a>(value: &'a Value, pointer: &str) -> &'a Map<String, Value> {
        at(value, pointer).as_object().unwrap_or_else(|| panic!("{pointer} is not an object"))
    }

    /// The value a local `$ref` (`#/...`) points to.
    fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
        reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer))
    }

    /// Every `$ref` in `value`, with where it is.
    fn references(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        found.push((path.to_owned(), child.as_str().unwrap_or_default().to_owned()));
                    } else {
                        references(child, &format!("{path}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    references(child, &format!("{path}/{index}"), found);
                }
            }
            _ => {}
        }
    }

    /// The component message an operation's message reference ends at (operations point at the
    /// channel's messages, which point at the components).
    fn component_message_key(document: &Value, reference: &Value) -> String {
        let pointer = reference["$ref"].as_str().unwrap_or_else(|| panic!("not a reference: {reference}"));
        let channel_message =
            resolve(document, pointer).unwrap_or_else(|| panic!("{pointer} does not resolve"));
        let component = channel_message["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{pointer} is not a reference to a component: {channel_message}"));
        let key = component
            .strip_prefix("#/components/messages/")
            .unwrap_or_else(|| panic!("{pointer} points at {component}, not a component message"));
        assert!(resolve(document, component).is_some(), "{component} does not resolve");
        key.to_owned()
    }

    fn messages_of_type<'a>(document: &'a Value, frame_type: &str) -> Vec<&'a Value> {
        object_at(document, "/components/messages")
            .values()
            .filter(|message| message.pointer("/payload/properties/type/const") == Some(&json!(frame_type)))
            .collect()
    }

    fn message_key(direction: &str, frame_type: &str) -> String {
        format!("/components/messages/{direction}_{frame_type}")
    }

    #[test]
    fn is_an_asyncapi_3_document_of_this_version() {
        let document = document();
        assert_eq!(document["asyncapi"], "3.0.0");
        assert_eq!(document["info"]["title"], "Loopync realtime");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(at(&document, "/channels/ws/address"), WS_ADDRESS);
        assert_eq!(at(&document, "/servers/local/host"), "localhost:8080");
        assert_eq!(at(&document, "/servers/local/protocol"), "ws");
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let mut found = Vec::new();
        references(&document, "", &mut found);
        assert!(found.len() > 50, "expected references throughout, found {}", found.len());
        for (path, reference) in found {
            assert!(resolve(&document, &reference).is_some(), "{path}: $ref {reference:?} does not resolve");
        }
    }

    #[test]
    fn every_operation_message_is_a_component_message() {
        let document = document();
        let operations = object_at(&document, "/operations");
        assert!(!operations.is_empty());
        for (id, operation) in operations {
            assert_eq!(operation["channel"], json!({ "$ref": "#/channels/ws" }), "{id}");
            let messages = operation["messages"].as_array().unwrap_or_else(|| panic!("{id} has no messages"));
            assert!(!messages.is_empty(), "{id} has no messages");
            let replies = operation.pointer("/reply/messages").and_then(Value::as_array);
            for reference in messages.iter().chain(replies.into_iter().flatten()) {
                let key = component_message_key(&document, reference);
                assert!(document["components"]["messages"].get(&key).is_some(), "{id}: {key}");
            }
        }
    }

    /// The gateway's point of view: it sends every server frame and receives every client frame,
    /// each in exactly one operation.
    #[test]
    fn the_gateway_sends_server_frames_and_receives_client_frames() {
        let document = document();
        let mut seen = BTreeSet::new();
        for (id, operation) in object_at(&document, "/operations") {
            for reference in operation["messages"].as_array().into_iter().flatten() {
                let key = component_message_key(&document, reference);
                let expected = if key.starts_with("server_") { "send" } else { "receive" };
                assert_eq!(operation["action"], expected, "{id} carries {key}");
                assert!(seen.insert(key.clone()), "{key} is in more than one operation");
            }
        }
        let all: BTreeSet<String> = object_at(&document, "/components/messages").keys().cloned().collect();
        assert_eq!(seen, all, "every message is sent or received by an operation");
    }

    #[test]
    fn every_frame_type_has_a_message() {
        let document = document();
        for (direction, types) in [("server", SERVER_FRAME_TYPES), ("client", CLIENT_FRAME_TYPES)] {
            for &frame_type in types {
                assert!(!messages_of_type(&document, frame_type).is_empty(), "no message for {frame_type}");
                let message = at(&document, &message_key(direction, frame_type));
                assert_eq!(message["payload"]["properties"]["type"]["const"], frame_type);
                assert_eq!(message["name"], frame_type);
            }
        }
        let documented = object_at(&document, "/components/messages").len();
        assert_eq!(documented, SERVER_FRAME_TYPES.len() + CLIENT_FRAME_TYPES.len(), "no other messages");
    }

    #[test]
    fn the_frame_type_lists_are_the_specs() {
        let server: BTreeSet<&str> = SERVER_FRAME_TYPES.iter().copied().collect();
        let client: BTreeSet<&str> = CLIENT_FRAME_TYPES.iter().copied().collect();
        assert_eq!(server.len(), SERVER_FRAME_TYPES.len(), "duplicates");
        assert_eq!(client.len(), CLIENT_FRAME_TYPES.len(), "duplicates");
        assert_eq!(
            server,
            BTreeSet::from([
                "ready",
                "resync_required",
                "balance_updated",
                "profile_updated",
                "session_revoked",
                "typing_indicator",
                "user_online",
                "user_offline",
                "signal",
                "token_expiring",
                "authenticated",
                "presence",
                "pong",
                "error",
            ])
        );
        assert_eq!(
            client,
            BTreeSet::from([
                "auth",
                "ping",
                "typing",
                "presence_subscribe",
                "presence_unsubscribe",
                "signal"
            ])
        );
    }

    #[test]
    fn durable_frames_have_a_string_cursor_and_ephemeral_ones_null() {
        let document = document();
        let cursor_type = |frame_type: &str| {
            at(&document, &format!("{}/payload/properties/cursor/type", message_key("server", frame_type)))
                .clone()
        };
        for positioned in
            ["balance_updated", "profile_updated", "session_revoked", "ready", "resync_required"]
        {
            assert_eq!(cursor_type(positioned), "string", "{positioned}");
        }
        for ephemeral in [
            "typing_indicator",
            "user_online",
            "user_offline",
            "signal",
            "token_expiring",
            "authenticated",
            "presence",
            "pong",
            "error",
        ] {
            assert_eq!(cursor_type(ephemeral), "null", "{ephemeral}");
        }
        for durable in ["balance_updated", "profile_updated", "session_revoked"] {
            let message = at(&document, &message_key("server", durable));
            assert_eq!(message["tags"], json!([{ "$ref": "#/components/tags/durable" }]), "{durable}");
            let description = message["description"].as_str().unwrap_or_default();
            assert!(
                description.contains("cursor") && description.contains("replayed on resume"),
                "{durable}"
            );
        }
    }

    #[test]
    fn the_close_codes_are_documented() {
        let document = document();
        let close_codes = object_at(&document, "/channels/ws/x-close-codes");
        let codes: BTreeSet<&str> = close_codes.keys().map(String::as_str).collect();
        assert_eq!(
            codes,
            BTreeSet::from(["1000", "1001", "1003", "1009", "4001", "4002", "4003", "4004", "4005"])
        );
        let description = at(&document, "/channels/ws/description").as_str().unwrap_or_default();
        for (code, entry) in close_codes {
            assert!(entry["name"].as_str().is_some_and(|name| !name.is_empty()), "{code}");
            assert!(entry["description"].as_str().is_some_and(|meaning| !meaning.is_empty()), "{code}");
            assert!(description.contains(&format!("`{code}`")), "{code} is not in the channel description");
        }
        let names: Vec<&Value> =
            ["4001", "4002", "4003", "4004", "4005"].iter().map(|code| &close_codes[*code]["name"]).collect();
        assert_eq!(
            names,
            ["unauthorized", "token_expired", "session_revoked", "idle_timeout", "slow_consumer"]
        );
    }

    #[test]
    fn every_error_code_is_listed() {
        let document = document();
        let codes =
            at(&document, "/components/messages/server_error/payload/properties/data/properties/code/enum");
        let codes: BTreeSet<&str> =
            codes.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        assert_eq!(
            codes,
            BTreeSet::from([
                "malformed_frame",
                "unknown_frame_type",
                "frame_too_large",
                "invalid_field",
                "rate_limited",
                "unknown_user",
                "presence_forbidden",
                "token_user_mismatch",
                "token_invalid",
                "self_target",
            ])
        );
    }

    #[test]
    fn the_query_parameters_are_token_and_since() {
        let document = document();
        let query = at(&document, "/channels/ws/bindings/ws/query");
        assert_eq!(query["type"], "object");
        let parameters: Vec<&str> = object_at(query, "/properties").keys().map(String::as_str).collect();
        assert_eq!(parameters, ["since", "token"]);
        assert!(query.get("required").is_none(), "both are optional: the token may come in an auth frame");
    }

    #[test]
    fn the_description_covers_the_protocol() {
        let document = document();
        let description = at(&document, "/info/description").as_str().unwrap_or_default();
        for needle in [
            "send",
            "receive",
            "since",
            "ready",
            "resync_required",
            "7 days",
            "20 s",
            "60 s",
            "256",
            "4005",
            "16 KiB",
            "frame_too_large",
            "64 KiB",
            "1009",
            "20 frames per second",
            "rate_limited",
            "auth",
        ] {
            assert!(description.contains(needle), "the description does not mention {needle:?}");
        }
    }

    /// A validator of a message's payload: JSON Schema draft 07, formats (`date-time`) checked.
    fn validator(schema: &Value) -> jsonschema::Validator {
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("not a valid schema: {e}\n{schema:#}"))
    }

    #[test]
    fn every_payload_schema_is_json_schema_draft_07() {
        let document = document();
        for (key, message) in object_at(&document, "/components/messages") {
            let schema = &message["payload"];
            if let Err(error) = jsonschema::draft7::meta::validate(schema) {
                panic!("the payload schema of {key} is not draft 07: {error}\n{schema:#}");
            }
        }
    }

    #[test]
    fn every_example_matches_its_payload_schema() {
        let document = document();
        for (key, message) in object_at(&document, "/components/messages") {
            let examples = message["examples"].as_array().unwrap_or_else(|| panic!("{key} has no examples"));
            assert!(!examples.is_empty(), "{key} has no examples");
            let validator = validator(&message["payload"]);
            for example in examples {
                let problems: Vec<String> =
                    validator.iter_errors(&example["payload"]).map(|error| error.to_string()).collect();
                assert!(problems.is_empty(), "example {} of {key}: {problems:#?}", example["name"]);
            }
        }
    }

    /// The client examples are frames the gateway accepts.
    #[test]
    fn every_client_example_is_accepted() {
        let document = document();
        for (key, message) in object_at(&document, "/components/messages") {
            if !key.starts_with("client_") {
                continue;
            }
            for example in message["examples"].as_array().into_iter().flatten() {
                let frame = example["payload"].to_string();
                if let Err(error) = super::super::protocol::parse(&frame) {
                    panic!("example {} of {key} is refused: {error:?}", example["name"]);
                }
            }
        }
    }

    /// The check catches what it should (the generated schemas are strict), so that the
    /// examples test means something.
    #[test]
    fn the_example_check_finds_mistakes() {
        let document = document();
        let balance = validator(at(&document, "/components/messages/server_balance_updated/payload"));
        let valid = json!({
            "type": "balance_updated",
            "cursor": "1",
            "data": { "available": 1, "held": 0, "currency": "LOOP", "sequence": 1 },
        });
        assert!(balance.is_valid(&valid), "{valid}");

        // Each breaks the valid frame in one way.
        type Mistake = (&'static str, fn(&mut Value));
        let mistakes: [Mistake; 6] = [
            ("null cursor", |frame| frame["cursor"] = Value::Null),
            ("missing field", |frame| {
                frame["data"].as_object_mut().map(|data| data.remove("sequence"));
            }),
            ("fraction", |frame| frame["data"]["available"] = json!(1.5)),
            ("other type", |frame| frame["type"] = json!("balance_update")),
            ("extra field", |frame| frame["data"]["extra"] = json!(1)),
            ("extra envelope field", |frame| frame["extra"] = json!(1)),
        ];
        for (mistake, make) in mistakes {
            let mut wrong = valid.clone();
            make(&mut wrong);
            assert!(!balance.is_valid(&wrong), "{mistake}: {wrong} passed");
        }

        let presence = validator(at(&document, "/components/messages/server_presence/payload"));
        let snapshot = |last_seen: Value| json!({ "type": "presence", "cursor": null, "data": { "userId": GRACE, "status": "online", "lastSeen": last_seen } });
        assert!(presence.is_valid(&snapshot(Value::Null)));
        assert!(!presence.is_valid(&snapshot(json!("yesterday"))), "date-time is checked");
        let subscribe = validator(at(&document, "/components/messages/client_presence_subscribe/payload"));
        let watch =
            |user_ids: Vec<Uuid>| json!({ "type": "presence_subscribe", "data": { "userIds": user_ids } });
        assert!(subscribe.is_valid(&watch(vec![GRACE])));
        assert!(!subscribe.is_valid(&watch(Vec::new())), "at least one user");
        assert!(!subscribe.is_valid(&watch(vec![GRACE; 101])), "at most 100 users");
    }
}
