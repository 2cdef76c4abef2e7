//! The account: who a user is, how they prove it, and what they show of themselves.
//!
//! One `Account` aggregate per user (stream `account-<user id>`). It holds the sign-in
//! credentials (a password hash, never the password), the email verification and password
//! reset challenges (hashes of single-use tokens, never the tokens), the public profile, the
//! private settings and the role.
//!
//! What the aggregate does not decide:
//! - uniqueness of emails, phone numbers and handles: a claim stream per value
//!   ([`crate::claim`]) is appended in the same atomic append as `account.registered` and
//!   `account.handle_changed`;
//! - password checks: bcrypt is slow and impure, so the command side verifies a password and
//!   names the hash it verified against ([`AccountCommand::ChangePassword`]); the aggregate
//!   refuses if the hash has changed since;
//! - sessions: each is a [`crate::identity::session::Session`]. A password change or reset bumps
//!   [`Account::credentials_epoch`], which ends every session started under an earlier epoch.

use crate::identity::{DisplayName, Email, Handle, PhoneNumber, Role};
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who may see a user's activity (enforced by the features that show it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    #[default]
    Public,
    Friends,
    Private,
}

/// A user's private settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub privacy: Privacy,
    pub notifications: bool,
    pub dark_mode: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { privacy: Privacy::Public, notifications: true, dark_mode: false }
    }
}

/// A change of some settings: `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatch {
    pub privacy: Option<Privacy>,
    pub notifications: Option<bool>,
    pub dark_mode: Option<bool>,
}

impl SettingsPatch {
    /// The settings after this change.
    pub fn applied_to(&self, current: &Settings) -> Settings {
        Settings {
            privacy: self.privacy.unwrap_or(current.privacy),
            notifications: self.notifications.unwrap_or(current.notifications),
            dark_mode: self.dark_mode.unwrap_or(current.dark_mode),
        }
    }
}

/// The free-form part of a public profile. Every field is optional; `None` shows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileDetails {
    pub bio: Option<String>,
    pub avatar: Option<String>,
    pub cover_photo: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
}

/// Why a profile field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ProfileFieldError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ProfileDetails {
    pub const MAX_BIO: usize = 500;
    pub const MAX_LOCATION: usize = 100;
    pub const MAX_URL: usize = 500;

    /// Checks every field: lengths, no control characters (a bio may have line breaks), and
    /// links that are `https://`/`http://` URLs or paths of Loopync's own media (`/api/media/…`).
    /// Empty strings are normalised to `None`.
    pub fn validated(self) -> Result<Self, ProfileFieldError> {
        let bio = text("bio", self.bio, Self::MAX_BIO, true)?;
        let location = text("location", self.location, Self::MAX_LOCATION, false)?;
        let website = link("website", self.website, false)?;
        let avatar = link("avatar", self.avatar, true)?;
        let cover_photo = link("coverPhoto", self.cover_photo, true)?;
        Ok(Self { bio, avatar, cover_photo, location, website })
    }
}

fn text(
    field: &'static str,
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, ProfileFieldError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(ProfileFieldError { field, reason: "is too long" });
    }
    if value.chars().any(|c| c.is_control() && !(multiline && c == '\n')) {
        return Err(ProfileFieldError { field, reason: "contains control characters" });
    }
    Ok(Some(value))
}

fn link(
    field: &'static str,
    value: Option<String>,
    media: bool,
) -> Result<Option<String>, ProfileFieldError> {
    let Some(value) = text(field, value, ProfileDetails::MAX_URL, false)? else {
        return Ok(None);
    };
    let web = ["https://", "http://"]
        .iter()
        .any(|scheme| value.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
    let own_media = media && value.strip_prefix("/api/media/").is_some_and(|id| !id.is_empty());
    if (!web && !own_media) || value.contains(char::is_whitespace) {
        return Err(ProfileFieldError { field, reason: "is not an http(s) URL or a Loopync media path" });
    }
    Ok(Some(value))
}

/// A profile change: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilePatch {
    pub name: Option<DisplayName>,
    pub bio: Option<Option<String>>,
    pub avatar: Option<Option<String>>,
    pub cover_photo: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub website: Option<Option<String>>,
}

