//! Every frame type with its examples: typed values, encoded as the gateway encodes them (a
//! test validates each against its generated schema).

use super::*;
use uuid::{Uuid, uuid};

pub(crate) const ADA: Uuid = uuid!("0192f3a1-6b2c-7d4e-8f10-2a3b4c5d6e7f");
pub(crate) const GRACE: Uuid = uuid!("0192f3a1-9c8d-7e6f-a012-3b4c5d6e7f80");
pub(super) const CONNECTION: &str = "0192f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
pub(super) const EXPIRES_AT: &str = "2025-11-21T18:15:00Z";
pub(super) const LAST_SEEN: &str = "2025-11-21T18:02:11.304Z";

/// An instant of the examples.
pub(crate) fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).map(|at| at.to_utc()).unwrap_or_default()
}

pub(super) fn server_frames() -> Vec<FrameDoc> {
    let ready = |resumed| Ready {
        user_id: ADA,
        connection_id: CONNECTION.to_owned(),
        expires_at: at(EXPIRES_AT),
        resumed,
        heartbeat_seconds: 20,
    };
    vec![
        // --- Session ---
        FrameDoc::new::<Ready>(Sender::Server(Cursor::Session(
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
        FrameDoc::new::<ResyncRequired>(Sender::Server(Cursor::Session(
            "The user's head, as in `data.cursor`.",
        )))
        .example(
            "expired",
            "The client was offline for longer than the retention window.",
            Some(1041),
            ResyncRequired { reason: ResyncReason::CursorExpired, cursor: "1041".to_owned() },
        ),
        // --- Durable: the features' frames (`Feature::live_frames`) ---
        // --- Ephemeral ---
        FrameDoc::new::<TypingIndicator>(Sender::Server(Cursor::Ephemeral)).example(
            "started",
            "Grace is typing to Ada.",
            None,
            TypingIndicator { from: GRACE, is_typing: true },
        ),
        FrameDoc::new::<UserOnline>(Sender::Server(Cursor::Ephemeral)).example(
            "online",
            "Grace came online.",
            None,
            UserOnline { user_id: GRACE },
        ),
        FrameDoc::new::<UserOffline>(Sender::Server(Cursor::Ephemeral)).example(
            "offline",
            "Grace went offline.",
            None,
            UserOffline { user_id: GRACE, last_seen: at(LAST_SEEN) },
        ),
        FrameDoc::new::<RelayedSignal>(Sender::Server(Cursor::Ephemeral)).example(
            "offer",
            "Grace offers a call.",
            None,
            RelayedSignal {
                from: GRACE,
                from_connection: "0192f3b2-4d5e-7f60-8a1b-2c3d4e5f6a7b".to_owned(),
                signal: json!({ "kind": "offer", "sdp": "v=0\r\no=- 46117314 2 IN IP4 127.0.0.1\r\n" }),
            },
        ),
        FrameDoc::new::<TokenExpiring>(Sender::Server(Cursor::Ephemeral)).example(
            "expiring",
            "The token expires in 30 s.",
            None,
            TokenExpiring { expires_at: at(EXPIRES_AT) },
        ),
        FrameDoc::new::<Authenticated>(Sender::Server(Cursor::Ephemeral)).example(
            "refreshed",
            "The connection now runs on a token valid for 15 more minutes.",
            None,
            Authenticated { expires_at: at("2025-11-21T18:30:00Z") },
        ),
        FrameDoc::new::<PresenceSnapshot>(Sender::Server(Cursor::Ephemeral))
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
        FrameDoc::new::<Pong>(Sender::Server(Cursor::Ephemeral)).example(
            "pong",
            "Answering a ping.",
            None,
            Pong {},
        ),
        FrameDoc::new::<ErrorFrame>(Sender::Server(Cursor::Ephemeral))
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

pub(super) fn client_frames() -> Vec<FrameDoc> {
    vec![
        FrameDoc::new::<Auth>(Sender::Client {
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
        FrameDoc::new::<Ping>(Sender::Client { replies: &[Pong::KIND] }).example(
            "ping",
            "A ping.",
            None,
            Ping {},
        ),
        FrameDoc::new::<Typing>(Sender::Client { replies: &[] }).example(
            "started",
            "Ada starts typing to Grace.",
            None,
            Typing { to: GRACE, is_typing: true },
        ),
        FrameDoc::new::<PresenceSubscribe>(Sender::Client { replies: &[PresenceSnapshot::KIND] }).example(
            "watch",
            "Ada watches Grace.",
            None,
            PresenceSubscribe { user_ids: vec![GRACE] },
        ),
        FrameDoc::new::<PresenceUnsubscribe>(Sender::Client { replies: &[] }).example(
            "unwatch",
            "Ada stops watching Grace.",
            None,
            PresenceUnsubscribe { user_ids: vec![GRACE] },
        ),
        FrameDoc::new::<Signal>(Sender::Client { replies: &[] }).example(
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
