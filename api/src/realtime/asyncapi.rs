//! The AsyncAPI 3.0.0 document of the realtime gateway (`GET /api/ws`), served at
//! `/api/asyncapi.json`.
//!
//! The WebSocket protocol has one channel carrying JSON text frames
//! `{"type": <name>, "cursor": <string|null>, "data": {...}}` both ways. Each frame type is one
//! message in `components.messages`, keyed `server_<type>` or `client_<type>` (the two sides
//! share the type name `signal`), with its exact payload schema and an example of the wire frame.
//! Operations are written from the gateway's point of view, as AsyncAPI 3 wants: the gateway
//! `send`s server frames and `receive`s client frames, one operation per frame type.
//!
//! What AsyncAPI has no field for is kept machine-readable all the same: the close codes are the
//! channel's `x-close-codes` extension (and listed in its description), the error codes are the
//! `enum` of the `error` frame's `code`.
//!
//! The document is assembled from small pieces because `serde_json::json!` recurses once per
//! token tree and a single literal of the whole document would exceed the compiler's recursion
//! limit; it also keeps each frame's definition in one place.

use serde_json::{Map, Value, json};

/// Every frame type the gateway sends.
pub const SERVER_FRAME_TYPES: &[&str] = &[
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
];

/// Every frame type a client may send.
pub const CLIENT_FRAME_TYPES: &[&str] =
    &["auth", "ping", "typing", "presence_subscribe", "presence_unsubscribe", "signal"];

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

/// The `code`s of `error` frames, with what each means. The connection stays open after all.
const ERROR_CODES: &[(&str, &str)] = &[
    ("malformed_frame", "The frame is not JSON, or not of the frame's shape."),
    ("unknown_frame_type", "The frame's `type` is not a client frame type."),
    ("frame_too_large", "The frame is over the 16 KiB application limit (over 64 KiB closes with 1009)."),
    ("invalid_field", "A field of `data` is missing or invalid."),
    ("rate_limited", "The client sends more than 20 frames per second, sustained."),
    ("unknown_user", "The frame names a user that does not exist."),
    (
        "presence_forbidden",
        "The user's presence is not visible to the caller (privacy not `public`); also sent, naming \
         them, when a watched user turns private, which ends that watch.",
    ),
    ("token_user_mismatch", "A refresh `auth` frame carries a token of another user."),
    ("token_invalid", "A refresh `auth` frame's token is invalid; the connection keeps its old token."),
    ("self_target", "The frame targets the caller themself."),
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
        "info": info(),
        "defaultContentType": "application/json",
        "servers": servers(),
        "channels": { CHANNEL: channel(channel_messages) },
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": security_schemes(),
            "tags": tags(),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Info, servers, channel
// ---------------------------------------------------------------------------------------------

fn info() -> Value {
    json!({
        "title": "Loopync realtime",
        "version": env!("CARGO_PKG_VERSION"),
        "description": INFO_DESCRIPTION,
        "license": { "name": "MIT" },
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

fn servers() -> Value {
    json!({
        "local": {
            "host": "localhost:8080",
            "protocol": "ws",
            "title": "Local gateway",
            "description": "A local `loopync serve` (`LOOPYNC_HTTP_ADDR`, default `0.0.0.0:8080`). \
                            Deployments behind TLS use `wss`.",
            "security": [reference("#/components/securitySchemes/accessToken")],
        },
    })
}

fn security_schemes() -> Value {
    json!({
        "accessToken": {
            "type": "httpApiKey",
            "name": "token",
            "in": "query",
            "description": "The access JWT (as from `POST /api/auth/login`) in the `token` query \
                            parameter. Alternatively, connect without it and send it in the first \
                            frame, `auth`, within 5 s.",
        },
    })
}

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
        "bindings": { "ws": websocket_binding() },
        "x-close-codes": close_codes,
    })
}

/// The `ws` channel binding: the upgrade request and its query parameters.
fn websocket_binding() -> Value {
    json!({
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
                    "description": "The cursor of the last durable frame processed: the missed \
                                    durable frames are replayed after `ready`.",
                },
            },
        },
        "bindingVersion": "0.1.0",
    })
}

