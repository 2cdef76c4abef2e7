//! The accounts of the ledger, why the ledger refuses a command, and the checks on amounts,
//! notes and references that every movement shares.

use super::{MAX_NOTE_CHARS, MAX_REFERENCE_BYTES};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;
use uuid::Uuid;

/// An account of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    /// A user's wallet, keyed by the user's id.
    User(Uuid),
    /// Money from outside: every top-up is a movement from here. Has no stream (see the
    /// module documentation) and is never positive.
    Funding,
    /// The merchant account of platform sales (tickets, marketplace orders) until they are
    /// settled to sellers. A wallet like any other: it never goes below zero.
    Escrow,
}

impl LedgerAccount {
    pub const FUNDING: &'static str = "system.funding";
    pub const ESCROW: &'static str = "system.escrow";

    /// Whether the account has a stream of its own (all but [`Self::Funding`]).
    pub fn has_stream(self) -> bool {
        !matches!(self, Self::Funding)
    }

    /// Parses a user id or a system account name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            Self::FUNDING => Some(Self::Funding),
            Self::ESCROW => Some(Self::Escrow),
            other => Uuid::parse_str(other).ok().map(Self::User),
        }
    }

    /// The user owning the wallet, for user wallets.
    pub fn user(self) -> Option<Uuid> {
        match self {
            Self::User(id) => Some(id),
            _ => None,
        }
    }
}

impl Serialize for LedgerAccount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => id.fmt(f),
            Self::Funding => f.write_str(Self::FUNDING),
            Self::Escrow => f.write_str(Self::ESCROW),
        }
    }
}

/// Why the ledger refused a command. Nothing moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("amounts are positive whole numbers of minor units, got {0}")]
    InvalidAmount(i64),
    #[error("insufficient funds: {available} available, {requested} requested")]
    InsufficientFunds { available: i64, requested: i64 },
    #[error("the balance would overflow")]
    Overflow,
    #[error("a wallet cannot pay or transfer to itself")]
    SameAccount,
    #[error("a single top-up is at most {limit}")]
    TopUpLimitExceeded { limit: i64 },
    #[error("the daily top-up limit of {limit} would be exceeded; {remaining} left today")]
    DailyLimitExceeded { limit: i64, remaining: i64 },
    #[error("no such top-up in this wallet")]
    TopUpNotFound,
    #[error("this top-up was already settled the other way")]
    TopUpAlreadySettled,
    #[error("this top-up expired unconfirmed; it can no longer be credited")]
    TopUpExpired,
    #[error("{limit} top-ups are already waiting for the payment provider; finish or wait for one first")]
    TooManyPendingTopUps { limit: usize },
    #[error("no such payment")]
    PaymentNotFound,
    #[error("a payment with this id already exists")]
    PaymentExists,
    #[error("the hold is {0}, not active")]
    HoldNotActive(&'static str),
    #[error("the hold expired at {0}")]
    HoldExpired(DateTime<Utc>),
    #[error("a capture of {requested} exceeds the hold of {held}")]
    CaptureExceedsHold { held: i64, requested: i64 },
    #[error("the payment is {0} and cannot be refunded")]
    NotRefundable(&'static str),
    #[error("at most {refundable} of this payment can still be refunded")]
    RefundExceedsPayment { refundable: i64 },
    #[error("a reference is `<kind>:<id>` (lowercase kind, at most {MAX_REFERENCE_BYTES} bytes)")]
    InvalidReference,
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error("holds last between 1 second and 7 days")]
    InvalidHoldDuration,
    #[error("`{0}` is not an account that can pay or be paid")]
    NotAWallet(String),
}

/// Both parties of a movement must be wallets (accounts with a stream), and distinct.
pub(super) fn check_parties(from: LedgerAccount, to: LedgerAccount) -> Result<(), LedgerError> {
    for account in [from, to] {
        if !account.has_stream() {
            return Err(LedgerError::NotAWallet(account.to_string()));
        }
    }
    if from == to { Err(LedgerError::SameAccount) } else { Ok(()) }
}

/// Checks a payment reference: `<kind>:<id>`, kind `[a-z_]+`, id printable ASCII.
pub fn check_reference(reference: &str) -> Result<(), LedgerError> {
    let Some((kind, id)) = reference.split_once(':') else { return Err(LedgerError::InvalidReference) };
    let kind_ok = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic());
    if kind_ok && id_ok && reference.len() <= MAX_REFERENCE_BYTES {
        Ok(())
    } else {
        Err(LedgerError::InvalidReference)
    }
}

/// Checks an optional note's length.
pub fn check_note(note: Option<&str>) -> Result<(), LedgerError> {
    match note {
        Some(note) if note.chars().count() > MAX_NOTE_CHARS => Err(LedgerError::NoteTooLong),
        _ => Ok(()),
    }
}