impl ProfilePatch {
    /// The profile after this patch; its fields checked.
    pub fn applied_to(&self, current: &ProfileDetails) -> Result<ProfileDetails, ProfileFieldError> {
        let pick =
            |new: &Option<Option<String>>, old: &Option<String>| new.clone().unwrap_or_else(|| old.clone());
        ProfileDetails {
            bio: pick(&self.bio, &current.bio),
            avatar: pick(&self.avatar, &current.avatar),
            cover_photo: pick(&self.cover_photo, &current.cover_photo),
            location: pick(&self.location, &current.location),
            website: pick(&self.website, &current.website),
        }
        .validated()
    }
}

/// A pending single-use challenge: the SHA-256 of a token sent to the user, and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenChallenge {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub registered: bool,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub phone: Option<PhoneNumber>,
    pub handle: Option<Handle>,
    pub name: Option<DisplayName>,
    /// bcrypt hash; `None` for accounts made by phone, which sign in with a code.
    pub password_hash: Option<String>,
    pub role: Role,
    /// Bumped by every password change or reset; sessions of earlier epochs are over.
    pub credentials_epoch: u32,
    pub profile: ProfileDetails,
    pub settings: Settings,
    pub email_verification: Option<TokenChallenge>,
    pub password_reset: Option<TokenChallenge>,
}

/// A new account: by email (with a password) or by a verified phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub handle: Handle,
    pub name: DisplayName,
    pub password_hash: Option<String>,
    /// For email sign-ups: the verification mail's token.
    pub email_verification: Option<TokenChallenge>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountCommand {
    Register(Registration),
    RequestEmailVerification(TokenChallenge),
    VerifyEmail {
        token_hash: String,
        at: DateTime<Utc>,
    },
    RequestPasswordReset(TokenChallenge),
    ResetPassword {
        token_hash: String,
        password_hash: String,
        at: DateTime<Utc>,
    },
    /// `verified_against` is the hash the current password was checked against.
    ChangePassword {
        verified_against: String,
        password_hash: String,
        at: DateTime<Utc>,
    },
    /// Merged onto the profile as it is when decided, so concurrent changes of different
    /// fields all land.
    UpdateProfile(ProfilePatch),
    ChangeHandle {
        handle: Handle,
    },
    UpdateSettings(Settings),
    /// Merged onto the settings as they are when decided, so two devices changing different
    /// settings at once both keep their change.
    PatchSettings(SettingsPatch),
    /// `by` is the role of the admin making the change.
    ChangeRole {
        role: Role,
        by: Role,
    },
}

/// Payload of `account.registered`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registered {
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub handle: Handle,
    pub name: DisplayName,
    /// bcrypt hash of the password (never the password).
    pub password_hash: Option<String>,
    pub role: Role,
    pub registered_at: DateTime<Utc>,
}

/// Payload of `account.email_verified`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailVerified {
    pub email: Email,
    pub verified_at: DateTime<Utc>,
}

/// Why a password changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordChangeReason {
    /// The user changed it, knowing the old one.
    Changed,
    /// The user reset it with a token mailed to them.
    Reset,
}

/// Payload of `account.password_changed`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChanged {
    pub password_hash: String,
    pub reason: PasswordChangeReason,
    /// The new epoch: sessions started before it are over.
    pub credentials_epoch: u32,
    pub changed_at: DateTime<Utc>,
}

/// Payload of `account.profile_updated`, v1: the whole profile after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileUpdated {
    pub name: DisplayName,
    pub details: ProfileDetails,
}

/// Payload of `account.handle_changed`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HandleChanged {
    pub from: Handle,
    pub to: Handle,
}

