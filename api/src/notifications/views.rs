//! The bodies of the notifications endpoints, each with an example.

use crate::pagination::Pagination;
use crate::social::views::AuthorView;
use crate::timestamp::Timestamp;
use loopync_domain::notifications::{NotificationKind, NotificationSettings, PushPlatform};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use std::collections::BTreeSet;
use uuid::Uuid;

const NOTIFICATION_ID: Uuid = Uuid::from_u128(0x0193_a0c6_0a1b_7c2d_8e3f_4a5b_6c7d_8e9f);
const POST_ID: Uuid = Uuid::from_u128(0x0193_a0c5_1d2e_7f30_8a4b_5c6d_7e8f_9012);

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum KindName {
    FriendRequest,
    FriendAccepted,
    Like,
    Comment,
    Reply,
    Mention,
    Repost,
}

impl KindName {
    pub fn of(stored: &str) -> Self {
        match NotificationKind::parse(stored) {
            Some(NotificationKind::FriendRequest) => Self::FriendRequest,
            Some(NotificationKind::FriendAccepted) => Self::FriendAccepted,
            Some(NotificationKind::Like) => Self::Like,
            Some(NotificationKind::Comment) => Self::Comment,
            Some(NotificationKind::Reply) => Self::Reply,
            Some(NotificationKind::Repost) => Self::Repost,
            Some(NotificationKind::Mention) | None => Self::Mention,
        }
    }
}

/// An entry of your notifications: one notification, or several likes or shares of one post.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct NotificationView {
    /// The entry's newest notification: what `PATCH .../read` and `DELETE` take.
    pub id: Uuid,
    pub kind: KindName,
    /// The latest actors, newest first (at most three).
    pub actors: Vec<AuthorView>,
    /// How many different users the entry holds ("Ada and 3 others": 4).
    pub actor_count: i64,
    /// "Ada and 3 others liked your post".
    pub summary: String,
    #[oai(skip_serializing_if_is_none)]
    pub post_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub comment_id: Option<Uuid>,
    /// When its newest notification came.
    pub created_at: Timestamp,
    pub read: bool,
}

impl Example for NotificationView {
    fn example() -> Self {
        Self {
            id: NOTIFICATION_ID,
            kind: KindName::Like,
            actors: vec![AuthorView::example()],
            actor_count: 4,
            summary: "Ada Lovelace and 3 others liked your post".to_owned(),
            post_id: Some(POST_ID),
            comment_id: None,
            created_at: Timestamp::example(),
            read: false,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct NotificationPage {
    pub data: Vec<NotificationView>,
    pub pagination: Pagination,
}

impl Example for NotificationPage {
    fn example() -> Self {
        Self { data: vec![NotificationView::example()], pagination: Pagination::example() }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct UnreadCount {
    /// Unread entries (a group counts once).
    pub count: i64,
}

impl Example for UnreadCount {
    fn example() -> Self {
        Self { count: 3 }
    }
}

/// A notification read.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ReadView {
    pub id: Uuid,
    pub read: bool,
}

impl Example for ReadView {
    fn example() -> Self {
        Self { id: NOTIFICATION_ID, read: true }
    }
}

/// Which kinds of notification you get: each `true` (the default) or `false`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct NotificationSettingsView {
    pub friend_request: bool,
    pub friend_accepted: bool,
    pub like: bool,
    pub comment: bool,
    pub reply: bool,
    pub mention: bool,
    pub repost: bool,
}

impl NotificationSettingsView {
    pub fn of(settings: &NotificationSettings) -> Self {
        use NotificationKind as K;
        Self {
            friend_request: settings.wants(K::FriendRequest),
            friend_accepted: settings.wants(K::FriendAccepted),
            like: settings.wants(K::Like),
            comment: settings.wants(K::Comment),
            reply: settings.wants(K::Reply),
            mention: settings.wants(K::Mention),
            repost: settings.wants(K::Repost),
        }
    }

    pub fn settings(&self) -> NotificationSettings {
        use NotificationKind as K;
        let wanted = [
            (K::FriendRequest, self.friend_request),
            (K::FriendAccepted, self.friend_accepted),
            (K::Like, self.like),
            (K::Comment, self.comment),
            (K::Reply, self.reply),
            (K::Mention, self.mention),
            (K::Repost, self.repost),
        ];
        let muted: BTreeSet<NotificationKind> =
            wanted.into_iter().filter(|(_, wanted)| !wanted).map(|(kind, _)| kind).collect();
        NotificationSettings { muted }
    }
}

impl Example for NotificationSettingsView {
    fn example() -> Self {
        Self {
            friend_request: true,
            friend_accepted: true,
            like: false,
            comment: true,
            reply: true,
            mention: true,
            repost: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PlatformName {
    Ios,
    Android,
    Web,
}

impl From<PlatformName> for PushPlatform {
    fn from(name: PlatformName) -> Self {
        match name {
            PlatformName::Ios => PushPlatform::Ios,
            PlatformName::Android => PushPlatform::Android,
            PlatformName::Web => PushPlatform::Web,
        }
    }
}

/// A device that receives push notifications while this session lasts.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct PushRegistration {
    /// The push service's token for this device (1–4096 visible ASCII characters).
    pub token: String,
    pub platform: PlatformName,
}

impl Example for PushRegistration {
    fn example() -> Self {
        Self { token: "fcm:dGhpcyBpcyBub3QgYSByZWFsIHRva2Vu".to_owned(), platform: PlatformName::Android }
    }
}
