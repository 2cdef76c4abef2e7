//! Identity's descriptor: its event types, read models, live frames and sign-in budget.

use crate::feature::Feature;
use crate::rate_limit::{Budget, RateLimitClass};
use crate::realtime::asyncapi::examples::ADA;
use crate::realtime::asyncapi::{Cursor, FrameDoc, Sender};
use crate::state::ApiConfig;
use loopync_projections::Projection;
use loopync_projections::identity::{
    ProfileUpdated, SessionEndReason, SessionRevoked, UserProfiles, UserSessions,
};
use loopync_schemas::EventTypeInfo;
use std::sync::Arc;
use uuid::uuid;

/// The endpoints that check a secret or send a message: they also count against the client's
/// IP at the sign-in rate, so guessing is slow from anywhere.
pub const SIGN_IN_PATHS: &[&str] = &[
    "/api/auth/login",
    "/api/auth/signup",
    "/api/auth/refresh",
    "/api/auth/send-code",
    "/api/auth/verify-phone",
    "/api/auth/verify-email",
    "/api/auth/forgot-password",
    "/api/auth/reset-password",
];

/// Accounts, sign-in, tokens, sessions and profiles.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityFeature;

impl Feature for IdentityFeature {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn event_types(&self) -> &'static [EventTypeInfo] {
        loopync_schemas::registry::identity::EVENTS
    }

    fn projections(&self) -> Vec<Arc<dyn Projection>> {
        vec![Arc::new(UserProfiles), Arc::new(UserSessions)]
    }

    fn live_frames(&self) -> Vec<FrameDoc> {
        vec![
            FrameDoc::new::<ProfileUpdated>(Sender::Server(Cursor::Durable)).example(
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
            FrameDoc::new::<SessionRevoked>(Sender::Server(Cursor::Durable)).example(
                "signed_out_elsewhere",
                "Ada revoked her phone's session from her laptop.",
                Some(1044),
                SessionRevoked {
                    session_id: uuid!("01935f1c-2b1e-7c3a-9d4e-5f6a7b8c9d0e"),
                    reason: SessionEndReason::Revoked,
                },
            ),
        ]
    }

    fn rate_limit_classes(&self, config: &ApiConfig) -> Vec<RateLimitClass> {
        vec![
            RateLimitClass {
                name: "sign_in",
                paths: SIGN_IN_PATHS,
                per_minute: config.rate_limits.sign_in_per_minute,
                budget: Budget::PerAddress,
            },
            // All addresses together: one password tried against many accounts from a botnet
            // is as slow on one node as this budget.
            RateLimitClass {
                name: "sign_in_node",
                paths: SIGN_IN_PATHS,
                per_minute: config.rate_limits.sign_in_node_per_minute,
                budget: Budget::Node,
            },
        ]
    }
}
