//! A user's side of their notifications: the [`Inbox`] aggregate, one stream per user
//! (`inbox-<user>`). Reading, reading all, deleting, the kinds they want, and the devices
//! that receive push notifications.
//!
//! "Read all" records no list: the read model marks read every notification it holds when it
//! applies the event, which are exactly those derived from events earlier in the log, so a
//! notification that arrives later stays unread.

use super::NotificationKind;
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Most ids one read or delete names (a page, and then some).
pub const MAX_IDS: usize = 100;
/// Most push devices one user keeps; registering another drops the oldest.
pub const MAX_PUSH_DEVICES: usize = 10;

/// The kinds a user does not want to be notified of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettings {
    pub muted: BTreeSet<NotificationKind>,
}

impl NotificationSettings {
    pub fn wants(&self, kind: NotificationKind) -> bool {
        !self.muted.contains(&kind)
    }
}

/// The platform of a push device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    Ios,
    Android,
    Web,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    pub settings: NotificationSettings,
    /// Registered push tokens, oldest first.
    pub push_tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InboxCommand {
    /// Mark these notifications read (the read model checked they are the user's).
    Read {
        ids: Vec<Uuid>,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
    ReadAll {
        #[serde(skip)]
        at: DateTime<Utc>,
    },
    Delete {
        ids: Vec<Uuid>,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
    ChangeSettings {
        settings: NotificationSettings,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
    RegisterPushToken {
        token: String,
        platform: PushPlatform,
        /// The session (device sign-in) the token belongs to: it goes when the session ends.
        session_id: Uuid,
        #[serde(skip)]
        at: DateTime<Utc>,
    },
}

/// Payload of `inbox.read` and `inbox.deleted`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationsTouched {
    pub ids: Vec<Uuid>,
    pub at: DateTime<Utc>,
}

/// Payload of `inbox.read_all`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllRead {
    pub at: DateTime<Utc>,
}

/// Payload of `inbox.settings_changed`, schema version 1: the settings after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsChanged {
    pub muted: BTreeSet<NotificationKind>,
    pub at: DateTime<Utc>,
}

/// Payload of `inbox.push_token_registered`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushTokenRegistered {
    pub token: String,
    pub platform: PushPlatform,
    pub session_id: Uuid,
    /// The oldest token dropped to stay within the devices a user keeps, if any.
    pub replaced: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InboxEvent {
    #[serde(rename = "inbox.read")]
    Read(NotificationsTouched),
    #[serde(rename = "inbox.read_all")]
    ReadAll(AllRead),
    #[serde(rename = "inbox.deleted")]
    Deleted(NotificationsTouched),
    #[serde(rename = "inbox.settings_changed")]
    SettingsChanged(SettingsChanged),
    #[serde(rename = "inbox.push_token_registered")]
    PushTokenRegistered(PushTokenRegistered),
}

impl DomainEvent for InboxEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Read(_) => "inbox.read",
            Self::ReadAll(_) => "inbox.read_all",
            Self::Deleted(_) => "inbox.deleted",
            Self::SettingsChanged(_) => "inbox.settings_changed",
            Self::PushTokenRegistered(_) => "inbox.push_token_registered",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    #[error("a request names at most {MAX_IDS} notifications")]
    TooManyIds,
    #[error("a push token is 1 to 4096 visible ASCII characters")]
    InvalidPushToken,
}

impl Aggregate for Inbox {
    const CATEGORY: &'static str = "inbox";
    type Command = InboxCommand;
    type Event = InboxEvent;
    type Error = InboxError;