/// Message tags: which frames are durable, which ephemeral, which belong to the session.
fn tags() -> Value {
    json!({
        "session": {
            "name": "session",
            "description": "Frames about the connection itself: a cursor that says where the stream \
                            starts, not stored.",
        },
        "durable": {
            "name": "durable",
            "description": "Stored with a cursor, increasing per user; replayed on resume with `since`.",
        },
        "ephemeral": {
            "name": "ephemeral",
            "description": "Cursor null; never stored, not replayed.",
        },
        "client": {
            "name": "client",
            "description": "Sent by the client; only `type` and `data` are needed.",
        },
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

/// One wire frame, shown as the client sees or sends it.
struct Example {
    name: &'static str,
    summary: &'static str,
    payload: Value,
}

impl Example {
    fn to_json(&self) -> Value {
        json!({ "name": self.name, "summary": self.summary, "payload": self.payload })
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
    title: &'static str,
    summary: &'static str,
    description: &'static str,
    sender: Sender,
    /// The schema of `data`.
    data: Value,
    examples: Vec<Example>,
}

impl Frame {
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
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "contentType": "application/json",
            "tags": [reference(&format!("#/components/tags/{tag}"))],
            "payload": payload,
            "examples": self.examples.iter().map(Example::to_json).collect::<Vec<_>>(),
        })
    }

    /// The gateway's operation on this frame.
    fn operation(&self) -> Value {
        let channel = reference(&format!("#/channels/{CHANNEL}"));
        let channel_message = |key: &str| reference(&format!("#/channels/{CHANNEL}/messages/{key}"));
        let replies = match self.sender {
            Sender::Server(_) => &[][..],
            Sender::Client { replies } => replies,
        };
        let mut operation = json!({
            "action": self.action(),
            "channel": channel,
            "title": format!("{} {}", pascal_case(self.action()), self.name),
            "summary": self.summary,
            "messages": [channel_message(&self.key())],
        });
        if !replies.is_empty() {
            let messages: Vec<Value> =
                replies.iter().map(|name| channel_message(&format!("server_{name}"))).collect();
            operation["reply"] = json!({ "channel": channel, "messages": messages });
        }
        operation
    }
}

fn server_frames() -> Vec<Frame> {
    vec![
        ready(),
        resync_required(),
        balance_updated(),
        profile_updated(),
        session_revoked(),
        typing_indicator(),
        user_online(),
        user_offline(),
        server_signal(),
        token_expiring(),
        authenticated(),
        presence(),
        pong(),
        error(),
    ]
}

fn client_frames() -> Vec<Frame> {
    vec![auth(), ping(), typing(), presence_subscribe(), presence_unsubscribe(), client_signal()]
}

// Example values, shared so that the examples tell one consistent story.
const ADA: &str = "0192f3a1-6b2c-7d4e-8f10-2a3b4c5d6e7f";
const GRACE: &str = "0192f3a1-9c8d-7e6f-a012-3b4c5d6e7f80";
const CONNECTION: &str = "0192f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
const EXPIRES_AT: &str = "2025-11-21T18:15:00Z";

// --- Session --------------------------------------------------------------------------------

fn ready() -> Frame {
    Frame {
        name: "ready",
        title: "Ready",
        summary: "The connection is authenticated; says where its stream starts.",
        description: "The first frame of every connection, once the token (query `token` or the first \
                      `auth` frame) is accepted. Durable frames that follow have greater cursors than \
                      `cursor`. With an honoured `since` the missed durable frames follow, in order, \
                      then live ones; with a `since` that cannot be honoured, `resync_required` follows.",
        sender: Sender::Server(Cursor::Session(
            "Where this connection starts. Without `since`: the user's current head. With an honoured \
             `since`: equal to it. With a `since` that cannot be honoured: the head.",
        )),
        data: exact_object(
            vec![
                ("userId", user_id("The authenticated user.")),
                (
                    "connectionId",
                    string(
                        "This connection: the `fromConnection` of its `signal` frames, as others see them.",
                    ),
                ),
                (
                    "expiresAt",
                    timestamp("When the access token expires; `token_expiring` comes ~30 s before."),
                ),
                ("resumed", boolean("Whether `since` was honoured (the missed durable frames follow).")),
                (
                    "heartbeatSeconds",
                    json!({
                        "type": "integer",
                        "minimum": 1,
                        "description": "How often the server sends a WebSocket ping, in seconds (20).",
                    }),
                ),
            ],
            &["userId", "connectionId", "expiresAt", "resumed", "heartbeatSeconds"],
        ),
        examples: vec![
            Example {
                name: "fresh",
                summary: "Connected without `since`: the stream starts at the user's head.",
                payload: json!({
                    "type": "ready",
                    "cursor": "1041",
                    "data": {
                        "userId": ADA, "connectionId": CONNECTION, "expiresAt": EXPIRES_AT,
                        "resumed": false, "heartbeatSeconds": 20,
                    },
                }),
            },
            Example {
                name: "resumed",
                summary: "Connected with `since=1037`: frames 1038 onwards follow.",
                payload: json!({
                    "type": "ready",
                    "cursor": "1037",
                    "data": {
                        "userId": ADA, "connectionId": CONNECTION, "expiresAt": EXPIRES_AT,
                        "resumed": true, "heartbeatSeconds": 20,
                    },
                }),
            },
        ],
    }
}

fn resync_required() -> Frame {
    Frame {
        name: "resync_required",
        title: "Resync required",
        summary: "The `since` cursor cannot be honoured: refetch over HTTP, carry on from the head.",
        description: "Sent right after `ready` (whose cursor is then the head) when `since` is older than \
                      the retention window (7 days by default), pruned, unknown or malformed. The \
                      missed durable frames are not replayed: refetch the state over HTTP and keep \
                      the head as the last cursor.",
        sender: Sender::Server(Cursor::Session("The user's head, as in `data.cursor`.")),
        data: exact_object(
            vec![
                (
                    "reason",
                    json!({
                        "type": "string",
                        "enum": ["cursor_expired", "unknown_cursor"],
                        "description": "`cursor_expired`: older than the retention window (pruned). \
                                        `unknown_cursor`: not a cursor of this user, or malformed.",
                    }),
                ),
                ("cursor", string("The user's head: the cursor to carry on from.")),
            ],
            &["reason", "cursor"],
        ),
        examples: vec![Example {
            name: "expired",
            summary: "The client was offline for longer than the retention window.",
            payload: json!({
                "type": "resync_required",
                "cursor": "1041",
                "data": { "reason": "cursor_expired", "cursor": "1041" },
            }),
        }],
    }
}

// --- Durable --------------------------------------------------------------------------------

fn balance_updated() -> Frame {
    Frame {
        name: "balance_updated",
        title: "Balance updated",
        summary: "The user's LoopPay wallet balance changed.",
        description: "Durable: has a cursor and is replayed on resume. Carries the balance as of the \
                      wallet's `sequence`, after each batch of changes (not every step to it).",
        sender: Sender::Server(Cursor::Durable),
        data: exact_object(
            vec![
                ("available", minor_units("What can be spent, in minor units (100 = 1.00 LOOP).")),
                ("held", minor_units("Reserved by holds until captured, voided or expired, in minor units.")),
                ("currency", json!({ "type": "string", "description": "The ledger's currency, `LOOP`." })),
                (
                    "sequence",
                    json!({
                        "type": "integer",
                        "format": "int64",
                        "description": "The wallet's last event sequence: a balance with a greater \
                                        sequence is newer (e.g. than one read over HTTP).",
                    }),
                ),
            ],
            &["available", "held", "currency", "sequence"],
        ),
        examples: vec![Example {
            name: "transfer_received",
            summary: "12.50 LOOP arrived; 3.00 are held by a pending payment.",
            payload: json!({
                "type": "balance_updated",
                "cursor": "1042",
                "data": { "available": 9750, "held": 300, "currency": "LOOP", "sequence": 17 },
            }),
        }],
    }
}

fn profile_updated() -> Frame {
    Frame {
        name: "profile_updated",
        title: "Profile updated",
        summary: "The user's own public profile card changed (e.g. edited on another device).",
        description: "Durable: has a cursor and is replayed on resume. Carries the card as it is now.",
        sender: Sender::Server(Cursor::Durable),
        data: exact_object(
            vec![
                ("userId", user_id("The user (the connection's own).")),
                (
                    "handle",
                    json!({
                        "type": "string",
                        "minLength": 3,
                        "maxLength": 30,
                        "pattern": "^[a-z0-9_.]{3,30}$",
                        "description": "The public handle, lowercase, without `@`.",
                    }),
                ),
                ("name", string("The display name.")),
                (
                    "avatar",
                    json!({
                        "type": ["string", "null"],
                        "description": "An `https://` URL or a Loopync media path; null when none.",
                    }),
                ),
            ],
            &["userId", "handle", "name", "avatar"],
        ),
        examples: vec![Example {
            name: "renamed",
            summary: "Ada changed her display name on her laptop.",
            payload: json!({
                "type": "profile_updated",
                "cursor": "1043",
                "data": { "userId": ADA, "handle": "ada_l", "name": "Ada King", "avatar": null },
            }),
        }],
    }
}

fn session_revoked() -> Frame {
    Frame {
        name: "session_revoked",
        title: "Session revoked",
        summary: "One of the user's sessions (signed-in devices) ended.",
        description: "Durable: has a cursor and is replayed on resume. Every device of the user gets \
                      it; the sockets of the ended session are then closed with 4003.",
        sender: Sender::Server(Cursor::Durable),
        data: exact_object(
            vec![
                (
                    "sessionId",
                    json!({ "type": "string", "format": "uuid", "description": "The session that ended." }),
                ),
                (
                    "reason",
                    json!({
                        "type": "string",
                        "enum": ["logout", "revoked", "token_reused", "credentials_changed"],
                        "description": "Why: signed out, revoked from the devices list, a refresh token \
                                        presented twice, or the password changed.",
                    }),
                ),
            ],
            &["sessionId", "reason"],
        ),
        examples: vec![Example {
            name: "signed_out_elsewhere",
            summary: "Ada revoked her phone's session from her laptop.",
            payload: json!({
                "type": "session_revoked",
                "cursor": "1044",
                "data": { "sessionId": "01935f1c-2b1e-7c3a-9d4e-5f6a7b8c9d0e", "reason": "revoked" },
            }),
        }],
    }
}

// --- Ephemeral ------------------------------------------------------------------------------

fn typing_indicator() -> Frame {
    Frame {
        name: "typing_indicator",
        title: "Typing indicator",
        summary: "Another user started or stopped typing to this user.",
        description: "Ephemeral. Relays another user's `typing` frame; repeats of the same state within \
                      2 s are dropped.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![("from", user_id("Who is typing.")), ("isTyping", boolean("Whether they are typing now."))],
            &["from", "isTyping"],
        ),
        examples: vec![Example {
            name: "started",
            summary: "Grace is typing to Ada.",
            payload: json!({
                "type": "typing_indicator",
                "cursor": null,
                "data": { "from": GRACE, "isTyping": true },
            }),
        }],
    }
}