/// Payload of `account.role_changed`, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleChanged {
    pub from: Role,
    pub to: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    #[serde(rename = "account.registered")]
    Registered(Registered),
    #[serde(rename = "account.email_verification_requested")]
    EmailVerificationRequested(TokenChallenge),
    #[serde(rename = "account.email_verified")]
    EmailVerified(EmailVerified),
    #[serde(rename = "account.password_reset_requested")]
    PasswordResetRequested(TokenChallenge),
    #[serde(rename = "account.password_changed")]
    PasswordChanged(PasswordChanged),
    #[serde(rename = "account.profile_updated")]
    ProfileUpdated(ProfileUpdated),
    #[serde(rename = "account.handle_changed")]
    HandleChanged(HandleChanged),
    #[serde(rename = "account.settings_updated")]
    SettingsUpdated(Settings),
    #[serde(rename = "account.role_changed")]
    RoleChanged(RoleChanged),
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "account.registered",
            Self::EmailVerificationRequested(_) => "account.email_verification_requested",
            Self::EmailVerified(_) => "account.email_verified",
            Self::PasswordResetRequested(_) => "account.password_reset_requested",
            Self::PasswordChanged(_) => "account.password_changed",
            Self::ProfileUpdated(_) => "account.profile_updated",
            Self::HandleChanged(_) => "account.handle_changed",
            Self::SettingsUpdated(_) => "account.settings_updated",
            Self::RoleChanged(_) => "account.role_changed",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("no such account")]
    NotFound,
    #[error("the account already exists")]
    AlreadyRegistered,
    #[error("the account has no email address")]
    NoEmail,
    #[error("the account signs in by phone and has no password")]
    NoPassword,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the password changed while this request was being checked; sign in again")]
    CredentialsChanged,
    #[error("this role may not make that role change")]
    RoleChangeNotAllowed,
    #[error("{0}")]
    InvalidProfile(ProfileFieldError),
}

impl Account {
    /// Whether a reset with the token of hash `token_hash` at `at` would be accepted: the same
    /// check `ResetPassword` makes, asked before the new password is hashed, so a wrong token
    /// costs no bcrypt.
    pub fn reset_token_check(&self, token_hash: &str, at: DateTime<Utc>) -> Result<(), AccountError> {
        Self::checked_challenge(self.password_reset.as_ref(), token_hash, at)
    }

    fn checked_challenge(
        challenge: Option<&TokenChallenge>,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let challenge = challenge.ok_or(AccountError::InvalidToken)?;
        if challenge.token_hash != token_hash {
            return Err(AccountError::InvalidToken);
        }
        if at >= challenge.expires_at {
            return Err(AccountError::TokenExpired);
        }
        Ok(())
    }

    fn password_changed(
        &self,
        password_hash: &str,
        reason: PasswordChangeReason,
        at: DateTime<Utc>,
    ) -> AccountEvent {
        AccountEvent::PasswordChanged(PasswordChanged {
            password_hash: password_hash.to_owned(),
            reason,
            credentials_epoch: self.credentials_epoch + 1,
            changed_at: at,
        })
    }
}

