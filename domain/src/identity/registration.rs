//! Decisions over an account and the unique values it holds.
//!
//! A unique value — an email address, a phone number, a handle — is a claim stream of its own
//! (`claim-<kind>:<value>`, see [`crate::claim`]). A sign-up claims its sign-in value and its
//! handle in the same append that registers the account; a handle change claims the new
//! handle and releases the old one in the same append that renames the account. Two racing
//! requests for one value both expect the claim's loaded version: exactly one append wins, and
//! the other is decided again on the new state and refused as taken.

use super::account::{Account, AccountCommand, AccountError, ProfilePatch, Registration};
use super::values::Handle;
use crate::claim::{ClaimCommand, ClaimError, ClaimEvent, UniqueClaim, claim_id};
use crate::{Aggregate, Decision};
use serde::Serialize;
use uuid::Uuid;

/// Claim kind of email addresses: `claim-email:<address>`.
pub const EMAIL_CLAIM: &str = "email";
/// Claim kind of phone numbers: `claim-phone:<number>`.
pub const PHONE_CLAIM: &str = "phone";
/// Claim kind of handles: `claim-handle:<handle>`.
pub const HANDLE_CLAIM: &str = "handle";

/// The events of a decision over an account and two claims.
pub type AccountAndClaims = (Vec<<Account as Aggregate>::Event>, Vec<ClaimEvent>, Vec<ClaimEvent>);

/// Why a sign-up was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("an account with this phone number already exists")]
    PhoneTaken,
    #[error("this handle is taken")]
    HandleTaken,
    #[error("an account signs in with an email address or a phone number")]
    NoSignInValue,
    #[error(transparent)]
    Account(AccountError),
}

/// A new account with its claims: its sign-in value (the email address, or else the phone
/// number) and its handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Register {
    #[serde(skip)]
    pub user_id: Uuid,
    pub registration: Registration,
}

impl Register {
    /// The claim kind and value the account signs in with.
    fn sign_in(&self) -> Option<(&'static str, &str)> {
        match (&self.registration.email, &self.registration.phone) {
            (Some(email), _) => Some((EMAIL_CLAIM, email.as_str())),
            (None, Some(phone)) => Some((PHONE_CLAIM, phone.as_str())),
            (None, None) => None,
        }
    }
}

impl Decision for Register {
    const KIND: &'static str = "account.register";
    type State = (Account, UniqueClaim, UniqueClaim);
    type Error = RegistrationError;

    fn stream_ids(&self) -> (String, String, String) {
        // A registration without a sign-in value is refused by `decide`; the claim it would
        // have loaded is the (always free) claim on the empty email address.
        let (kind, value) = self.sign_in().unwrap_or((EMAIL_CLAIM, ""));
        (
            self.user_id.to_string(),
            claim_id(kind, value),
            claim_id(HANDLE_CLAIM, self.registration.handle.as_str()),
        )
    }

    fn decide(
        &self,
        (account, sign_in, handle): (&Account, &UniqueClaim, &UniqueClaim),
    ) -> Result<AccountAndClaims, RegistrationError> {
        let (kind, _) = self.sign_in().ok_or(RegistrationError::NoSignInValue)?;
        let claim = ClaimCommand::Claim { owner: self.user_id.to_string() };
        let sign_in_events = sign_in.decide(&claim).map_err(|_: ClaimError| match kind {
            EMAIL_CLAIM => RegistrationError::EmailTaken,
            _ => RegistrationError::PhoneTaken,
        })?;
        let handle_events = handle.decide(&claim).map_err(|_| RegistrationError::HandleTaken)?;
        let account_events = account
            .decide(&AccountCommand::Register(self.registration.clone()))
            .map_err(RegistrationError::Account)?;
        Ok((account_events, sign_in_events, handle_events))
    }
}

