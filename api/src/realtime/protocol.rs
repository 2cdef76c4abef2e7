//! The wire protocol of `GET /api/ws`: frames, error codes and close codes.
//!
//! Every frame is one JSON text message `{"type", "cursor", "data"}`. Durable frames (the ones
//! projections store, such as `balance_updated`) carry the cursor a client resumes from;
//! ephemeral ones (typing, presence, signaling, protocol replies) carry `null`. Each frame's
//! `data` is a typed [`LiveFrame`] (the gateway's own are in [`frames`](super::frames)); the
//! AsyncAPI document (`asyncapi.rs`) is generated from those types for client authors.

use super::frames::{Auth, ErrorFrame, Ping, PresenceSubscribe, PresenceUnsubscribe, Signal, Typing};
use loopync_projections::live::{self, LiveFrame};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Close codes. 1xxx are the standard ones; 4xxx are Loopync's (documented in the AsyncAPI
/// document and the README).
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The node is shutting down; reconnect (to any node) and resume.
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame: the protocol is JSON text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame over the hard size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server could not read stored updates; reconnect and resume.
    pub const SERVER_ERROR: u16 = 1011;
    /// No token, a token that does not verify, or a first frame that is not `auth` in time.
    pub const UNAUTHORIZED: u16 = 4001;
    /// The access token expired and no refreshed one arrived: refresh over HTTP, reconnect.
    pub const TOKEN_EXPIRED: u16 = 4002;
    /// The session was revoked (logout, password change, device removed).
    pub const SESSION_REVOKED: u16 = 4003;
    /// Nothing arrived from the client, not even a pong, for the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4004;
    /// The client read too slowly and its outbound queue filled up.
    pub const SLOW_CONSUMER: u16 = 4005;
    /// The user already has as many connections to this node as it allows; this one is
    /// refused (the open ones stay).
    pub const TOO_MANY_SOCKETS: u16 = 4006;
}

/// Codes of `error` frames. The connection stays open after any of them.
pub mod codes {
    pub const MALFORMED_FRAME: &str = "malformed_frame";
    pub const UNKNOWN_FRAME_TYPE: &str = "unknown_frame_type";
    pub const FRAME_TOO_LARGE: &str = "frame_too_large";
    pub const INVALID_FIELD: &str = "invalid_field";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const UNKNOWN_USER: &str = "unknown_user";
    pub const PRESENCE_FORBIDDEN: &str = "presence_forbidden";
    pub const TARGET_FORBIDDEN: &str = "target_forbidden";
    pub const TOKEN_USER_MISMATCH: &str = "token_user_mismatch";
    pub const TOKEN_INVALID: &str = "token_invalid";
    pub const SELF_TARGET: &str = "self_target";

    /// Every code with what it means, as the AsyncAPI document lists them.
    pub const ALL: &[(&str, &str)] = &[
        (MALFORMED_FRAME, "The frame is not JSON, or not of the frame's shape."),
        (UNKNOWN_FRAME_TYPE, "The frame's `type` is not a client frame type."),
        (FRAME_TOO_LARGE, "The frame is over the 16 KiB application limit (over 64 KiB closes with 1009)."),
        (INVALID_FIELD, "A field of `data` is missing or invalid."),
        (
            RATE_LIMITED,
            "The client sends more than 20 frames per second, sustained; or, naming the target in \
             `userIds`, more `typing` (3 a second) or `signal` frames (10 a second; bursts of \
             twice as many) to one user, from all of the caller's connections: that frame is \
             not relayed.",
        ),
        (UNKNOWN_USER, "The frame names a user that does not exist."),
        (
            PRESENCE_FORBIDDEN,
            "The user's presence is not visible to the caller (privacy not `public`); also sent, \
             naming them, when a watched user turns private, which ends that watch.",
        ),
        (
            TARGET_FORBIDDEN,
            "A `typing` or `signal` frame to a user the caller and the target may not both see \
             (either one's privacy is not `public`): nothing is relayed.",
        ),
        (TOKEN_USER_MISMATCH, "A refresh `auth` frame carries a token of another user."),
        (TOKEN_INVALID, "A refresh `auth` frame's token is invalid; the connection keeps its old token."),
        (SELF_TARGET, "The frame targets the caller themself."),
    ];
}

