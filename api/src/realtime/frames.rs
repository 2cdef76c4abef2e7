//! The gateway's own frames: the payloads (`data`) of the frames it sends besides the
//! projections' durable ones, and of the frames clients send it.
//!
//! Each is a [`LiveFrame`]: the connection builds the frames it sends and reads the ones it
//! receives through these types, and the AsyncAPI document generates their schemas from them.
//! Server frames are serialized as they are; client frames are what
//! [`protocol::parse`](super::protocol::parse) accepts (unknown fields are refused).
//!
//! The doc comments are the protocol's documentation for client authors (see [`LiveFrame`]):
//! a type's first paragraph is its message's summary, the rest its description, and each
//! field's describes that field of `data`.

use super::protocol::{MAX_PRESENCE_BATCH, codes};
use chrono::{DateTime, Utc};
use loopync_projections::live::LiveFrame;
use loopync_schemas::timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Sent by the gateway
// ---------------------------------------------------------------------------------------------

/// The connection is authenticated; says where its stream starts.
///
/// The first frame of every connection, once the token (query `token` or the first `auth`
/// frame) is accepted. Durable frames that follow have greater cursors than `cursor`. With an
/// honoured `since` the missed durable frames follow, in order, then live ones; with a `since`
/// that cannot be honoured, `resync_required` follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// The authenticated user.
    pub user_id: Uuid,
    /// This connection: the `fromConnection` of its `signal` frames, as others see them.
    pub connection_id: String,
    /// When the access token expires (RFC 3339 UTC, milliseconds); `token_expiring` comes ~30 s before.
    #[serde(serialize_with = "timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    /// Whether `since` was honoured (the missed durable frames follow).
    pub resumed: bool,
    /// How often the server sends a WebSocket ping, in seconds (20).
    #[schemars(range(min = 1))]
    pub heartbeat_seconds: u64,
}

impl LiveFrame for Ready {
    const KIND: &'static str = "ready";
}

/// The `since` cursor cannot be honoured: refetch over HTTP, carry on from the head.
///
/// Sent right after `ready` (whose cursor is then the head) when `since` is older than the
/// retention window (7 days by default), pruned, unknown or malformed. The missed durable
/// frames are not replayed: refetch the state over HTTP and keep the head as the last cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResyncRequired {
    /// Why `since` cannot be honoured.
    pub reason: ResyncReason,
    /// The user's head: the cursor to carry on from.
    pub cursor: String,
}

impl LiveFrame for ResyncRequired {
    const KIND: &'static str = "resync_required";
}

/// Why a `since` cursor cannot be honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// Older than the retention window (pruned).
    CursorExpired,
    /// Not a cursor of this user, or malformed.
    UnknownCursor,
}

/// Another user started or stopped typing to this user.
///
/// Relays another user's `typing` frame; repeats of the same state within 2 s are dropped.
/// Like every ephemeral frame another user causes, it may be dropped for a client that reads
/// too slowly (the oldest go first), never closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypingIndicator {
    /// Who is typing.
    pub from: Uuid,
    /// Whether they are typing now.
    pub is_typing: bool,
}

impl LiveFrame for TypingIndicator {
    const KIND: &'static str = "typing_indicator";
}

/// A watched user came online.
///
/// Only for users this connection watches with `presence_subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserOnline {
    /// The user who came online.
    pub user_id: Uuid,
}

impl LiveFrame for UserOnline {
    const KIND: &'static str = "user_online";
}

/// A watched user went offline.
///
/// Only for users this connection watches with `presence_subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserOffline {
    /// The user who went offline.
    pub user_id: Uuid,
    /// When the user was last seen online (RFC 3339, milliseconds).
    #[serde(serialize_with = "timestamp::serialize")]
    pub last_seen: DateTime<Utc>,
}

impl LiveFrame for UserOffline {
    const KIND: &'static str = "user_offline";
}

/// A WebRTC signalling message (offer, answer, ICE candidate) from another user.
///
/// Relays another user's `signal` frame to every connected device of its target; `signal` is
/// passed through as the sender wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelayedSignal {
    /// The sender.
    pub from: Uuid,
    /// The sender's connection (its `ready.data.connectionId`).
    pub from_connection: String,
    /// The sender's signalling payload: any JSON.
    pub signal: Value,
}

impl LiveFrame for RelayedSignal {
    const KIND: &'static str = "signal";
}

/// The access token expires in about 30 s: send a refreshed one in an `auth` frame.
///
/// Refresh over HTTP (`POST /api/auth/refresh`) and send the new access token in an `auth`
/// frame; without one the connection is closed with 4002 at `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenExpiring {
    /// When the access token expires (RFC 3339 UTC, milliseconds).
    #[serde(serialize_with = "timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
}

impl LiveFrame for TokenExpiring {
    const KIND: &'static str = "token_expiring";
}

/// The refreshed token of an `auth` frame was accepted.
///
/// The reply to an `auth` frame on an already authenticated connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authenticated {
    /// When the new access token expires (RFC 3339 UTC, milliseconds).
    #[serde(serialize_with = "timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
}