    fn decide(&self, command: &InboxCommand) -> Result<Vec<InboxEvent>, InboxError> {
        Ok(match command {
            InboxCommand::Read { ids, at } | InboxCommand::Delete { ids, at } => {
                if ids.len() > MAX_IDS {
                    return Err(InboxError::TooManyIds);
                }
                if ids.is_empty() {
                    return Ok(vec![]);
                }
                let touched = NotificationsTouched { ids: ids.clone(), at: *at };
                match command {
                    InboxCommand::Read { .. } => vec![InboxEvent::Read(touched)],
                    _ => vec![InboxEvent::Deleted(touched)],
                }
            }
            InboxCommand::ReadAll { at } => vec![InboxEvent::ReadAll(AllRead { at: *at })],
            InboxCommand::ChangeSettings { settings, at } => {
                if *settings == self.settings {
                    return Ok(vec![]);
                }
                vec![InboxEvent::SettingsChanged(SettingsChanged { muted: settings.muted.clone(), at: *at })]
            }
            InboxCommand::RegisterPushToken { token, platform, session_id, at } => {
                let valid = (1..=4096).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic());
                if !valid {
                    return Err(InboxError::InvalidPushToken);
                }
                if self.push_tokens.contains(token) {
                    return Ok(vec![]);
                }
                let replaced =
                    (self.push_tokens.len() >= MAX_PUSH_DEVICES).then(|| self.push_tokens[0].clone());
                vec![InboxEvent::PushTokenRegistered(PushTokenRegistered {
                    token: token.clone(),
                    platform: *platform,
                    session_id: *session_id,
                    replaced,
                    at: *at,
                })]
            }
        })
    }

    fn apply(&mut self, event: &InboxEvent) {
        match event {
            InboxEvent::SettingsChanged(changed) => self.settings.muted = changed.muted.clone(),
            InboxEvent::PushTokenRegistered(registered) => {
                if let Some(replaced) = &registered.replaced {
                    self.push_tokens.retain(|token| token != replaced);
                }
                self.push_tokens.push(registered.token.clone());
            }
            InboxEvent::Read(_) | InboxEvent::ReadAll(_) | InboxEvent::Deleted(_) => {}
        }
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().unwrap_or_default()
    }

    fn register(token: &str) -> InboxCommand {
        InboxCommand::RegisterPushToken {
            token: token.to_owned(),
            platform: PushPlatform::Ios,
            session_id: Uuid::from_u128(1),
            at: at(),
        }
    }

    fn registered(token: &str, replaced: Option<&str>) -> InboxEvent {
        InboxEvent::PushTokenRegistered(PushTokenRegistered {
            token: token.to_owned(),
            platform: PushPlatform::Ios,
            session_id: Uuid::from_u128(1),
            replaced: replaced.map(str::to_owned),
            at: at(),
        })
    }

    #[test]
    fn reading_names_at_most_a_hundred_and_nothing_is_nothing() {
        let ids = |n: usize| (0..n).map(|i| Uuid::from_u128(i as u128)).collect::<Vec<_>>();
        given::<Inbox>([]).when(InboxCommand::Read { ids: vec![], at: at() }).then([]);
        given::<Inbox>([])
            .when(InboxCommand::Read { ids: ids(101), at: at() })
            .then_error(InboxError::TooManyIds);
        given::<Inbox>([])
            .when(InboxCommand::Delete { ids: ids(2), at: at() })
            .then([InboxEvent::Deleted(NotificationsTouched { ids: ids(2), at: at() })]);
    }

    #[test]
    fn settings_change_only_when_they_differ() {
        let muted = NotificationSettings { muted: BTreeSet::from([NotificationKind::Like]) };
        let change = || InboxCommand::ChangeSettings { settings: muted.clone(), at: at() };
        let changed = InboxEvent::SettingsChanged(SettingsChanged { muted: muted.muted.clone(), at: at() });
        given::<Inbox>([]).when(change()).then([changed.clone()]);
        given::<Inbox>([changed]).when(change()).then([]);
        given::<Inbox>([])
            .when(InboxCommand::ChangeSettings { settings: NotificationSettings::default(), at: at() })
            .then([]);
    }

    #[test]
    fn a_push_token_is_registered_once_and_the_oldest_makes_room() {
        given::<Inbox>([]).when(register("tok-1")).then([registered("tok-1", None)]);
        given::<Inbox>([registered("tok-1", None)]).when(register("tok-1")).then([]);
        given::<Inbox>([]).when(register("")).then_error(InboxError::InvalidPushToken);
        given::<Inbox>([]).when(register("has space")).then_error(InboxError::InvalidPushToken);
        let full: Vec<InboxEvent> =
            (0..MAX_PUSH_DEVICES).map(|i| registered(&format!("t{i}"), None)).collect();
        given::<Inbox>(full).when(register("new")).then([registered("new", Some("t0"))]);
    }
}
