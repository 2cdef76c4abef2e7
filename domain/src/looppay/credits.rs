//! [`Credits`]: an amount of Loop credits that a command can move.

use super::LedgerError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A positive whole number of minor units of Loop credits (100 = 1.00 LOOP): what a top-up,
/// transfer, payment, hold, capture or refund moves. Parsed once, where the amount enters
/// (`Credits::new`); a decision holding one need not check it again. Balances and deltas, which
/// may be zero or negative, stay plain `i64`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Credits(i64);

impl Credits {
    /// `minor_units` if positive; otherwise [`LedgerError::InvalidAmount`].
    pub const fn new(minor_units: i64) -> Result<Self, LedgerError> {
        if minor_units > 0 { Ok(Self(minor_units)) } else { Err(LedgerError::InvalidAmount(minor_units)) }
    }

    pub const fn minor_units(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Credits {
    type Error = LedgerError;

    fn try_from(minor_units: i64) -> Result<Self, LedgerError> {
        Self::new(minor_units)
    }
}

impl From<Credits> for i64 {
    fn from(credits: Credits) -> i64 {
        credits.0
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_amounts_are_credits() {
        assert_eq!(Credits::new(1).map(Credits::minor_units), Ok(1));
        assert_eq!(Credits::new(0), Err(LedgerError::InvalidAmount(0)));
        assert_eq!(Credits::new(-5), Err(LedgerError::InvalidAmount(-5)));
    }

    #[test]
    fn credits_are_a_plain_integer_on_the_wire_and_refuse_a_non_positive_one() {
        assert_eq!(serde_json::to_string(&Credits(250)).ok().as_deref(), Some("250"));
        assert_eq!(serde_json::from_str::<Credits>("250").ok(), Some(Credits(250)));
        assert!(serde_json::from_str::<Credits>("0").is_err());
    }
}
