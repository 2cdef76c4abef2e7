//! Identity's event types: accounts, one-time phone codes and sessions.

use super::EventTypeInfo;
use loopync_domain::identity::{account, phone_code, session};
use schemars::schema_for;

/// Identity's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo::first(
        "account.registered",
        "An account was created, by email and password or by a verified phone number.",
        || schema_for!(account::Registered),
    ),
    EventTypeInfo::first(
        "account.email_verification_requested",
        "A verification mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        || schema_for!(account::TokenChallenge),
    ),
    EventTypeInfo::first(
        "account.email_verified",
        "The owner proved they receive mail at the account's address.",
        || schema_for!(account::EmailVerified),
    ),
    EventTypeInfo::first(
        "account.password_reset_requested",
        "A password reset mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        || schema_for!(account::TokenChallenge),
    ),
    EventTypeInfo::first(
        "account.password_changed",
        "The password was changed or reset; every session of an earlier credentials epoch is over.",
        || schema_for!(account::PasswordChanged),
    ),
    EventTypeInfo::first(
        "account.profile_updated",
        "The public profile after a change: name, bio, avatar, cover photo, location, website.",
        || schema_for!(account::ProfileUpdated),
    ),
    EventTypeInfo::first(
        "account.handle_changed",
        "The public handle changed (the old one was released, the new one claimed).",
        || schema_for!(account::HandleChanged),
    ),
    EventTypeInfo::first(
        "account.settings_updated",
        "The private settings after a change: privacy, notifications, dark mode.",
        || schema_for!(account::Settings),
    ),
    EventTypeInfo::first("account.role_changed", "An admin changed the account's role.", || {
        schema_for!(account::RoleChanged)
    }),
    EventTypeInfo::first(
        "phone_code.sent",
        "A one-time sign-in code was sent by SMS; holds its keyed hash and expiry.",
        || schema_for!(phone_code::CodeSent),
    ),
    EventTypeInfo::first(
        "phone_code.attempt_failed",
        "A wrong code was entered for the pending code.",
        || schema_for!(phone_code::AttemptFailed),
    ),
    EventTypeInfo::first(
        "phone_code.verified",
        "The pending code was entered correctly and is used up.",
        || schema_for!(phone_code::CodeVerified),
    ),
    EventTypeInfo::first(
        "session.started",
        "A device signed in; holds the SHA-256 of its first refresh token.",
        || schema_for!(session::SessionStarted),
    ),
    EventTypeInfo::first(
        "session.refreshed",
        "The session's refresh token was rotated; holds the SHA-256 of the next one.",
        || schema_for!(session::SessionRefreshed),
    ),
    EventTypeInfo::first(
        "session.revoked",
        "The session ended: logout, revocation from the devices list, or reuse of a rotated refresh token.",
        || schema_for!(session::SessionRevoked),
    ),
];
