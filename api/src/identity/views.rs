//! What the identity endpoints receive and answer, as documented in the OpenAPI document.
//!
//! Two views of a user: [`UserView`] is the owner's own (email, phone, settings included),
//! [`PublicUser`] is what everyone else sees. No endpoint answers another user's email, phone
//! or settings.
//!
//! An answer leaves out an optional field that has no value (`#[oai(skip_serializing_if_is_none)]`)
//! rather than sending `null`: the document declares such fields optional, not nullable, and a
//! client generated from it would refuse the `null`.

pub use crate::pagination::Pagination;
use crate::timestamp::Timestamp;
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, Privacy, Settings, SettingsPatch};
use loopync_domain::social::{Relation, Visibility};
use loopync_projections::identity::ProfileRow;
use loopync_projections::social::SocialCounts;
use poem_openapi::types::{Example, MaybeUndefined};
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
#[oai(rename = "UserSettings", rename_all = "camelCase", deny_unknown_fields, example)]
pub struct SettingsView {
    pub privacy: PrivacyName,
    /// Whether notifications are delivered.
    pub notifications: bool,
    pub dark_mode: bool,
}

/// A change of some settings: absent (or `null`) settings stay as they are, so two devices
/// changing different settings both keep their change.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UserSettingsPatch", rename_all = "camelCase", deny_unknown_fields, example)]
pub struct SettingsPatchRequest {
    pub privacy: Option<PrivacyName>,
    /// Whether notifications are delivered.
    pub notifications: Option<bool>,
    pub dark_mode: Option<bool>,
}

impl From<SettingsPatchRequest> for SettingsPatch {
    fn from(request: SettingsPatchRequest) -> Self {
        Self {
            privacy: request.privacy.map(Privacy::from),
            notifications: request.notifications,
            dark_mode: request.dark_mode,
        }
    }
}

impl From<PrivacyName> for Privacy {
    fn from(privacy: PrivacyName) -> Self {
        match privacy {
            PrivacyName::Public => Self::Public,
            PrivacyName::Friends => Self::Friends,
            PrivacyName::Private => Self::Private,
        }
    }
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
        Self { privacy: view.privacy.into(), notifications: view.notifications, dark_mode: view.dark_mode }
    }
}

/// The signed-in user's own account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "User", rename_all = "camelCase", example)]
pub struct UserView {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    pub email_verified: bool,
    #[oai(skip_serializing_if_is_none)]
    pub phone_number: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub bio: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub avatar: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cover_photo: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<String>,
    #[oai(skip_serializing_if_is_none)]
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

/// A user as others see them: never email, phone number, settings or role. A user whose
/// privacy setting does not show you their profile (`friends` when you are not friends,
/// `private`) shows only their card — id, handle, name and avatar — with `private: true`;
/// the rest is absent.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct PublicUser {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub bio: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub avatar: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cover_photo: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub website: Option<String>,
    /// The verified badge: verified accounts and Loopync's staff.
    pub verified: bool,
    /// Whether the user's privacy setting shows you only their card.
    pub private: bool,
    /// When the account was made; absent on a private card.
    #[oai(skip_serializing_if_is_none)]
    pub created_at: Option<Timestamp>,
    /// What the user is to you: `self`, `friends`, `request_sent`, `request_received`,
    /// `following`, `blocked` (you block them) or `none`.
    pub relationship: String,
    /// Their friends, followers, follows and posts; on a profile read alone, and absent on a
    /// private card.
    #[oai(skip_serializing_if_is_none)]
    pub counts: Option<ProfileCounts>,
}

/// What a profile counts.
#[derive(Debug, Clone, Copy, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ProfileCounts {
    pub friends: i32,
    pub followers: i32,
    pub following: i32,
    pub posts: i32,
}

impl Example for ProfileCounts {
    fn example() -> Self {
        Self { friends: 150, followers: 320, following: 87, posts: 42 }
    }
}

impl From<SocialCounts> for ProfileCounts {
    fn from(counts: SocialCounts) -> Self {
        Self {
            friends: counts.friends,
            followers: counts.followers,
            following: counts.following,
            posts: counts.posts,
        }
    }
}