fn user_online() -> Frame {
    Frame {
        name: "user_online",
        title: "User online",
        summary: "A watched user came online.",
        description: "Ephemeral. Only for users this connection watches with `presence_subscribe`.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(vec![("userId", user_id("The user who came online."))], &["userId"]),
        examples: vec![Example {
            name: "online",
            summary: "Grace came online.",
            payload: json!({ "type": "user_online", "cursor": null, "data": { "userId": GRACE } }),
        }],
    }
}

fn user_offline() -> Frame {
    Frame {
        name: "user_offline",
        title: "User offline",
        summary: "A watched user went offline.",
        description: "Ephemeral. Only for users this connection watches with `presence_subscribe`.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![
                ("userId", user_id("The user who went offline.")),
                ("lastSeen", timestamp("When the user was last seen online.")),
            ],
            &["userId", "lastSeen"],
        ),
        examples: vec![Example {
            name: "offline",
            summary: "Grace went offline.",
            payload: json!({
                "type": "user_offline",
                "cursor": null,
                "data": { "userId": GRACE, "lastSeen": "2025-11-21T18:02:11Z" },
            }),
        }],
    }
}

fn server_signal() -> Frame {
    Frame {
        name: "signal",
        title: "Signal",
        summary: "A WebRTC signalling message (offer, answer, ICE candidate) from another user.",
        description: "Ephemeral. Relays another user's `signal` frame to every connected device of its \
                      target; `signal` is passed through as the sender wrote it.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![
                ("from", user_id("The sender.")),
                ("fromConnection", string("The sender's connection (its `ready.data.connectionId`).")),
                ("signal", json!({ "description": "The sender's signalling payload: any JSON." })),
            ],
            &["from", "fromConnection", "signal"],
        ),
        examples: vec![Example {
            name: "offer",
            summary: "Grace offers a call.",
            payload: json!({
                "type": "signal",
                "cursor": null,
                "data": {
                    "from": GRACE,
                    "fromConnection": "0192f3b2-4d5e-7f60-8a1b-2c3d4e5f6a7b",
                    "signal": { "kind": "offer", "sdp": "v=0\r\no=- 46117314 2 IN IP4 127.0.0.1\r\n" },
                },
            }),
        }],
    }
}

