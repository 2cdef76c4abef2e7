//! `amount` in request bodies: any JSON value is taken apart by the handler, so that a
//! fractional, negative, zero, overflowing or non-numeric amount is answered with the stable
//! code `invalid_amount` (naming the field) rather than a generic type error.

use super::errors::{bad_field, pay_codes};
use crate::problem::Problem;
use loopync_domain::looppay::Credits;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use std::borrow::Cow;

/// An amount of Loop credits as the client sent it. Documented as a positive `int64` of minor
/// units; parsed into [`Credits`] by [`AmountInput::credits`].
#[derive(Debug, Clone, PartialEq)]
pub struct AmountInput(pub Value);

impl AmountInput {
    /// The amount as credits, or 400 `invalid_amount` naming `field`.
    pub fn credits(&self, field: &str) -> Result<Credits, Problem> {
        let invalid = |why: &str| bad_field(pay_codes::INVALID_AMOUNT, field, why.to_owned());
        let Value::Number(number) = &self.0 else {
            return Err(invalid("must be a JSON integer of minor units (100 = 1.00 LOOP)"));
        };
        match number.as_i64() {
            Some(amount) => Credits::new(amount).map_err(|_| invalid("must be positive")),
            None if number.is_u64() => Err(invalid("is too large")),
            None => match number.as_f64() {
                Some(value) if value.fract() == 0.0 && value.abs() >= 9.2e18 => Err(invalid("is too large")),
                _ => Err(invalid("must be a whole number of minor units, not a fraction")),
            },
        }
    }
}

impl Type for AmountInput {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer(int64)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            description: Some("Positive whole number of minor units of Loop credits (100 = 1.00 LOOP)."),
            ..MetaSchema::new_with_format("integer", "int64")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for AmountInput {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Err(ParseError::custom("the amount is required")),
            Some(value) => Ok(Self(value)),
        }
    }
}

impl ToJSON for AmountInput {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_positive_whole_minor_units_are_amounts() {
        assert_eq!(AmountInput(json!(250)).credits("amount").ok().map(Credits::minor_units), Some(250));
        for bad in [
            json!(0),
            json!(-5),
            json!(1.5),
            json!("10"),
            json!(true),
            json!(1e30),
            json!(u64::MAX),
            json!([1]),
        ] {
            let problem = AmountInput(bad.clone()).credits("amount").err();
            assert_eq!(problem.as_ref().map(Problem::code), Some("invalid_amount"), "{bad}");
            assert_eq!(problem.map(|p| p.errors()[0].field.clone()).as_deref(), Some("amount"));
        }
    }
}