impl LiveFrame for Authenticated {
    const KIND: &'static str = "authenticated";
}

/// A user's presence now: the reply to `presence_subscribe`, one per user.
///
/// Changes after it come as `user_online` and `user_offline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceSnapshot {
    /// The watched user.
    pub user_id: Uuid,
    /// Whether the user is online.
    pub status: PresenceStatus,
    /// When the user was last seen online (RFC 3339, milliseconds); null while online or when
    /// not known.
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub last_seen: Option<DateTime<Utc>>,
}

impl LiveFrame for PresenceSnapshot {
    const KIND: &'static str = "presence";
}

/// Whether a user is online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Offline,
}

/// The reply to a client `ping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pong {}

impl LiveFrame for Pong {
    const KIND: &'static str = "pong";
}

/// A client frame was refused; the connection stays open.
///
/// Answers the offending client frame; nothing else happens for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    // Documented by `error_code_schema`, which lists every code with its meaning.
    #[schemars(schema_with = "error_code_schema")]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The offending frame's `type`, when known.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub frame_type: Option<String>,
    /// The users the refusal concerns: some of a `presence_subscribe`'s, or the target of a
    /// `typing` or `signal` refused by `target_forbidden` or the per-target `rate_limited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<Uuid>,
}

impl LiveFrame for ErrorFrame {
    const KIND: &'static str = "error";
}

/// The schema of [`ErrorFrame::code`]: one of [`codes::ALL`], each with its meaning.
fn error_code_schema(_: &mut SchemaGenerator) -> Schema {
    let codes: Vec<&str> = codes::ALL.iter().map(|&(code, _)| code).collect();
    let meanings: Vec<String> =
        codes::ALL.iter().map(|&(code, meaning)| format!("- `{code}`: {meaning}")).collect();
    json_schema!({
        "type": "string",
        "enum": codes,
        "description": format!("Stable, machine-readable:\n{}", meanings.join("\n")),
    })
}

// ---------------------------------------------------------------------------------------------
// Sent by clients
// ---------------------------------------------------------------------------------------------

/// Authenticates the connection, or refreshes its token without reconnecting.
///
/// As the first frame when the URL has no `token` (within 5 s, else close 4001): answered with
/// `ready`, then `resync_required` if `since` cannot be honoured. Later, a refreshed access
/// token of the same user: answered with `authenticated`, or with error `token_user_mismatch`
/// or `token_invalid` (the connection keeps its old token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// The access JWT.
    #[schemars(length(min = 1))]
    pub token: String,
    /// First frame only: the cursor of the last durable frame processed, to resume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl LiveFrame for Auth {
    const KIND: &'static str = "auth";
}

/// Checks the connection; answered with `pong`.
///
/// For clients that cannot see WebSocket control frames. Any frame counts as activity for the
/// 60 s idle timeout. Its `data`, if any, is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ping {}

impl LiveFrame for Ping {
    const KIND: &'static str = "ping";
}

/// Tells another user that this one started or stopped typing.
///
/// The other user's devices get `typing_indicator`. Repeats of the same state within 2 s are
/// dropped, so clients may send it on every keystroke. Errors: `self_target`, `unknown_user`,
/// `target_forbidden` (the two users may not both see each other), `rate_limited` naming the
/// target (more than 3 state changes a second to one user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Typing {
    /// The user being typed to.
    pub to: Uuid,
    /// Whether typing now.
    pub is_typing: bool,
}

impl LiveFrame for Typing {
    const KIND: &'static str = "typing";
}

/// Watches users' presence: one `presence` per user now, then `user_online` / `user_offline`.
///
/// Errors: `invalid_field` (e.g. more than 100 ids), `unknown_user`, `presence_forbidden` (the
/// user's presence is not public; sent later, ending the watch, if a watched user turns
/// private).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceSubscribe {
    /// The users to watch (at most 100).
    #[schemars(length(min = 1, max = MAX_PRESENCE_BATCH))]
    pub user_ids: Vec<Uuid>,
}

impl LiveFrame for PresenceSubscribe {
    const KIND: &'static str = "presence_subscribe";
}

/// Stops watching users' presence.
///
/// No more `user_online` / `user_offline` for these users on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceUnsubscribe {
    /// The users to stop watching (at most 100).
    #[schemars(length(min = 1, max = MAX_PRESENCE_BATCH))]
    pub user_ids: Vec<Uuid>,
}

impl LiveFrame for PresenceUnsubscribe {
    const KIND: &'static str = "presence_unsubscribe";
}

/// Relays a WebRTC signalling message to every connected device of another user.
///
/// At most 8 KiB. The target's devices get `signal` with `from` and `fromConnection`.
/// Errors: `self_target`, `unknown_user`, `target_forbidden` (the two users may not both see
/// each other), `rate_limited` naming the target (more than 10 a second to one user, bursts
/// of 20).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// The user to signal.
    pub to: Uuid,
    /// The signalling payload (a JSON object), relayed as is.
    #[schemars(with = "Map<String, Value>")]
    pub signal: Value,
}

impl LiveFrame for Signal {
    const KIND: &'static str = "signal";
}
