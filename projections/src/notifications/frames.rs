//! The live frames of the notifications read model (durable: stored with a cursor and
//! replayed on resume).

use crate::live::LiveFrame;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};

/// You have a new notification.
///
/// Carries what it is about; read the list (`GET /api/notifications`) for it grouped with
/// others and with its actors' cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationCreated {
    pub notification_id: Uuid,
    /// `friend_request`, `friend_accepted`, `like`, `comment`, `reply`, `mention` or `repost`.
    pub kind: String,
    /// Who did it.
    pub actor_id: Uuid,
    /// The post it is about, if any.
    pub post_id: Option<Uuid>,
    /// The comment it is about, if any.
    pub comment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl LiveFrame for NotificationCreated {
    const KIND: &'static str = "notification_created";
}

/// Notifications were read (on one of your devices): these, or all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRead {
    /// The notifications read (each with its group); empty when `all`.
    pub notification_ids: Vec<Uuid>,
    /// Every notification you had was read.
    pub all: bool,
}

impl LiveFrame for NotificationRead {
    const KIND: &'static str = "notification_read";
}
