//! Identity's event types: accounts, one-time phone codes and sessions.

use super::EventTypeInfo;
use loopync_domain::identity::{account, phone_code, session};
use schemars::schema_for;

/// Identity's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo {
        name: "account.registered",
        version: 1,
        description: "An account was created, by email and password or by a verified phone number.",
        schema: || schema_for!(account::Registered),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.email_verification_requested",
        version: 1,
        description: "A verification mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        schema: || schema_for!(account::TokenChallenge),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.email_verified",
        version: 1,
        description: "The owner proved they receive mail at the account's address.",
        schema: || schema_for!(account::EmailVerified),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.password_reset_requested",
        version: 1,
        description: "A password reset mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        schema: || schema_for!(account::TokenChallenge),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.password_changed",
        version: 1,
        description: "The password was changed or reset; every session of an earlier credentials epoch is over.",
        schema: || schema_for!(account::PasswordChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.profile_updated",
        version: 1,
        description: "The public profile after a change: name, bio, avatar, cover photo, location, website.",
        schema: || schema_for!(account::ProfileUpdated),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.handle_changed",
        version: 1,
        description: "The public handle changed (the old one was released, the new one claimed).",
        schema: || schema_for!(account::HandleChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.settings_updated",
        version: 1,
        description: "The private settings after a change: privacy, notifications, dark mode.",
        schema: || schema_for!(account::Settings),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.role_changed",
        version: 1,
        description: "An admin changed the account's role.",
        schema: || schema_for!(account::RoleChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.sent",
        version: 1,
        description: "A one-time sign-in code was sent by SMS; holds its keyed hash and expiry.",
        schema: || schema_for!(phone_code::CodeSent),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.attempt_failed",
        version: 1,
        description: "A wrong code was entered for the pending code.",
        schema: || schema_for!(phone_code::AttemptFailed),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.verified",
        version: 1,
        description: "The pending code was entered correctly and is used up.",
        schema: || schema_for!(phone_code::CodeVerified),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.started",
        version: 1,
        description: "A device signed in; holds the SHA-256 of its first refresh token.",
        schema: || schema_for!(session::SessionStarted),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.refreshed",
        version: 1,
        description: "The session's refresh token was rotated; holds the SHA-256 of the next one.",
        schema: || schema_for!(session::SessionRefreshed),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.revoked",
        version: 1,
        description: "The session ended: logout, revocation from the devices list, or reuse of a rotated refresh token.",
        schema: || schema_for!(session::SessionRevoked),
        upcasters: &[],
    },
];