impl PublicUser {
    /// `row` as a viewer who is `relation` to its user may see it: whole to its owner and to
    /// whom its privacy setting shows it, the card otherwise.
    pub fn seen_by(row: &ProfileRow, relation: &Relation) -> Self {
        let privacy = Visibility::parse(&row.privacy).unwrap_or(Visibility::Private);
        let whole = relation.may_see(privacy);
        let shown = |value: &Option<String>| if whole { value.clone() } else { None };
        Self {
            id: row.user_id,
            handle: row.handle.clone(),
            name: row.name.clone(),
            bio: shown(&row.bio),
            avatar: row.avatar.clone(),
            cover_photo: shown(&row.cover_photo),
            location: shown(&row.location),
            website: shown(&row.website),
            verified: matches!(row.role.as_str(), "verified" | "admin" | "founder"),
            private: !whole,
            created_at: whole.then(|| row.registered_at.into()),
            relationship: relation.summary().to_owned(),
            counts: None,
        }
    }

    /// With the profile's counts, unless it shows only its card.
    pub fn with_counts(mut self, counts: SocialCounts) -> Self {
        if !self.private {
            self.counts = Some(counts.into());
        }
        self
    }
}

/// Email sign-up.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
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
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

/// A signed-in session's credentials.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
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
#[oai(rename_all = "camelCase", example)]
pub struct PhoneAuthTokens {
    #[oai(flatten)]
    pub tokens: AuthTokens,
    pub is_new_user: bool,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct RefreshRequest {
    #[oai(validator(max_length = 200))]
    pub refresh_token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct TokenRequest {
    /// The token from the mail.
    #[oai(validator(max_length = 200))]
    pub token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct EmailRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct ResetPasswordRequest {
    #[oai(validator(max_length = 200))]
    pub token: String,
    #[oai(validator(max_length = 128))]
    pub password: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 128))]
    pub current_password: String,
    #[oai(validator(max_length = 128))]
    pub new_password: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct SendCodeRequest {
    /// E.164, e.g. `+442079460958`; spaces, dashes, dots and parentheses are ignored.
    #[oai(validator(max_length = 32))]
    pub phone_number: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct CodeSentView {
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds before another code can be sent to this number.
    pub resend_after: u64,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
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
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
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
#[oai(rename = "Session", rename_all = "camelCase", example)]
pub struct SessionView {
    pub id: Uuid,
    /// The client's `User-Agent` when it signed in.
    #[oai(skip_serializing_if_is_none)]
    pub device: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    pub started_at: Timestamp,
    pub last_used_at: Timestamp,
    /// When the session's refresh token expires unless used.
    pub expires_at: Timestamp,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SessionList {
    pub data: Vec<SessionView>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct UserPage {
    pub data: Vec<PublicUser>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct RoleChangeRequest {
    pub role: RoleName,
}

/// Accepted; nothing to show (`forgot-password`, `resend-verification`).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Accepted {
    pub message: String,
}

// Examples of every request and answer, shown in the OpenAPI document and Swagger UI.

/// The id of the examples' user.
const USER_ID: Uuid = Uuid::from_u128(0x0193_a0c4_6c1e_7d2a_9b1f_3f5e_8d2c_4a10);
/// The id of the examples' session.
const SESSION_ID: Uuid = Uuid::from_u128(0x0193_a0c4_7a02_7c11_8e3d_5b6a_1f0e_9d21);
const PASSWORD: &str = "correct horse battery";
const OPAQUE_TOKEN: &str = "0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10.kq3V0Zb8n6lq2Jx9T1cS4mWfYp7uHdRe5GaNv0iLtEo";

impl Example for SettingsView {
    fn example() -> Self {
        Self { privacy: PrivacyName::Friends, notifications: true, dark_mode: true }
    }
}

impl Example for SettingsPatchRequest {
    fn example() -> Self {
        Self { privacy: None, notifications: None, dark_mode: Some(true) }
    }
}

impl Example for UserView {
    fn example() -> Self {
        Self {
            id: USER_ID,
            handle: "ada".to_owned(),
            name: "Ada Lovelace".to_owned(),
            email: Some("ada@example.com".to_owned()),
            email_verified: true,
            phone_number: Some("+442079460958".to_owned()),
            bio: Some("Poet of numbers.".to_owned()),
            avatar: Some("/api/media/0193a0c4-8b11-7e4f-a2c3-6d7e8f901234".to_owned()),
            cover_photo: None,
            location: Some("London".to_owned()),
            website: Some("https://ada.example.com".to_owned()),
            role: RoleName::User,
            settings: SettingsView::example(),
        }
    }
}

impl Example for PublicUser {
    fn example() -> Self {
        Self {
            id: USER_ID,
            handle: "ada".to_owned(),
            name: "Ada Lovelace".to_owned(),
            bio: Some("Poet of numbers.".to_owned()),
            avatar: Some("/api/media/0193a0c4-8b11-7e4f-a2c3-6d7e8f901234".to_owned()),
            cover_photo: None,
            location: Some("London".to_owned()),
            website: Some("https://ada.example.com".to_owned()),
            verified: true,
            private: false,
            created_at: Some(Timestamp::example()),
            relationship: "friends".to_owned(),
            counts: Some(ProfileCounts::example()),
        }
    }
}

impl Example for SignupRequest {
    fn example() -> Self {
        Self {
            email: "ada@example.com".to_owned(),
            password: PASSWORD.to_owned(),
            name: "Ada Lovelace".to_owned(),
            handle: "ada".to_owned(),
        }
    }
}

impl Example for LoginRequest {
    fn example() -> Self {
        Self { email: "ada@example.com".to_owned(), password: PASSWORD.to_owned() }
    }
}

impl Example for AuthTokens {
    fn example() -> Self {
        Self {
            token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzYTBjNCJ9.c2lnbmF0dXJl".to_owned(),
            refresh_token: OPAQUE_TOKEN.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: 900,
            session_id: SESSION_ID,
            user: UserView::example(),
        }
    }
}

impl Example for PhoneAuthTokens {
    fn example() -> Self {
        Self { tokens: AuthTokens::example(), is_new_user: false }
    }
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self { refresh_token: OPAQUE_TOKEN.to_owned() }
    }
}

impl Example for TokenRequest {
    fn example() -> Self {
        Self { token: OPAQUE_TOKEN.to_owned() }
    }
}

impl Example for EmailRequest {
    fn example() -> Self {
        Self { email: "ada@example.com".to_owned() }
    }
}

impl Example for ResetPasswordRequest {
    fn example() -> Self {
        Self { token: OPAQUE_TOKEN.to_owned(), password: "a new horse battery".to_owned() }
    }
}

impl Example for ChangePasswordRequest {
    fn example() -> Self {
        Self { current_password: PASSWORD.to_owned(), new_password: "a new horse battery".to_owned() }
    }
}

impl Example for SendCodeRequest {
    fn example() -> Self {
        Self { phone_number: "+442079460958".to_owned() }
    }
}

impl Example for CodeSentView {
    fn example() -> Self {
        Self { expires_in: 300, resend_after: 60 }
    }
}

impl Example for VerifyPhoneRequest {
    fn example() -> Self {
        Self {
            phone_number: "+442079460958".to_owned(),
            code: "482913".to_owned(),
            name: Some("Ada Lovelace".to_owned()),
            handle: Some("ada".to_owned()),
        }
    }
}

impl Example for ProfilePatch {
    fn example() -> Self {
        Self {
            name: None,
            handle: Some("ada.l".to_owned()),
            bio: MaybeUndefined::Value("Poet of numbers.".to_owned()),
            avatar: MaybeUndefined::Undefined,
            cover_photo: MaybeUndefined::Null,
            location: MaybeUndefined::Undefined,
            website: MaybeUndefined::Value("https://ada.example.com".to_owned()),
        }
    }
}

impl Example for SessionView {
    fn example() -> Self {
        Self {
            id: SESSION_ID,
            device: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)".to_owned()),
            ip: Some("203.0.113.7".to_owned()),
            started_at: Timestamp::example(),
            last_used_at: Timestamp::example(),
            expires_at: Timestamp::example(),
            current: true,
        }
    }
}

impl Example for SessionList {
    fn example() -> Self {
        Self { data: vec![SessionView::example()], pagination: Pagination::whole(1) }
    }
}

impl Example for UserPage {
    fn example() -> Self {
        Self { data: vec![PublicUser::example()], pagination: Pagination::example() }
    }
}

impl Example for RoleChangeRequest {
    fn example() -> Self {
        Self { role: RoleName::Auditor }
    }
}

impl Example for Accepted {
    fn example() -> Self {
        Self { message: "if the address has an account, a reset mail is on its way".to_owned() }
    }
}

/// Whether a handle can be taken.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct HandleAvailability {
    /// The handle as it would be stored (lowercase, without `@`).
    pub handle: String,
    pub available: bool,
    /// Why not, when it is not: `invalid` (not 3–30 of `a-z 0-9 _ .`) or `taken`.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

impl Example for HandleAvailability {
    fn example() -> Self {
        Self { handle: "ada".to_owned(), available: false, reason: Some("taken".to_owned()) }
    }
}