impl Aggregate for Account {
    const CATEGORY: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn decide(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand as C;
        use AccountEvent as E;
        if let C::Register(registration) = command {
            if self.registered {
                return Err(AccountError::AlreadyRegistered);
            }
            let mut events = vec![E::Registered(Registered {
                email: registration.email.clone(),
                phone: registration.phone.clone(),
                handle: registration.handle.clone(),
                name: registration.name.clone(),
                password_hash: registration.password_hash.clone(),
                role: Role::User,
                registered_at: registration.at,
            })];
            if let (Some(_), Some(challenge)) = (&registration.email, &registration.email_verification) {
                events.push(E::EmailVerificationRequested(challenge.clone()));
            }
            return Ok(events);
        }
        if !self.registered {
            return Err(AccountError::NotFound);
        }
        match command {
            C::Register(_) => Err(AccountError::AlreadyRegistered),
            C::RequestEmailVerification(challenge) => match (&self.email, self.email_verified) {
                (None, _) => Err(AccountError::NoEmail),
                (Some(_), true) => Ok(vec![]),
                (Some(_), false) => Ok(vec![E::EmailVerificationRequested(challenge.clone())]),
            },
            C::VerifyEmail { token_hash, at } => {
                let email = self.email.clone().ok_or(AccountError::NoEmail)?;
                if self.email_verified {
                    // The token that verified the address may come again (a retried request):
                    // nothing to do. Any other token is wrong, as before.
                    let used = self.email_verification.as_ref().is_some_and(|c| &c.token_hash == token_hash);
                    return if used { Ok(vec![]) } else { Err(AccountError::InvalidToken) };
                }
                Self::checked_challenge(self.email_verification.as_ref(), token_hash, *at)?;
                Ok(vec![E::EmailVerified(EmailVerified { email, verified_at: *at })])
            }
            C::RequestPasswordReset(challenge) => {
                self.email.as_ref().ok_or(AccountError::NoEmail)?;
                Ok(vec![E::PasswordResetRequested(challenge.clone())])
            }
            C::ResetPassword { token_hash, password_hash, at } => {
                Self::checked_challenge(self.password_reset.as_ref(), token_hash, *at)?;
                Ok(vec![self.password_changed(password_hash, PasswordChangeReason::Reset, *at)])
            }
            C::ChangePassword { verified_against, password_hash, at } => {
                let current = self.password_hash.as_ref().ok_or(AccountError::NoPassword)?;
                if current != verified_against {
                    return Err(AccountError::CredentialsChanged);
                }
                Ok(vec![self.password_changed(password_hash, PasswordChangeReason::Changed, *at)])
            }
            C::UpdateProfile(patch) => {
                let details = patch.applied_to(&self.profile).map_err(AccountError::InvalidProfile)?;
                let name = patch.name.clone().or_else(|| self.name.clone()).ok_or(AccountError::NotFound)?;
                if self.name.as_ref() == Some(&name) && self.profile == details {
                    return Ok(vec![]);
                }
                Ok(vec![E::ProfileUpdated(ProfileUpdated { name, details })])
            }
            C::ChangeHandle { handle } => match &self.handle {
                Some(current) if current == handle => Ok(vec![]),
                Some(current) => {
                    Ok(vec![E::HandleChanged(HandleChanged { from: current.clone(), to: handle.clone() })])
                }
                None => Err(AccountError::NotFound),
            },
            C::UpdateSettings(settings) => {
                if &self.settings == settings {
                    return Ok(vec![]);
                }
                Ok(vec![E::SettingsUpdated(settings.clone())])
            }
            C::PatchSettings(patch) => {
                let settings = patch.applied_to(&self.settings);
                if self.settings == settings {
                    return Ok(vec![]);
                }
                Ok(vec![E::SettingsUpdated(settings)])
            }
            C::ChangeRole { role, by } => {
                if !by.may_change_role(self.role, *role) {
                    return Err(AccountError::RoleChangeNotAllowed);
                }
                if self.role == *role {
                    return Ok(vec![]);
                }
                Ok(vec![E::RoleChanged(RoleChanged { from: self.role, to: *role })])
            }
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Registered(registered) => {
                self.registered = true;
                self.email = registered.email.clone();
                self.phone = registered.phone.clone();
                self.handle = Some(registered.handle.clone());
                self.name = Some(registered.name.clone());
                self.password_hash = registered.password_hash.clone();
                self.role = registered.role;
            }
            AccountEvent::EmailVerificationRequested(challenge) => {
                self.email_verification = Some(challenge.clone());
            }
            // The used challenge stays, so a retry with the same token is recognised.
            AccountEvent::EmailVerified(_) => self.email_verified = true,
            AccountEvent::PasswordResetRequested(challenge) => self.password_reset = Some(challenge.clone()),
            AccountEvent::PasswordChanged(changed) => {
                self.password_hash = Some(changed.password_hash.clone());
                self.credentials_epoch = changed.credentials_epoch;
                // A reset token is single-use, and a password changed otherwise makes an
                // outstanding one moot.
                self.password_reset = None;
            }
            AccountEvent::ProfileUpdated(updated) => {
                self.name = Some(updated.name.clone());
                self.profile = updated.details.clone();
            }
            AccountEvent::HandleChanged(changed) => self.handle = Some(changed.to.clone()),
            AccountEvent::SettingsUpdated(settings) => self.settings = settings.clone(),
            AccountEvent::RoleChanged(changed) => self.role = changed.to,
        }
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, minute, 0).single().unwrap_or_default()
    }

    fn registered() -> AccountEvent {
        AccountEvent::Registered(Registered {
            email: Email::parse("ada@example.com").ok(),
            phone: None,
            handle: Handle::parse("ada").unwrap_or_else(|e| panic!("{e}")),
            name: DisplayName::parse("Ada").unwrap_or_else(|e| panic!("{e}")),
            password_hash: Some("hash-1".into()),
            role: Role::User,
            registered_at: at(0),
        })
    }

    fn challenge(hash: &str, expires: u32) -> TokenChallenge {
        TokenChallenge { token_hash: hash.into(), expires_at: at(expires) }
    }

    fn changed(hash: &str, reason: PasswordChangeReason, epoch: u32, minute: u32) -> AccountEvent {
        AccountEvent::PasswordChanged(PasswordChanged {
            password_hash: hash.into(),
            reason,
            credentials_epoch: epoch,
            changed_at: at(minute),
        })
    }

    #[test]
    fn an_account_is_registered_once_with_a_verification_challenge() {
        let registration = Registration {
            email: Email::parse("ada@example.com").ok(),
            phone: None,
            handle: Handle::parse("ada").unwrap_or_else(|e| panic!("{e}")),
            name: DisplayName::parse("Ada").unwrap_or_else(|e| panic!("{e}")),
            password_hash: Some("hash-1".into()),
            email_verification: Some(challenge("v", 30)),
            at: at(0),
        };
        given::<Account>([])
            .when(AccountCommand::Register(registration.clone()))
            .then([registered(), AccountEvent::EmailVerificationRequested(challenge("v", 30))]);
        given::<Account>([registered()])
            .when(AccountCommand::Register(registration))
            .then_error(AccountError::AlreadyRegistered);
    }

    #[test]
    fn commands_on_an_unknown_account_are_refused() {
        given::<Account>([])
            .when(AccountCommand::ChangeHandle {
                handle: Handle::parse("bob").unwrap_or_else(|e| panic!("{e}")),
            })
            .then_error(AccountError::NotFound);
    }

    #[test]
    fn an_email_is_verified_with_the_latest_unexpired_token_once() {
        let history = [registered(), AccountEvent::EmailVerificationRequested(challenge("v", 30))];
        given::<Account>(history.clone())
            .when(AccountCommand::VerifyEmail { token_hash: "v".into(), at: at(10) })
            .then([AccountEvent::EmailVerified(EmailVerified {
                email: Email::parse("ada@example.com").unwrap_or_else(|e| panic!("{e}")),
                verified_at: at(10),
            })]);
        given::<Account>(history.clone())
            .when(AccountCommand::VerifyEmail { token_hash: "other".into(), at: at(10) })
            .then_error(AccountError::InvalidToken);
        given::<Account>(history)
            .when(AccountCommand::VerifyEmail { token_hash: "v".into(), at: at(30) })
            .then_error(AccountError::TokenExpired);
    }

    #[test]
    fn a_reset_token_is_single_use_and_bumps_the_credentials_epoch() {
        let requested = AccountEvent::PasswordResetRequested(challenge("r", 59));
        let reset = || AccountCommand::ResetPassword {
            token_hash: "r".into(),
            password_hash: "hash-2".into(),
            at: at(5),
        };
        given::<Account>([registered(), requested.clone()]).when(reset()).then([changed(
            "hash-2",
            PasswordChangeReason::Reset,
            1,
            5,
        )]);
        given::<Account>([registered(), requested, changed("hash-2", PasswordChangeReason::Reset, 1, 5)])
            .when(reset())
            .then_error(AccountError::InvalidToken);
    }

    #[test]
    fn a_password_change_is_refused_when_the_password_changed_meanwhile() {
        given::<Account>([registered()])
            .when(AccountCommand::ChangePassword {
                verified_against: "hash-1".into(),
                password_hash: "hash-2".into(),
                at: at(1),
            })
            .then([changed("hash-2", PasswordChangeReason::Changed, 1, 1)]);
        given::<Account>([registered(), changed("hash-2", PasswordChangeReason::Changed, 1, 1)])
            .when(AccountCommand::ChangePassword {
                verified_against: "hash-1".into(),
                password_hash: "hash-3".into(),
                at: at(2),
            })
            .then_error(AccountError::CredentialsChanged);
    }

    #[test]
    fn only_admins_change_roles_and_only_founders_touch_founders() {
        let change = |role, by| AccountCommand::ChangeRole { role, by };
        given::<Account>([registered()])
            .when(change(Role::Verified, Role::Admin))
            .then([AccountEvent::RoleChanged(RoleChanged { from: Role::User, to: Role::Verified })]);
        given::<Account>([registered()])
            .when(change(Role::Admin, Role::Verified))
            .then_error(AccountError::RoleChangeNotAllowed);
        given::<Account>([registered()])
            .when(change(Role::Founder, Role::Admin))
            .then_error(AccountError::RoleChangeNotAllowed);
        let founder = AccountEvent::RoleChanged(RoleChanged { from: Role::User, to: Role::Founder });
        given::<Account>([registered(), founder.clone()])
            .when(change(Role::User, Role::Admin))
            .then_error(AccountError::RoleChangeNotAllowed);
        given::<Account>([registered(), founder])
            .when(change(Role::User, Role::Founder))
            .then([AccountEvent::RoleChanged(RoleChanged { from: Role::Founder, to: Role::User })]);
    }

    #[test]
    fn a_settings_patch_changes_only_the_settings_it_names() {
        let dark = SettingsPatch { dark_mode: Some(true), ..SettingsPatch::default() };
        let private = SettingsPatch { privacy: Some(Privacy::Private), ..SettingsPatch::default() };
        let dark_settings = Settings { dark_mode: true, ..Settings::default() };
        given::<Account>([registered()])
            .when(AccountCommand::PatchSettings(dark.clone()))
            .then([AccountEvent::SettingsUpdated(dark_settings.clone())]);
        given::<Account>([registered(), AccountEvent::SettingsUpdated(dark_settings)])
            .when(AccountCommand::PatchSettings(private))
            .then([AccountEvent::SettingsUpdated(Settings {
                privacy: Privacy::Private,
                dark_mode: true,
                ..Settings::default()
            })]);
        given::<Account>([registered()])
            .when(AccountCommand::PatchSettings(SettingsPatch::default()))
            .then([]);
    }

    #[test]
    fn unchanged_profiles_settings_and_handles_append_nothing() {
        given::<Account>([registered()]).when(AccountCommand::UpdateSettings(Settings::default())).then([]);
        given::<Account>([registered()])
            .when(AccountCommand::ChangeHandle {
                handle: Handle::parse("ADA").unwrap_or_else(|e| panic!("{e}")),
            })
            .then([]);
        given::<Account>([registered()])
            .when(AccountCommand::UpdateProfile(ProfilePatch {
                name: DisplayName::parse("Ada").ok(),
                ..ProfilePatch::default()
            }))
            .then([]);
    }

    #[test]
    fn a_profile_patch_changes_only_its_fields() {
        let bio = AccountEvent::ProfileUpdated(ProfileUpdated {
            name: DisplayName::parse("Ada").unwrap_or_else(|e| panic!("{e}")),
            details: ProfileDetails { bio: Some("Poet".into()), ..ProfileDetails::default() },
        });
        given::<Account>([registered(), bio])
            .when(AccountCommand::UpdateProfile(ProfilePatch {
                website: Some(Some("https://ada.example".into())),
                ..ProfilePatch::default()
            }))
            .then([AccountEvent::ProfileUpdated(ProfileUpdated {
                name: DisplayName::parse("Ada").unwrap_or_else(|e| panic!("{e}")),
                details: ProfileDetails {
                    bio: Some("Poet".into()),
                    website: Some("https://ada.example".into()),
                    ..ProfileDetails::default()
                },
            })]);
        given::<Account>([registered()])
            .when(AccountCommand::UpdateProfile(ProfilePatch {
                website: Some(Some("ftp://x".into())),
                ..ProfilePatch::default()
            }))
            .then_error(AccountError::InvalidProfile(ProfileFieldError {
                field: "website",
                reason: "is not an http(s) URL or a Loopync media path",
            }));
    }

    #[test]
    fn profile_fields_are_checked_and_blanks_cleared() {
        let ok = ProfileDetails {
            bio: Some("Poet of numbers.\nAnalyst.".into()),
            avatar: Some("/api/media/0192".into()),
            cover_photo: Some("https://cdn.example.com/c.jpg".into()),
            location: Some("  London ".into()),
            website: Some("".into()),
        }
        .validated();
        assert_eq!(ok.as_ref().map(|d| d.location.clone()), Ok(Some("London".into())));
        assert_eq!(ok.map(|d| d.website), Ok(None));
        let bad = |details: ProfileDetails| details.validated().map_err(|e| e.field);
        assert_eq!(
            bad(ProfileDetails { website: Some("javascript:alert(1)".into()), ..Default::default() }),
            Err("website")
        );
        assert_eq!(
            bad(ProfileDetails { website: Some("/api/media/1".into()), ..Default::default() }),
            Err("website")
        );
        assert_eq!(bad(ProfileDetails { bio: Some("x".repeat(501)), ..Default::default() }), Err("bio"));
        assert_eq!(
            bad(ProfileDetails { location: Some("a\tb".into()), ..Default::default() }),
            Err("location")
        );
    }
}
