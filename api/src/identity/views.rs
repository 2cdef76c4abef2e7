//! What the identity endpoints receive and answer, as documented in the OpenAPI document.
//!
//! Two views of a user: [`UserView`] is the owner's own (email, phone, settings included),
//! [`PublicUser`] is what everyone else sees. No endpoint answers another user's email, phone
//! or settings.

use chrono::{DateTime, Utc};
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, Privacy, Settings};
use loopync_projections::identity::ProfileRow;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RoleName {
    User,
    Verified,
    /// Reads every wallet's ledger history.
    Auditor,
    Admin,
    Founder,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Verified => Self::Verified,
            Role::Auditor => Self::Auditor,
            Role::Admin => Self::Admin,
            Role::Founder => Self::Founder,
        }
    }
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::User => Self::User,
            RoleName::Verified => Self::Verified,
            RoleName::Auditor => Self::Auditor,
            RoleName::Admin => Self::Admin,
            RoleName::Founder => Self::Founder,
        }
    }
}

impl RoleName {
    fn parse(role: &str) -> Self {
        match role {
            "verified" => Self::Verified,
            "auditor" => Self::Auditor,
            "admin" => Self::Admin,
            "founder" => Self::Founder,
            _ => Self::User,
        }
    }
}

/// Who may see a user's activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PrivacyName {
    Public,
    Friends,
    Private,
}

/// A user's private settings.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UserSettings", rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsView {
    pub privacy: PrivacyName,
    /// Whether notifications are delivered.
    pub notifications: bool,
    pub dark_mode: bool,
}

impl From<&Settings> for SettingsView {
    fn from(settings: &Settings) -> Self {
        Self {
            privacy: match settings.privacy {
                Privacy::Public => PrivacyName::Public,
                Privacy::Friends => PrivacyName::Friends,
                Privacy::Private => PrivacyName::Private,
            },
            notifications: settings.notifications,
            dark_mode: settings.dark_mode,
        }
    }
}

impl From<SettingsView> for Settings {
    fn from(view: SettingsView) -> Self {
        Self {
            privacy: match view.privacy {
                PrivacyName::Public => Privacy::Public,
                PrivacyName::Friends => Privacy::Friends,
                PrivacyName::Private => Privacy::Private,
            },
            notifications: view.notifications,
            dark_mode: view.dark_mode,
        }
    }
}

/// The signed-in user's own account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub bio: Option<String>,
    pub avatar: Option<String>,
    pub cover_photo: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
    pub role: RoleName,
    pub settings: SettingsView,
}

impl UserView {
    pub fn of(id: Uuid, account: &Account) -> Self {
        Self {
            id,
            handle: account.handle.as_ref().map(ToString::to_string).unwrap_or_default(),
            name: account.name.as_ref().map(ToString::to_string).unwrap_or_default(),
            email: account.email.as_ref().map(ToString::to_string),
            email_verified: account.email_verified,
            phone_number: account.phone.as_ref().map(ToString::to_string),
            bio: account.profile.bio.clone(),
            avatar: account.profile.avatar.clone(),
            cover_photo: account.profile.cover_photo.clone(),
            location: account.profile.location.clone(),
            website: account.profile.website.clone(),
            role: account.role.into(),
            settings: (&account.settings).into(),
        }
    }
}

/// A user as everyone sees them: no email, phone number or settings.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PublicUser {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub bio: Option<String>,
    pub avatar: Option<String>,
    pub cover_photo: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
    pub role: RoleName,
    pub created_at: DateTime<Utc>,
}

impl From<&ProfileRow> for PublicUser {
    fn from(row: &ProfileRow) -> Self {
        Self {
            id: row.user_id,
            handle: row.handle.clone(),
            name: row.name.clone(),
            bio: row.bio.clone(),
            avatar: row.avatar.clone(),
            cover_photo: row.cover_photo.clone(),
            location: row.location.clone(),
            website: row.website.clone(),
            role: RoleName::parse(&row.role),
            created_at: row.registered_at,
        }
    }
}

/// Email sign-up.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignupRequest {
    /// Matched case-insensitively; at most 254 characters.
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// 8 to 128 characters, not the email address.
    #[oai(validator(max_length = 128))]
    pub password: String,
    /// Display name, 1 to 80 characters.
    #[oai(validator(max_length = 80))]
    pub name: String,
    /// 3 to 30 characters of `a-z`, `0-9`, `_`, `.`; a leading `@` is dropped.
    #[oai(validator(max_length = 31))]
    pub handle: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

/// A signed-in session's credentials.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AuthTokens {
    /// The access token (JWT): `Authorization: Bearer <token>`.
    pub token: String,
    /// Single use: `/api/auth/refresh` answers a new one each time, and presenting a used one
    /// again ends the session.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: i64,
    pub session_id: Uuid,
    pub user: UserView,
}

/// `verify-phone`'s answer: the tokens, and whether the number was new.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PhoneAuthTokens {
    #[oai(flatten)]
    pub tokens: AuthTokens,
    pub is_new_user: bool,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    #[oai(validator(max_length = 200))]
    pub refresh_token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the mail.
    #[oai(validator(max_length = 200))]
    pub token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[oai(validator(max_length = 200))]
    pub token: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 128))]
    pub current_password: String,
    #[oai(validator(max_length = 128))]
    pub new_password: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendCodeRequest {
    /// E.164, e.g. `+442079460958`; spaces, dashes, dots and parentheses are ignored.
    #[oai(validator(max_length = 32))]
    pub phone_number: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CodeSentView {
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds before another code can be sent to this number.
    pub resend_after: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPhoneRequest {
    #[oai(validator(max_length = 32))]
    pub phone_number: String,
    /// The six digits from the SMS.
    #[oai(validator(max_length = 6))]
    pub code: String,
    /// For a new account: its display name (default: its handle).
    #[oai(validator(max_length = 80))]
    pub name: Option<String>,
    /// For a new account: its handle (default: `user_` and 12 hex digits).
    #[oai(validator(max_length = 31))]
    pub handle: Option<String>,
}

/// A profile change: absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    #[oai(validator(max_length = 80))]
    pub name: Option<String>,
    #[oai(validator(max_length = 31))]
    pub handle: Option<String>,
    /// Up to 500 characters; line breaks allowed.
    #[oai(validator(max_length = 500))]
    pub bio: MaybeUndefined<String>,
    /// An `https://` URL or a Loopync media path (`/api/media/<id>`).
    #[oai(validator(max_length = 500))]
    pub avatar: MaybeUndefined<String>,
    #[oai(validator(max_length = 500))]
    pub cover_photo: MaybeUndefined<String>,
    #[oai(validator(max_length = 100))]
    pub location: MaybeUndefined<String>,
    /// An `http(s)://` URL.
    #[oai(validator(max_length = 500))]
    pub website: MaybeUndefined<String>,
}

/// `MaybeUndefined` as "leave" (`None`), "clear" (`Some(None)`) or "set".
pub fn patch(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

/// A signed-in device.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Session", rename_all = "camelCase")]
pub struct SessionView {
    pub id: Uuid,
    /// The client's `User-Agent` when it signed in.
    pub device: Option<String>,
    pub ip: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// When the session's refresh token expires unless used.
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

/// Keyset pagination of a list.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Pagination {
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionList {
    pub data: Vec<SessionView>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UserPage {
    pub data: Vec<PublicUser>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleChangeRequest {
    pub role: RoleName,
}

/// Accepted; nothing to show (`forgot-password`, `resend-verification`).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Accepted {
    pub message: String,
}
