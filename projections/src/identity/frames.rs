//! The live frames the identity projections emit (durable: stored with a cursor and replayed
//! on resume): the user's own profile card ([`UserProfiles`](super::UserProfiles)) and the end
//! of a session ([`UserSessions`](super::UserSessions)).

use crate::live::LiveFrame;
use loopync_domain::identity::session::RevocationReason;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::types::Uuid;

/// The user's own public profile card changed (e.g. edited on another device).
///
/// Carries the card as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileUpdated {
    /// The user (the connection's own).
    pub user_id: Uuid,
    /// The public handle, lowercase, without `@`.
    #[schemars(length(min = 3, max = 30), pattern(r"^[a-z0-9_.]{3,30}$"))]
    pub handle: String,
    /// The display name.
    pub name: String,
    /// An `https://` URL or a Loopync media path; null when none.
    pub avatar: Option<String>,
}

impl LiveFrame for ProfileUpdated {
    const KIND: &'static str = "profile_updated";
}

/// One of the user's sessions (signed-in devices) ended.
///
/// Every device of the user gets it; the sockets of the ended session are then closed with 4003.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRevoked {
    /// The session that ended.
    pub session_id: Uuid,
    /// Why it ended.
    pub reason: SessionEndReason,
}

impl LiveFrame for SessionRevoked {
    const KIND: &'static str = "session_revoked";
}

/// Why a session ended: its own revocation, or a password change of its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// Signed out on that device.
    Logout,
    /// Revoked from the devices list (by the user or an admin).
    Revoked,
    /// A rotated refresh token was presented twice.
    TokenReused,
    /// The account's password changed.
    CredentialsChanged,
}

impl SessionEndReason {
    /// The reason as `read_models.user_sessions.revoked_reason` stores it (its wire name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::TokenReused => "token_reused",
            Self::CredentialsChanged => "credentials_changed",
        }
    }
}

impl From<RevocationReason> for SessionEndReason {
    fn from(reason: RevocationReason) -> Self {
        match reason {
            RevocationReason::Logout => Self::Logout,
            RevocationReason::Revoked => Self::Revoked,
            RevocationReason::TokenReused => Self::TokenReused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_reasons_are_the_wire_names() {
        for reason in [
            SessionEndReason::Logout,
            SessionEndReason::Revoked,
            SessionEndReason::TokenReused,
            SessionEndReason::CredentialsChanged,
        ] {
            assert_eq!(serde_json::to_value(reason).ok(), Some(serde_json::json!(reason.as_str())));
        }
    }
}