/// Why a handle change was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleChangeError {
    #[error("this handle is taken")]
    HandleTaken,
    /// The account's handle is no longer the one this change was made against: another
    /// request changed it meanwhile.
    #[error("the handle changed while this request was handled; reload and retry")]
    HandleChanged,
    #[error(transparent)]
    Account(AccountError),
}

/// A profile change that renames the account: the profile patch and the new handle, with the
/// new handle claimed and the old one released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeHandle {
    #[serde(skip)]
    pub user_id: Uuid,
    /// The handle the account had when the change was made.
    #[serde(skip)]
    pub from: Handle,
    pub to: Handle,
    pub profile: ProfilePatch,
}

impl Decision for ChangeHandle {
    // The profile change's kind: a rename is a profile change with a new handle.
    const KIND: &'static str = "account.update_profile";
    type State = (Account, UniqueClaim, UniqueClaim);
    type Error = HandleChangeError;

    fn stream_ids(&self) -> (String, String, String) {
        (
            self.user_id.to_string(),
            claim_id(HANDLE_CLAIM, self.to.as_str()),
            claim_id(HANDLE_CLAIM, self.from.as_str()),
        )
    }

    fn decide(
        &self,
        (account, new_claim, old_claim): (&Account, &UniqueClaim, &UniqueClaim),
    ) -> Result<AccountAndClaims, HandleChangeError> {
        if account.handle.as_ref() != Some(&self.from) {
            return Err(HandleChangeError::HandleChanged);
        }
        let owner = self.user_id.to_string();
        let claimed = new_claim
            .decide(&ClaimCommand::Claim { owner: owner.clone() })
            .map_err(|_| HandleChangeError::HandleTaken)?;
        let released = old_claim
            .decide(&ClaimCommand::Release { owner })
            .map_err(|_| HandleChangeError::HandleChanged)?;
        let patch = AccountCommand::UpdateProfile(self.profile.clone());
        let mut events = account.decide(&patch).map_err(HandleChangeError::Account)?;
        let patched = account.clone().fold(&events);
        let rename = AccountCommand::ChangeHandle { handle: self.to.clone() };
        events.extend(patched.decide(&rename).map_err(HandleChangeError::Account)?);
        Ok((events, claimed, released))
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::claim::ClaimOwner;
    use crate::given::given_streams;
    use crate::identity::account::{AccountEvent, Registered};
    use crate::identity::values::{DisplayName, Email, PhoneNumber, Role};
    use chrono::{DateTime, TimeZone, Utc};

    fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn at() -> DateTime<Utc> {
        ok(Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().ok_or("no such time"))
    }

    const ADA: Uuid = Uuid::from_u128(0xada);
    const BOB: Uuid = Uuid::from_u128(0xb0b);

    fn claimed(owner: Uuid) -> ClaimEvent {
        ClaimEvent::Claimed(ClaimOwner { owner: owner.to_string() })
    }

    fn released(owner: Uuid) -> ClaimEvent {
        ClaimEvent::Released(ClaimOwner { owner: owner.to_string() })
    }

    fn handle(value: &str) -> Handle {
        ok(Handle::parse(value))
    }

    fn registration(email: Option<&str>, phone: Option<&str>, name: &str) -> Registration {
        Registration {
            email: email.map(|e| ok(Email::parse(e))),
            phone: phone.map(|p| ok(PhoneNumber::parse(p))),
            handle: handle(name),
            name: ok(DisplayName::parse(name)),
            password_hash: email.map(|_| "bcrypt".to_owned()),
            email_verification: None,
            at: at(),
        }
    }

    fn sign_up(user_id: Uuid, email: Option<&str>, phone: Option<&str>, name: &str) -> Register {
        Register { user_id, registration: registration(email, phone, name) }
    }

    fn registered(registration: &Registration) -> AccountEvent {
        AccountEvent::Registered(Registered {
            email: registration.email.clone(),
            phone: registration.phone.clone(),
            handle: registration.handle.clone(),
            name: registration.name.clone(),
            password_hash: registration.password_hash.clone(),
            role: Role::User,
            registered_at: at(),
        })
    }

    #[test]
    fn a_sign_up_registers_the_account_and_claims_its_email_and_handle_at_once() {
        let ada = sign_up(ADA, Some("ada@example.com"), None, "ada");
        assert_eq!(ada.stream_ids(), (ADA.to_string(), "email:ada@example.com".into(), "handle:ada".into()));
        given_streams((vec![], vec![], vec![])).when(ada.clone()).then((
            vec![registered(&ada.registration)],
            vec![claimed(ADA)],
            vec![claimed(ADA)],
        ));
    }

    #[test]
    fn a_sign_up_by_phone_claims_the_phone_number() {
        let ada = sign_up(ADA, None, Some("+4915112345678"), "ada");
        assert_eq!(ada.stream_ids().1, "phone:+4915112345678");
        given_streams((vec![], vec![claimed(BOB)], vec![]))
            .when(ada)
            .then_error(RegistrationError::PhoneTaken);
    }

    #[test]
    fn a_taken_email_or_handle_refuses_the_whole_sign_up() {
        let ada = || sign_up(ADA, Some("ada@example.com"), None, "ada");
        given_streams((vec![], vec![claimed(BOB)], vec![]))
            .when(ada())
            .then_error(RegistrationError::EmailTaken);
        given_streams((vec![], vec![], vec![claimed(BOB)]))
            .when(ada())
            .then_error(RegistrationError::HandleTaken);
    }

    #[test]
    fn an_email_released_by_its_owner_can_be_signed_up_with_again() {
        let ada = sign_up(ADA, Some("ada@example.com"), None, "ada");
        given_streams((vec![], vec![claimed(BOB), released(BOB)], vec![])).when(ada.clone()).then((
            vec![registered(&ada.registration)],
            vec![claimed(ADA)],
            vec![claimed(ADA)],
        ));
    }

    #[test]
    fn an_account_registers_once() {
        let ada = sign_up(ADA, Some("ada@example.com"), None, "ada");
        given_streams((vec![registered(&ada.registration)], vec![], vec![]))
            .when(ada)
            .then_error(RegistrationError::Account(AccountError::AlreadyRegistered));
    }

    #[test]
    fn an_account_signs_in_with_an_email_or_a_phone_number() {
        given_streams((vec![], vec![], vec![]))
            .when(sign_up(ADA, None, None, "ada"))
            .then_error(RegistrationError::NoSignInValue);
    }

    fn rename(from: &str, to: &str) -> ChangeHandle {
        ChangeHandle { user_id: ADA, from: handle(from), to: handle(to), profile: ProfilePatch::default() }
    }

    #[test]
    fn a_new_handle_is_claimed_and_the_old_one_released_with_the_rename() {
        let ada = registration(Some("ada@example.com"), None, "ada");
        let outcome = ok(given_streams((vec![registered(&ada)], vec![], vec![claimed(ADA)]))
            .when(rename("ada", "countess"))
            .outcome());
        assert_eq!((outcome.1, outcome.2), (vec![claimed(ADA)], vec![released(ADA)]));
        let renamed = Account::default().fold(&[registered(&ada)]).fold(&outcome.0);
        assert_eq!(renamed.handle, Some(handle("countess")));
    }

    #[test]
    fn a_handle_someone_holds_is_taken() {
        let ada = registration(Some("ada@example.com"), None, "ada");
        given_streams((vec![registered(&ada)], vec![claimed(BOB)], vec![claimed(ADA)]))
            .when(rename("ada", "bob"))
            .then_error(HandleChangeError::HandleTaken);
    }

    #[test]
    fn a_rename_made_against_a_handle_the_account_no_longer_has_is_refused() {
        let ada = registration(Some("ada@example.com"), None, "ada");
        given_streams((vec![registered(&ada)], vec![], vec![claimed(ADA)]))
            .when(rename("lovelace", "countess"))
            .then_error(HandleChangeError::HandleChanged);
    }
}
