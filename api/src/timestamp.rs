//! [`Timestamp`]: an instant as every HTTP body writes it — RFC 3339 in UTC with millisecond
//! precision and `Z` (`2026-12-02T05:14:23.827Z`).
//!
//! Views hold a `Timestamp` wherever they show an instant, so the format is decided here
//! once ([`loopync_schemas::timestamp::format`], the same function the live frames use), not
//! per field. Requests may send any RFC 3339 instant; it is read as UTC.

use chrono::{DateTime, Utc};
use loopync_schemas::timestamp;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    Example, ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;
use std::borrow::Cow;

/// An instant, written as RFC 3339 UTC with milliseconds and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// As written on the wire.
    pub fn format(&self) -> String {
        timestamp::format(&self.0)
    }
}

/// `2026-12-02T05:14:23.827Z`, the instant of the examples in the OpenAPI document.
impl Example for Timestamp {
    fn example() -> Self {
        Self(DateTime::from_timestamp_millis(1_796_188_463_827).unwrap_or_default())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("RFC 3339 in UTC with milliseconds and `Z`."),
            example: Some(Value::String(timestamp::EXAMPLE.to_owned())),
            ..MetaSchema::new_with_format("string", "date-time")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse_from_parameter(&text),
            _ => Err(ParseError::custom("must be an RFC 3339 timestamp")),
        }
    }
}

impl ParseFromParameter for Timestamp {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        timestamp::parse(value).map(Self).ok_or_else(|| ParseError::custom("must be an RFC 3339 timestamp"))
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.format()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_go_out_in_one_format_and_come_in_any_rfc_3339() {
        let at = Timestamp::parse_from_parameter("2026-12-02T06:14:23.827123+01:00").ok();
        assert_eq!(at.and_then(|at| at.to_json()), Some(Value::String("2026-12-02T05:14:23.827Z".into())));
        assert!(Timestamp::parse_from_json(Some(Value::from(5))).is_err());
        assert_eq!(Timestamp::example().format(), timestamp::EXAMPLE);
    }
}
