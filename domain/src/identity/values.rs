//! Identity value objects: who a user is and how they sign in, validated once at the edge so
//! the rest of the system only ever holds well-formed values.
//!
//! Each type has a `parse` that normalises (emails lowercased and trimmed, handles lowercased,
//! phone numbers stripped of spaces and dashes) and refuses what the product does not accept.
//! Uniqueness (one account per email, per handle) is not a property of a value; the command
//! side enforces it when the account is created.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identity value was refused. Each variant maps to one stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("a handle is 3 to 30 characters of a-z, 0-9, `_` and `.`")]
    InvalidHandle,
    #[error("a password is 8 to 128 characters")]
    PasswordLength,
    #[error("the password must not be the email address")]
    PasswordIsEmail,
    #[error("not an E.164 phone number (`+` and 8 to 15 digits)")]
    InvalidPhoneNumber,
    #[error("a name is 1 to 80 characters, without control, invisible or direction-changing characters")]
    InvalidName,
}

/// An email address, normalised: trimmed and lowercased (addresses are matched
/// case-insensitively everywhere, so `Ada@Example.com` and `ada@example.com` are one account).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(IdentityError::InvalidEmail)?;
        let well_formed = email.len() <= Self::MAX_LEN
            && (1..=64).contains(&local.len())
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(IdentityError::InvalidEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A public handle (`@ada`): 3–30 characters of `a-z`, `0-9`, `_` and `.`, stored lowercased
/// so that uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let handle = raw.trim().trim_start_matches('@').to_ascii_lowercase();
        let well_formed = (3..=30).contains(&handle.len())
            && handle.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !well_formed {
            return Err(IdentityError::InvalidHandle);
        }
        Ok(Self(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The password rules: 8 to 128 characters (counted as characters, not bytes), and not the
/// account's own email address. The password itself is never stored or logged; only its hash.
pub fn check_password(password: &str, email: &Email) -> Result<(), IdentityError> {
    let length = password.chars().count();
    if !(8..=128).contains(&length) {
        return Err(IdentityError::PasswordLength);
    }
    if password.trim().to_lowercase() == email.as_str() {
        return Err(IdentityError::PasswordIsEmail);
    }
    Ok(())
}

/// A phone number in E.164 form: `+`, a country code not starting with 0, 8 to 15 digits in
/// all. Spaces, dashes, dots and parentheses are accepted on input and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let compact: String =
            raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+').ok_or(IdentityError::InvalidPhoneNumber)?;
        let well_formed = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !well_formed {
            return Err(IdentityError::InvalidPhoneNumber);
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name: trimmed, 1 to 80 characters, no control characters and no
/// invisible or direction-changing characters (a name that renders as another's, or that
/// reverses the text after it, impersonates).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let name = raw.trim();
        let length = name.chars().count();
        if !(1..=80).contains(&length) || name.chars().any(|c| c.is_control() || is_invisible_or_bidi(c)) {
            return Err(IdentityError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Zero-width characters and Unicode's directional formatting characters (embeddings,
/// overrides, isolates and marks): invisible in a name, or changing how the text around it reads.
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'   // zero-width space, non-joiner, joiner; LTR and RTL marks
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner and invisible operators
        | '\u{2066}'..='\u{2069}' // isolates
        | '\u{061C}'               // Arabic letter mark
        | '\u{FEFF}'               // zero-width no-break space
    )
}

/// What a user may do. Ordered by privilege: every role includes what the ones before allow.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Verified,
    /// Reads every wallet's ledger history, changes nothing.
    Auditor,
    Admin,
    Founder,
}

impl Role {
    /// Whether this role may use admin-only endpoints.
    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }

    /// Whether this role may read any wallet's ledger history (auditors and admins).
    pub fn may_audit_ledgers(self) -> bool {
        self >= Role::Auditor
    }

    /// Whether a user with this role may move someone from `from` to `to`: admins manage
    /// users, verified users, auditors and admins; only a founder makes or unmakes a founder.
    pub fn may_change_role(self, from: Role, to: Role) -> bool {
        match self {
            Role::Founder => true,
            Role::Admin => from != Role::Founder && to != Role::Founder,
            Role::User | Role::Verified | Role::Auditor => false,
        }
    }
}

macro_rules! string_value {
    ($($name:ident),+) => {$(
        impl TryFrom<String> for $name {
            type Error = IdentityError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}
string_value!(Email, Handle, PhoneNumber, DisplayName);

#[cfg(test)]
mod rules {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn emails_are_matched_case_insensitively_and_without_surrounding_space() {
        assert_eq!(email("  Ada.Lovelace@Example.COM "), email("ada.lovelace@example.com"));
        assert_eq!(email("Ada@Example.com").as_str(), "ada@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "ada@example..com",
            "ada@.example.com",
            "ada@example.com.",
            ".ada@example.com",
            "a..da@example.com",
            "ada @example.com",
        ] {
            assert_eq!(Email::parse(raw), Err(IdentityError::InvalidEmail), "{raw:?}");
        }
        assert_eq!(
            Email::parse(&format!("{}@example.com", "a".repeat(65))),
            Err(IdentityError::InvalidEmail)
        );
        assert_eq!(Email::parse(&format!("a@{}.com", "b".repeat(250))), Err(IdentityError::InvalidEmail));
    }

    #[test]
    fn handles_are_3_to_30_lowercase_letters_digits_underscores_and_dots() {
        assert_eq!(Handle::parse("@Ada_L.99").map(|h| h.to_string()), Ok("ada_l.99".to_owned()));
        assert!(Handle::parse("abc").is_ok());
        assert!(Handle::parse(&"a".repeat(30)).is_ok());
        for raw in ["ab", "", "a b c", "ada-l", "adä", "ada!", &"a".repeat(31)] {
            assert_eq!(Handle::parse(raw), Err(IdentityError::InvalidHandle), "{raw:?}");
        }
    }

    #[test]
    fn passwords_are_8_to_128_characters_and_not_the_email() {
        let ada = email("ada@example.com");
        assert_eq!(check_password("correct horse", &ada), Ok(()));
        assert_eq!(check_password("short", &ada), Err(IdentityError::PasswordLength));
        assert_eq!(check_password(&"x".repeat(129), &ada), Err(IdentityError::PasswordLength));
        assert_eq!(check_password(&"é".repeat(128), &ada), Ok(()), "characters, not bytes");
        assert_eq!(check_password("ADA@example.com", &ada), Err(IdentityError::PasswordIsEmail));
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946-0958").map(|p| p.to_string()),
            Ok("+442079460958".to_owned())
        );
        assert!(PhoneNumber::parse("+919876543210").is_ok());
        for raw in ["", "442079460958", "+0442079460958", "+1234567", "+1234567890123456", "+44 20 79x6 0958"]
        {
            assert_eq!(PhoneNumber::parse(raw), Err(IdentityError::InvalidPhoneNumber), "{raw:?}");
        }
    }

    #[test]
    fn display_names_are_1_to_80_characters_without_control_characters() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ").map(|n| n.to_string()),
            Ok("Ada Lovelace".to_owned())
        );
        assert!(DisplayName::parse(&"名".repeat(80)).is_ok());
        assert!(DisplayName::parse("أدا لوفلايس").is_ok(), "right-to-left scripts are names");
        let invisible =
            ["Ada\u{200B}", "Ada\u{202E}ecalevol", "\u{2066}Ada\u{2069}", "A\u{FEFF}da", "Ada\u{200F}"];
        for raw in invisible.iter().copied().chain(["", "   ", "Ada\u{0}", "Ada\nLovelace", &"a".repeat(81)])
        {
            assert_eq!(DisplayName::parse(raw), Err(IdentityError::InvalidName), "{raw:?}");
        }
    }

    #[test]
    fn admins_and_founders_may_use_admin_endpoints() {
        assert!(!Role::User.is_admin());
        assert!(!Role::Verified.is_admin());
        assert!(Role::Admin.is_admin());
        assert!(Role::Founder.is_admin());
    }

    #[test]
    fn values_deserialize_only_when_valid() {
        assert!(
            serde_json::from_str::<Email>("\"Ada@Example.com\"")
                .is_ok_and(|e| e.as_str() == "ada@example.com")
        );
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert_eq!(serde_json::to_string(&Role::Founder).unwrap_or_default(), "\"founder\"");
    }
}