fn token_expiring() -> Frame {
    Frame {
        name: "token_expiring",
        title: "Token expiring",
        summary: "The access token expires in about 30 s: send a refreshed one in an `auth` frame.",
        description: "Ephemeral. Refresh over HTTP (`POST /api/auth/refresh`) and send the new access \
                      token in an `auth` frame; without one the connection is closed with 4002 at \
                      `expiresAt`.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(vec![("expiresAt", timestamp("When the access token expires."))], &["expiresAt"]),
        examples: vec![Example {
            name: "expiring",
            summary: "The token expires in 30 s.",
            payload: json!({ "type": "token_expiring", "cursor": null, "data": { "expiresAt": EXPIRES_AT } }),
        }],
    }
}

fn authenticated() -> Frame {
    Frame {
        name: "authenticated",
        title: "Authenticated",
        summary: "The refreshed token of an `auth` frame was accepted.",
        description: "Ephemeral. The reply to an `auth` frame on an already authenticated connection.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![("expiresAt", timestamp("When the new access token expires."))],
            &["expiresAt"],
        ),
        examples: vec![Example {
            name: "refreshed",
            summary: "The connection now runs on a token valid for 15 more minutes.",
            payload: json!({
                "type": "authenticated",
                "cursor": null,
                "data": { "expiresAt": "2025-11-21T18:30:00Z" },
            }),
        }],
    }
}

