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
use loopync_projections::live::{self, LiveFrame};
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::{Map, Value, json};

pub(crate) mod examples;
mod messages;
#[cfg(test)]
mod tests;

use examples::{client_frames, server_frames};
pub use messages::{Cursor, FrameDoc, Sender};

/// Every frame type the gateway itself sends. The features' durable frames come on top, as
/// their descriptors list them ([`server_frame_types`]).
pub const GATEWAY_FRAME_TYPES: &[&str] = &[
    Ready::KIND,
    ResyncRequired::KIND,
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

/// Every frame type the gateway sends: its own and the features' durable frames.
pub fn server_frame_types() -> Vec<&'static str> {
    let features = crate::features::all();
    let durable = features.iter().flat_map(|feature| feature.live_frames()).map(|frame| frame.name);
    GATEWAY_FRAME_TYPES.iter().copied().chain(durable).collect()
}

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
    (
        4006,
        "too_many_sockets",
        "The user already has as many connections to this node as allowed (20 by default), so \
         this new one is refused before `ready`; the user's open connections are left alone. \
         Close one of them before reconnecting; reconnecting at once will be refused again.",
    ),
];

/// The AsyncAPI 3 document of `GET /api/ws`, served at `/api/asyncapi.json`.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    let feature_frames =
        crate::features::all().iter().flat_map(|feature| feature.live_frames()).collect::<Vec<_>>();
    for frame in server_frames().into_iter().chain(feature_frames).chain(client_frames()) {
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

**Slow consumers.** Each connection has an outbound queue of 256 frames for durable frames and \
the gateway's replies; when it is full the connection is closed with 4005. Reconnect with \
`since` to get the durable frames missed. Ephemeral frames other users cause (`typing_indicator`, \
`signal`, `user_online`, `user_offline`) have a queue of their own (64 frames) that drops its \
oldest frames when full instead: a client that reads slowly misses some of them and is never \
closed for them. They are not ordered relative to durable frames.

**Caps.** A user may have 20 connections to one node; one more is closed with 4006. A client \
address may have 500 sockets to one node; one more upgrade is answered `429` \
`too_many_sockets` (`application/problem+json`, with `Retry-After`).

**Limits.** A frame over 16 KiB is refused with an `error` frame `frame_too_large`; over 64 KiB \
the connection is closed with 1009. Binary frames close it with 1003. More than 20 frames per \
second, sustained, are refused with `rate_limited`; so are `typing` frames over 3 a second and \
`signal` frames over 10 a second to one user (bursts of twice as many, from all of the sender's \
connections), naming that user. `typing` and `signal` go only between users who may both see each \
other (today: both profiles `public`), otherwise `target_forbidden`. `presence_subscribe` takes \
at most 100 user ids; a `signal` is at most 8 KiB; repeats of the same typing state within 2 s \
are dropped (they do not count against the limit). \
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