/// The most users one `presence_subscribe` names, and one connection watches.
pub const MAX_PRESENCE_BATCH: usize = 100;
pub const MAX_WATCHED_USERS: usize = 200;
/// Largest `signal` frame relayed (an SDP offer with its candidates fits easily).
pub const MAX_SIGNAL_BYTES: usize = 8 * 1024;

/// A frame from the client, after its envelope and `data` have been checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    /// The first frame without `?token=`, or a refreshed token later on.
    Auth {
        token: String,
        since: Option<String>,
    },
    Ping,
    Typing {
        to: Uuid,
        is_typing: bool,
    },
    PresenceSubscribe {
        user_ids: Vec<Uuid>,
    },
    PresenceUnsubscribe {
        user_ids: Vec<Uuid>,
    },
    /// Call signaling (offer/answer/ICE), relayed as is to the user's devices.
    Signal {
        to: Uuid,
        signal: Value,
    },
}

/// Why a client frame was refused: an `error` frame's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: &'static str,
    pub message: String,
    /// The frame's `type`, when it could be read.
    pub frame_type: Option<String>,
    /// The users the refusal concerns (`presence_subscribe`), when not all of the frame's.
    pub user_ids: Vec<Uuid>,
}

impl FrameError {
    pub fn new(code: &'static str, message: impl Into<String>, frame_type: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            frame_type: frame_type.map(str::to_owned),
            user_ids: Vec::new(),
        }
    }

    /// The same refusal, naming the users it concerns.
    pub fn naming(mut self, user_ids: Vec<Uuid>) -> Self {
        self.user_ids = user_ids;
        self
    }

    /// The `error` frame telling the client.
    pub fn frame(&self) -> ErrorFrame {
        ErrorFrame {
            code: self.code.to_owned(),
            message: self.message.clone(),
            frame_type: self.frame_type.clone(),
            user_ids: self.user_ids.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// Reads a client frame. The envelope must be a JSON object with a string `type`; `data` must
/// fit the type.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let frame_bytes = text.len();
    let envelope: Envelope = serde_json::from_str(text).map_err(|error| {
        FrameError::new(
            codes::MALFORMED_FRAME,
            format!("a frame is a JSON object with a string `type`: {error}"),
            None,
        )
    })?;
    let kind = envelope.kind.as_str();
    let data = envelope.data;
    let invalid =
        |error: serde_json::Error| FrameError::new(codes::INVALID_FIELD, error.to_string(), Some(kind));
    match kind {
        Auth::KIND => {
            let Auth { token, since } = serde_json::from_value(data).map_err(invalid)?;
            Ok(ClientFrame::Auth { token, since })
        }
        Ping::KIND => Ok(ClientFrame::Ping),
        Typing::KIND => {
            let Typing { to, is_typing } = serde_json::from_value(data).map_err(invalid)?;
            Ok(ClientFrame::Typing { to, is_typing })
        }
        PresenceSubscribe::KIND => {
            let PresenceSubscribe { user_ids } = serde_json::from_value(data).map_err(invalid)?;
            check_presence_batch(&user_ids, kind)?;
            Ok(ClientFrame::PresenceSubscribe { user_ids })
        }
        PresenceUnsubscribe::KIND => {
            let PresenceUnsubscribe { user_ids } = serde_json::from_value(data).map_err(invalid)?;
            check_presence_batch(&user_ids, kind)?;
            Ok(ClientFrame::PresenceUnsubscribe { user_ids })
        }
        Signal::KIND => {
            let Signal { to, signal } = serde_json::from_value(data).map_err(invalid)?;
            if !signal.is_object() {
                return Err(FrameError::new(codes::INVALID_FIELD, "signal is a JSON object", Some(kind)));
            }
            if frame_bytes > MAX_SIGNAL_BYTES {
                return Err(FrameError::new(
                    codes::FRAME_TOO_LARGE,
                    format!("signal frames are at most {MAX_SIGNAL_BYTES} bytes"),
                    Some(kind),
                ));
            }
            Ok(ClientFrame::Signal { to, signal })
        }
        other => Err(FrameError::new(
            codes::UNKNOWN_FRAME_TYPE,
            format!("no frame type `{other}`; see /api/asyncapi.json"),
            Some(other),
        )),
    }
}

/// `presence_subscribe` and `presence_unsubscribe` name 1 to [`MAX_PRESENCE_BATCH`] users.
fn check_presence_batch(user_ids: &[Uuid], kind: &str) -> Result<(), FrameError> {
    if user_ids.is_empty() || user_ids.len() > MAX_PRESENCE_BATCH {
        return Err(FrameError::new(
            codes::INVALID_FIELD,
            format!("userIds holds 1 to {MAX_PRESENCE_BATCH} user ids"),
            Some(kind),
        ));
    }
    Ok(())
}

/// The wire frame of `data` without a cursor (`null`).
pub fn ephemeral<F: LiveFrame>(data: &F) -> Option<String> {
    with_cursor(None, data)
}

/// The wire frame of `data` with `cursor`. `None` only if `data` cannot be encoded, which its
/// plain fields rule out; should it happen, the frame is dropped with an error logged rather
/// than taking the connection down.
pub fn with_cursor<F: LiveFrame>(cursor: Option<i64>, data: &F) -> Option<String> {
    live::encode(cursor, data)
        .inspect_err(|error| tracing::error!(%error, kind = F::KIND, "frame not encoded; dropped"))
        .ok()
}

/// Reads a client's cursor. Cursors are opaque to clients; to us they are a user's update
/// number.
pub fn parse_cursor(cursor: &str) -> Option<i64> {
    cursor.parse::<i64>().ok().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(text: &str) -> &'static str {
        match parse(text) {
            Ok(frame) => panic!("{text} was accepted as {frame:?}"),
            Err(error) => error.code,
        }
    }

    #[test]
    fn frames_are_read_by_type() {
        let to = Uuid::now_v7();
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
        assert_eq!(
            parse(&format!(r#"{{"type":"typing","data":{{"to":"{to}","isTyping":true}}}}"#)),
            Ok(ClientFrame::Typing { to, is_typing: true })
        );
        assert_eq!(
            parse(r#"{"type":"auth","data":{"token":"t","since":"7"}}"#),
            Ok(ClientFrame::Auth { token: "t".into(), since: Some("7".into()) })
        );
        assert_eq!(
            parse(&format!(r#"{{"type":"signal","data":{{"to":"{to}","signal":{{"sdp":"x"}}}}}}"#)),
            Ok(ClientFrame::Signal { to, signal: json!({"sdp": "x"}) })
        );
    }

    #[test]
    fn bad_frames_get_stable_codes() {
        assert_eq!(refused("not json"), codes::MALFORMED_FRAME);
        assert_eq!(refused("[1,2]"), codes::MALFORMED_FRAME);
        assert_eq!(refused(r#"{"type":7}"#), codes::MALFORMED_FRAME);
        assert_eq!(refused(r#"{"type":"subscribe_everything"}"#), codes::UNKNOWN_FRAME_TYPE);
        assert_eq!(
            refused(r#"{"type":"typing","data":{"to":"nope","isTyping":true}}"#),
            codes::INVALID_FIELD
        );
        assert_eq!(refused(r#"{"type":"typing","data":{}}"#), codes::INVALID_FIELD);
        assert_eq!(refused(r#"{"type":"presence_subscribe","data":{"userIds":[]}}"#), codes::INVALID_FIELD);
        let many: Vec<String> = (0..101).map(|_| format!("\"{}\"", Uuid::now_v7())).collect();
        let frame = format!(r#"{{"type":"presence_subscribe","data":{{"userIds":[{}]}}}}"#, many.join(","));
        assert_eq!(refused(&frame), codes::INVALID_FIELD);
        let to = Uuid::now_v7();
        assert_eq!(
            refused(&format!(r#"{{"type":"signal","data":{{"to":"{to}","signal":"x"}}}}"#)),
            codes::INVALID_FIELD
        );
    }

    #[test]
    fn error_frames_name_the_offending_type() {
        let Err(error) = parse(r#"{"type":"typing","data":{}}"#) else { panic!("accepted") };
        let frame = ephemeral(&error.frame()).unwrap_or_else(|| panic!("not encoded"));
        let frame: Value = serde_json::from_str(&frame).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["cursor"], Value::Null);
        assert_eq!(frame["data"]["code"], "invalid_field");
        assert_eq!(frame["data"]["type"], "typing");
    }

    #[test]
    fn cursors_are_non_negative_numbers() {
        assert_eq!(parse_cursor("42"), Some(42));
        assert_eq!(parse_cursor("0"), Some(0));
        assert_eq!(parse_cursor("-1"), None);
        assert_eq!(parse_cursor("abc"), None);
    }
}