fn presence() -> Frame {
    Frame {
        name: "presence",
        title: "Presence",
        summary: "A user's presence now: the reply to `presence_subscribe`, one per user.",
        description: "Ephemeral. Changes after it come as `user_online` and `user_offline`.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![
                ("userId", user_id("The watched user.")),
                (
                    "status",
                    json!({
                        "type": "string",
                        "enum": ["online", "offline"],
                        "description": "Whether the user is online.",
                    }),
                ),
                (
                    "lastSeen",
                    json!({
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When the user was last seen online (RFC 3339); null when not known.",
                    }),
                ),
            ],
            &["userId", "status", "lastSeen"],
        ),
        examples: vec![Example {
            name: "offline",
            summary: "Grace is offline, last seen a few minutes ago.",
            payload: json!({
                "type": "presence",
                "cursor": null,
                "data": { "userId": GRACE, "status": "offline", "lastSeen": "2025-11-21T18:02:11Z" },
            }),
        }],
    }
}

fn pong() -> Frame {
    Frame {
        name: "pong",
        title: "Pong",
        summary: "The reply to a client `ping`.",
        description: "Ephemeral.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(vec![], &[]),
        examples: vec![Example {
            name: "pong",
            summary: "Answering a ping.",
            payload: json!({ "type": "pong", "cursor": null, "data": {} }),
        }],
    }
}

