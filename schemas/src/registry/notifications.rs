//! The notifications' event types: a user's inbox (what they read, deleted and want, and the
//! devices push notifications go to). The notifications themselves are derived by the read
//! model from the events that cause them, and are not events.

use super::EventTypeInfo;
use loopync_domain::notifications;
use schemars::schema_for;

/// The inbox's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo::first("inbox.read", "The user read these notifications (each with its group).", || {
        schema_for!(notifications::NotificationsTouched)
    }),
    EventTypeInfo::first(
        "inbox.read_all",
        "The user read every notification they had; those derived from later events stay unread.",
        || schema_for!(notifications::AllRead),
    ),
    EventTypeInfo::first(
        "inbox.deleted",
        "The user deleted these notifications (each with its group).",
        || schema_for!(notifications::NotificationsTouched),
    ),
    EventTypeInfo::first(
        "inbox.settings_changed",
        "The kinds of notification the user does not want, after the change.",
        || schema_for!(notifications::SettingsChanged),
    ),
    EventTypeInfo::first(
        "inbox.push_token_registered",
        "A device of the user's receives push notifications, until its session ends.",
        || schema_for!(notifications::PushTokenRegistered),
    ),
];
