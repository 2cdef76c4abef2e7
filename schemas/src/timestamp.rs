//! How instants are written wherever a client reads one: RFC 3339 in UTC with millisecond
//! precision and `Z` (`2026-12-02T05:14:23.827Z`), whatever the precision of the instant.
//!
//! One format for HTTP bodies, live frames and ledger entries, so a client parses every
//! timestamp of the product with one function and compares them as strings. The event log
//! keeps the format its payloads were stored in: those bytes are hashed and never rewritten.
//!
//! Use [`format`] to write one, or the module as a serde `with` module:
//! `#[serde(with = "loopync_schemas::timestamp")]` (and [`option`] for `Option`s). The HTTP
//! API's `Timestamp` type writes through [`format`] too.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// An example in the contract's format, for documentation.
pub const EXAMPLE: &str = "2026-12-02T05:14:23.827Z";

/// `at` as RFC 3339 UTC with milliseconds and `Z`. Sub-millisecond digits are cut, not
/// rounded, so an instant is never written later than it happened.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads any RFC 3339 instant (any offset, any precision), as UTC.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|at| at.with_timezone(&Utc))
}

/// Serde: writes [`format`], reads any RFC 3339 instant.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

/// Serde: reads any RFC 3339 instant.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
}

/// The same, for optional instants (`null` when absent).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => {
                parse(&text).map(Some).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_in_utc_with_milliseconds_and_z() {
        let nanos = parse("2026-12-02T06:14:23.827999999+01:00").unwrap_or_default();
        assert_eq!(format(&nanos), "2026-12-02T05:14:23.827Z");
        let whole = parse("2026-12-02T05:14:23Z").unwrap_or_default();
        assert_eq!(format(&whole), "2026-12-02T05:14:23.000Z");
        assert_eq!(format(&parse(EXAMPLE).unwrap_or_default()), EXAMPLE);
        assert!(parse("yesterday").is_none());
    }
}