fn error() -> Frame {
    let codes: Vec<&str> = ERROR_CODES.iter().map(|&(code, _)| code).collect();
    let meanings: Vec<String> =
        ERROR_CODES.iter().map(|&(code, meaning)| format!("- `{code}`: {meaning}")).collect();
    Frame {
        name: "error",
        title: "Error",
        summary: "A client frame was refused; the connection stays open.",
        description: "Ephemeral. Answers the offending client frame; nothing else happens for it.",
        sender: Sender::Server(Cursor::Ephemeral),
        data: exact_object(
            vec![
                (
                    "code",
                    json!({
                        "type": "string",
                        "enum": codes,
                        "description": format!("Stable, machine-readable:\n{}", meanings.join("\n")),
                    }),
                ),
                ("message", string("What went wrong, for people.")),
                ("type", string("The offending frame's `type`, when known.")),
            ],
            &["code", "message"],
        ),
        examples: vec![
            Example {
                name: "self_target",
                summary: "The client signalled its own user.",
                payload: json!({
                    "type": "error",
                    "cursor": null,
                    "data": { "code": "self_target", "message": "cannot signal yourself", "type": "signal" },
                }),
            },
            Example {
                name: "malformed",
                summary: "The frame was not JSON.",
                payload: json!({
                    "type": "error",
                    "cursor": null,
                    "data": { "code": "malformed_frame", "message": "frames are JSON objects" },
                }),
            },
        ],
    }
}

// --- Client ---------------------------------------------------------------------------------

fn auth() -> Frame {
    Frame {
        name: "auth",
        title: "Authenticate",
        summary: "Authenticates the connection, or refreshes its token without reconnecting.",
        description: "As the first frame when the URL has no `token` (within 5 s, else close 4001): \
                      answered with `ready`, then `resync_required` if `since` cannot be honoured. \
                      Later, a refreshed access token of the same user: answered with \
                      `authenticated`, or with error `token_user_mismatch` or `token_invalid` (the \
                      connection keeps its old token).",
        data: object(
            vec![
                ("token", json!({ "type": "string", "minLength": 1, "description": "The access JWT." })),
                (
                    "since",
                    string(
                        "First frame only: the cursor of the last durable frame processed, to resume from.",
                    ),
                ),
            ],
            &["token"],
        ),
        sender: Sender::Client { replies: &["ready", "resync_required", "authenticated"] },
        examples: vec![
            Example {
                name: "first_frame",
                summary: "Authenticating and resuming after cursor 1037.",
                payload: json!({
                    "type": "auth",
                    "data": {
                        "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
                        "since": "1037",
                    },
                }),
            },
            Example {
                name: "refresh",
                summary: "Refreshing the token after `token_expiring`.",
                payload: json!({
                    "type": "auth",
                    "data": { "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIuLi4ifQ.bmV3c2lnbmF0dXJl" },
                }),
            },
        ],
    }
}

fn ping() -> Frame {
    Frame {
        name: "ping",
        title: "Ping",
        summary: "Checks the connection; answered with `pong`.",
        description: "For clients that cannot see WebSocket control frames. Any frame counts as \
                      activity for the 60 s idle timeout.",
        data: object(vec![], &[]),
        sender: Sender::Client { replies: &["pong"] },
        examples: vec![Example {
            name: "ping",
            summary: "A ping.",
            payload: json!({ "type": "ping", "data": {} }),
        }],
    }
}

fn typing() -> Frame {
    Frame {
        name: "typing",
        title: "Typing",
        summary: "Tells another user that this one started or stopped typing.",
        description: "The other user's devices get `typing_indicator`. Repeats of the same state within \
                      2 s are dropped, so clients may send it on every keystroke.",
        data: object(
            vec![("to", user_id("The user being typed to.")), ("isTyping", boolean("Whether typing now."))],
            &["to", "isTyping"],
        ),
        sender: Sender::Client { replies: &[] },
        examples: vec![Example {
            name: "started",
            summary: "Ada starts typing to Grace.",
            payload: json!({ "type": "typing", "data": { "to": GRACE, "isTyping": true } }),
        }],
    }
}

fn presence_subscribe() -> Frame {
    Frame {
        name: "presence_subscribe",
        title: "Subscribe to presence",
        summary: "Watches users' presence: one `presence` per user now, then `user_online` / `user_offline`.",
        description: "Errors: `invalid_field` (e.g. more than 100 ids), `unknown_user`, \
                      `presence_forbidden` (the user's presence is not public; sent later, \
                      ending the watch, if a watched user turns private).",
        data: object(
            vec![(
                "userIds",
                json!({
                    "type": "array",
                    "maxItems": 100,
                    "items": user_id("A user to watch."),
                    "description": "At most 100 users.",
                }),
            )],
            &["userIds"],
        ),
        sender: Sender::Client { replies: &["presence"] },
        examples: vec![Example {
            name: "watch",
            summary: "Ada watches Grace.",
            payload: json!({ "type": "presence_subscribe", "data": { "userIds": [GRACE] } }),
        }],
    }
}

fn presence_unsubscribe() -> Frame {
    Frame {
        name: "presence_unsubscribe",
        title: "Unsubscribe from presence",
        summary: "Stops watching users' presence.",
        description: "No more `user_online` / `user_offline` for these users on this connection.",
        data: object(
            vec![("userIds", json!({ "type": "array", "items": user_id("A user to stop watching.") }))],
            &["userIds"],
        ),
        sender: Sender::Client { replies: &[] },
        examples: vec![Example {
            name: "unwatch",
            summary: "Ada stops watching Grace.",
            payload: json!({ "type": "presence_unsubscribe", "data": { "userIds": [GRACE] } }),
        }],
    }
}

fn client_signal() -> Frame {
    Frame {
        name: "signal",
        title: "Signal",
        summary: "Relays a WebRTC signalling message to every connected device of another user.",
        description: "At most 8 KiB. The target's devices get `signal` with `from` and `fromConnection`. \
                      Signalling oneself is refused with `self_target`.",
        data: object(
            vec![
                ("to", user_id("The user to signal.")),
                (
                    "signal",
                    json!({ "type": "object", "description": "The signalling payload, relayed as is." }),
                ),
            ],
            &["to", "signal"],
        ),
        sender: Sender::Client { replies: &[] },
        examples: vec![Example {
            name: "answer",
            summary: "Ada answers Grace's offer.",
            payload: json!({
                "type": "signal",
                "data": {
                    "to": GRACE,
                    "signal": { "kind": "answer", "sdp": "v=0\r\no=- 28908445 2 IN IP4 127.0.0.1\r\n" },
                },
            }),
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// Schema helpers
// ---------------------------------------------------------------------------------------------

/// A server frame's `data`: exactly these properties.
fn exact_object(properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let mut schema = object(properties, required);
    schema["additionalProperties"] = Value::Bool(false);
    schema
}

/// A client frame's `data`: these properties at least.
fn object(properties: Vec<(&str, Value)>, required: &[&str]) -> Value {
    let properties: Map<String, Value> =
        properties.into_iter().map(|(name, schema)| (name.to_owned(), schema)).collect();
    json!({ "type": "object", "required": required, "properties": properties })
}

fn user_id(description: &str) -> Value {
    json!({ "type": "string", "format": "uuid", "description": description })
}

fn timestamp(description: &str) -> Value {
    json!({ "type": "string", "format": "date-time", "description": format!("{description} RFC 3339.") })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

fn minor_units(description: &str) -> Value {
    json!({ "type": "integer", "format": "int64", "description": description })
}

fn reference(pointer: &str) -> Value {
    json!({ "$ref": pointer })
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

    #[test]
    fn every_example_matches_its_payload_schema() {
        let document = document();
        for (key, message) in object_at(&document, "/components/messages") {
            let examples = message["examples"].as_array().unwrap_or_else(|| panic!("{key} has no examples"));
            assert!(!examples.is_empty(), "{key} has no examples");
            for example in examples {
                let mut problems = Vec::new();
                check(&message["payload"], &example["payload"], key, &mut problems);
                assert!(problems.is_empty(), "example {} of {key}: {problems:#?}", example["name"]);
            }
        }
    }

    /// The validator catches what it should, so that the examples test means something.
    #[test]
    fn the_example_check_finds_mistakes() {
        let document = document();
        let schema = at(&document, "/components/messages/server_balance_updated/payload");
        let valid = json!({
            "type": "balance_updated",
            "cursor": "1",
            "data": { "available": 1, "held": 0, "currency": "LOOP", "sequence": 1 },
        });
        let mut problems = Vec::new();
        check(schema, &valid, "valid", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");

        // Each breaks the valid frame in one way.
        type Mistake = (&'static str, fn(&mut Value));
        let mistakes: [Mistake; 5] = [
            ("null cursor", |frame| frame["cursor"] = Value::Null),
            ("missing field", |frame| {
                frame["data"].as_object_mut().map(|data| data.remove("sequence"));
            }),
            ("fraction", |frame| frame["data"]["available"] = json!(1.5)),
            ("other type", |frame| frame["type"] = json!("balance_update")),
            ("extra field", |frame| frame["data"]["extra"] = json!(1)),
        ];
        for (mistake, make) in mistakes {
            let mut wrong = valid.clone();
            make(&mut wrong);
            let mut problems = Vec::new();
            check(schema, &wrong, mistake, &mut problems);
            assert!(!problems.is_empty(), "{mistake}: {wrong} passed");
        }
    }

    /// The JSON Schema keywords the document uses: the validated ones and annotations.
    const KEYWORDS: &[&str] = &[
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "maxItems",
        "minimum",
        "minLength",
        "maxLength",
        "description",
        "format",
        "pattern",
    ];

    /// A small JSON Schema check covering the keywords in [`KEYWORDS`] (`format` and `pattern`
    /// are not checked). Fails on any other keyword, so that a typo cannot go unnoticed.
    fn check(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            problems.push(format!("{path}: the schema is not an object"));
            return;
        };
        for keyword in schema.keys() {
            if !KEYWORDS.contains(&keyword.as_str()) {
                problems.push(format!("{path}: unknown keyword {keyword}"));
            }
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
                other => other.as_str().into_iter().collect(),
            };
            let is = |name: &str| match name {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                _ => false,
            };
            if !types.iter().any(|name| is(name)) {
                problems.push(format!("{path}: {value} is not of type {types:?}"));
            }
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            problems.push(format!("{path}: {value} is not {expected}"));
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            problems.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
        if let (Some(minimum), Some(number)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
            && number < minimum
        {
            problems.push(format!("{path}: {number} < {minimum}"));
        }
        if let Some(text) = value.as_str() {
            let length = text.chars().count() as u64;
            if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| length < min) {
                problems.push(format!("{path}: {text:?} is too short"));
            }
            if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| length > max) {
                problems.push(format!("{path}: {text:?} is too long"));
            }
        }
        if let Some(items) = value.as_array() {
            if schema.get("maxItems").and_then(Value::as_u64).is_some_and(|max| items.len() as u64 > max) {
                problems.push(format!("{path}: too many items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}/{index}"), problems);
                }
            }
        }
        if let Some(members) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = name.as_str()
                    && !members.contains_key(name)
                {
                    problems.push(format!("{path}: {name} is missing"));
                }
            }
            for (name, member) in members {
                match properties.and_then(|properties| properties.get(name)) {
                    Some(member_schema) => check(member_schema, member, &format!("{path}/{name}"), problems),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        problems.push(format!("{path}: {name} is not allowed"));
                    }
                    None => {}
                }
            }
        }
    }
}
