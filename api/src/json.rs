//! `JsonBody<T>`: a JSON request body whose errors name the offending fields.
//!
//! poem-openapi's `Json<T>` reports a bad body as one sentence about types ("Type
//! \"integer(int64)\" expects an input value"), without saying which field. `JsonBody<T>` is
//! the same payload for OpenAPI (same schema, same content types) but, when parsing fails, it
//! walks `T`'s schema against the JSON it received and answers 400 `invalid_request` with one
//! `{field, code, message}` per problem it finds — every one, not the first: missing required
//! fields (`required`), wrong JSON types (`invalid_type`), numbers out of range
//! (`out_of_range`), strings of the wrong length (`invalid_length`), values outside an enum
//! (`not_allowed`), unknown fields (`unknown_field`, for objects declared with
//! `deny_unknown_fields`). poem-openapi's own reason is never shown: it names Rust-side types.
//! When the walk finds nothing specific, the answer names the `body`.
//!
//! **Strict JSON types.** poem-openapi takes a number or a boolean where a string is declared
//! (as its JSON text): `"password": 12345678` would make an account. So the walk also runs on
//! bodies poem-openapi accepted, and a number, boolean, array or object where the schema says
//! string (or the reverse) is refused like any other invalid field. Each body type's schema is
//! registered once per process and kept, so the walk costs a pass over the body's JSON.

use crate::problem::{FieldProblem, Problem, field_codes as codes};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// A JSON request body of type `T` (a poem-openapi `Object`). Use it instead of `Json<T>` for
/// request bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    /// `application/json` and any `application/*+json`, with or without parameters.
    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        // Read errors (including an oversize body cut off by the body limit) pass through as
        // they are: the error layer knows what they mean.
        let bytes = Vec::<u8>::from_request(request, body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(
                Problem::invalid_request("the request body is empty; a JSON document is expected").into()
            );
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|error| {
            Problem::invalid_request(format!("the request body is not valid JSON: {error}"))
        })?;
        // poem-openapi would coerce a number or boolean into a declared string without a word,
        // and control characters would reach the event store (PostgreSQL refuses a NUL).
        let mut refused = Vec::new();
        mistyped_strings(&registry_of::<T>(), &T::schema_ref(), &value, "", 0, &mut refused);
        control_characters(&value, "", 0, &mut refused);
        if !refused.is_empty() {
            return Err(invalid_fields(refused).into());
        }
        match T::parse_from_json(Some(value)) {
            Ok(parsed) => Ok(Self(parsed)),
            Err(error) => {
                // Parse again rather than clone every body up front: this is the cold path.
                let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let mut errors = field_problems::<T>(&value, error.message());
                // The framework's own reason names its Rust-side types ("Expected input type
                // ..."), so it is never shown; the walk above says it in plain words.
                if errors.is_empty() {
                    errors.push(FieldProblem::new("body", codes::INVALID, "is not valid for this operation"));
                }
                Err(invalid_fields(errors).into())
            }
        }
    }
}

fn invalid_fields(errors: Vec<FieldProblem>) -> Problem {
    let detail = match errors.len() {
        1 => "the request body has an invalid field".to_owned(),
        n => format!("the request body has {n} invalid fields"),
    };
    Problem::invalid_request(detail).with_errors(errors)
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

/// Objects nested deeper than this are not walked (the answer then has fewer fields).
const MAX_DEPTH: usize = 16;

/// `T`'s schemas, registered once per process and type.
fn registry_of<T: Type>() -> Arc<Registry> {
    static REGISTRIES: LazyLock<RwLock<HashMap<String, Arc<Registry>>>> = LazyLock::new(RwLock::default);
    // The Rust type's name, unique per type (the schema name may be shared by generic types).
    let key = std::any::type_name::<T>();
    if let Some(registry) = REGISTRIES.read().unwrap_or_else(PoisonError::into_inner).get(key) {
        return registry.clone();
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let registry = Arc::new(registry);
    REGISTRIES.write().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), registry.clone());
    registry
}

/// Every problem `value` has against `T`'s schema, plus an unknown field poem-openapi named.
pub fn field_problems<T: Type>(value: &Value, reason: &str) -> Vec<FieldProblem> {
    let registry = registry_of::<T>();
    let mut problems = Vec::new();
    check(&registry, &T::schema_ref(), value, "", 0, &mut problems);
    // Unknown fields are not in the schema; poem-openapi names the first one it meets.
    if let Some(field) = unknown_field(reason) {
        problems.push(FieldProblem::new(field, codes::UNKNOWN_FIELD, "is not a known field"));
    }
    problems
}

fn resolve<'a>(registry: &'a Registry, schema: &'a MetaSchemaRef) -> Option<&'a MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn check(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    path: &str,
    depth: usize,
    problems: &mut Vec<FieldProblem>,
) {
    let Some(schema) = resolve(registry, schema) else { return };
    if depth > MAX_DEPTH {
        return;
    }
    let field = || if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    // A documented reference (a field of an enum or object type with a description of its
    // own) is an `allOf` of the referenced schema: check the value against what it wraps.
    for wrapped in &schema.all_of {
        check(registry, wrapped, value, path, depth + 1, problems);
    }
    if value.is_null() {
        if !schema.nullable && !path.is_empty() {
            problems.push(FieldProblem::new(field(), codes::REQUIRED, "must not be null"));
        }
        return;
    }
    match schema.ty {
        "object" if !schema.properties.is_empty() => {
            let Some(object) = value.as_object() else {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be an object"));
                return;
            };
            for required in &schema.required {
                if object.get(*required).is_none_or(Value::is_null) {
                    problems.push(FieldProblem::new(join(path, required), codes::REQUIRED, "is required"));
                }
            }
            for (name, property) in &schema.properties {
                if let Some(inner) = object.get(*name)
                    && !inner.is_null()
                {
                    check(registry, property, inner, &join(path, name), depth + 1, problems);
                }
            }
        }
        "array" => {
            let Some(items) = value.as_array() else {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be an array"));
                return;
            };
            if let Some(min) = schema.min_items
                && items.len() < min
            {
                problems.push(FieldProblem::new(
                    field(),
                    codes::INVALID_LENGTH,
                    format!("must have at least {min} items"),
                ));
            }
            if let Some(max) = schema.max_items
                && items.len() > max
            {
                problems.push(FieldProblem::new(
                    field(),
                    codes::INVALID_LENGTH,
                    format!("must have at most {max} items"),
                ));
            }
            if let Some(item_schema) = &schema.items {
                for (index, item) in items.iter().enumerate() {
                    check(registry, item_schema, item, &format!("{}[{index}]", field()), depth + 1, problems);
                }
            }
        }
        "integer" => {
            // As poem-openapi parses them: JSON integers that fit an i64, then the Rust type.
            let Some(integer) = value.as_i64() else {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be an integer"));
                return;
            };
            if let Some((min, max)) = schema.format.and_then(integer_bounds)
                && !(min..=max).contains(&integer)
            {
                problems.push(FieldProblem::new(
                    field(),
                    codes::OUT_OF_RANGE,
                    format!("must be from {min} to {max}"),
                ));
                return;
            }
            check_range(schema, value, &field(), problems);
        }
        "number" => {
            if !value.is_number() {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be a number"));
                return;
            }
            check_range(schema, value, &field(), problems);
        }
        "boolean" if !value.is_boolean() => {
            problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be true or false"));
        }
        "string" => {
            // Strictly a JSON string (poem-openapi alone would take a number or a boolean).
            let Value::String(text) = value else {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be a string"));
                return;
            };
            let length = text.chars().count();
            if let Some(min) = schema.min_length
                && length < min
            {
                problems.push(FieldProblem::new(
                    field(),
                    codes::INVALID_LENGTH,
                    format!("must be at least {min} characters long"),
                ));
            }
            if let Some(max) = schema.max_length
                && length > max
            {
                problems.push(FieldProblem::new(
                    field(),
                    codes::INVALID_LENGTH,
                    format!("must be at most {max} characters long"),
                ));
            }
            if schema.format == Some("uuid") && uuid::Uuid::parse_str(text).is_err() {
                problems.push(FieldProblem::new(field(), codes::INVALID_TYPE, "must be a UUID"));
            }
        }
        _ => {}
    }
    if !schema.enum_items.is_empty() && !schema.enum_items.contains(value) {
        let allowed: Vec<String> = schema.enum_items.iter().map(Value::to_string).collect();
        problems.push(FieldProblem::new(
            field(),
            codes::NOT_ALLOWED,
            format!("must be one of {}", allowed.join(", ")),
        ));
    }
}

/// The fields of `value` that `schema` declares as strings and that are not JSON strings — the
/// one mistyping poem-openapi lets through. Everything else is left to the parser (and to
/// [`check`] when it refuses), so types that read their own raw JSON keep their own errors.
fn mistyped_strings(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    path: &str,
    depth: usize,
    problems: &mut Vec<FieldProblem>,
) {
    let Some(schema) = resolve(registry, schema) else { return };
    if depth > MAX_DEPTH || value.is_null() {
        return;
    }
    match (schema.ty, value) {
        ("string", Value::Number(_) | Value::Bool(_)) => {
            let field = if path.is_empty() { "body" } else { path };
            problems.push(FieldProblem::new(field, codes::INVALID_TYPE, "must be a string"));
        }
        ("object", Value::Object(object)) => {
            for (name, property) in &schema.properties {
                if let Some(inner) = object.get(*name) {
                    mistyped_strings(registry, property, inner, &join(path, name), depth + 1, problems);
                }
            }
        }
        ("array", Value::Array(items)) => {
            if let Some(item_schema) = &schema.items {
                for (index, item) in items.iter().enumerate() {
                    let path = format!("{}[{index}]", if path.is_empty() { "body" } else { path });
                    mistyped_strings(registry, item_schema, item, &path, depth + 1, problems);
                }
            }
        }
        _ => {}
    }
}

/// Whether `c` may appear in free text: anything but the control characters other than tab,
/// line feed and carriage return (NUL, the rest of C0, DEL and C1).
pub fn allowed_in_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// Every string of `value` (at any depth, whatever the schema) that holds a character free
/// text may not ([`allowed_in_text`]).
fn control_characters(value: &Value, path: &str, depth: usize, problems: &mut Vec<FieldProblem>) {
    if depth > MAX_DEPTH {
        return;
    }
    let field = || if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    match value {
        Value::String(text) if !text.chars().all(allowed_in_text) => problems.push(FieldProblem::new(
            field(),
            codes::INVALID_CHARACTERS,
            "must not contain control characters (NUL and the like)",
        )),
        Value::Object(object) => {
            for (name, inner) in object {
                control_characters(inner, &join(path, name), depth + 1, problems);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                control_characters(item, &format!("{}[{index}]", field()), depth + 1, problems);
            }
        }
        _ => {}
    }
}

fn check_range(schema: &MetaSchema, value: &Value, field: &str, problems: &mut Vec<FieldProblem>) {
    let Some(number) = value.as_f64() else { return };
    if let Some(min) = schema.minimum {
        let exclusive = schema.exclusive_minimum.unwrap_or(false);
        if number < min || (exclusive && number <= min) {
            let bound = if exclusive { "greater than" } else { "at least" };
            problems.push(FieldProblem::new(field, codes::OUT_OF_RANGE, format!("must be {bound} {min}")));
        }
    }
    if let Some(max) = schema.maximum {
        let exclusive = schema.exclusive_maximum.unwrap_or(false);
        if number > max || (exclusive && number >= max) {
            let bound = if exclusive { "less than" } else { "at most" };
            problems.push(FieldProblem::new(field, codes::OUT_OF_RANGE, format!("must be {bound} {max}")));
        }
    }
}

/// The range of poem-openapi's integer formats.
fn integer_bounds(format: &str) -> Option<(i64, i64)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" => (0, i64::MAX),
        _ => return None,
    })
}

/// The field in poem-openapi's "unknown field `name`." message.
fn unknown_field(reason: &str) -> Option<&str> {
    let (_, rest) = reason.split_once("unknown field `")?;
    let (field, _) = rest.split_once('`')?;
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;
    use serde_json::json;

    #[derive(Debug, Object)]
    #[oai(rename_all = "camelCase", deny_unknown_fields)]
    struct Inner {
        wallet_id: uuid::Uuid,
    }

    #[derive(Debug, Object)]
    #[oai(rename_all = "camelCase", deny_unknown_fields)]
    struct Order {
        amount: i64,
        #[oai(validator(min_length = 1, max_length = 5))]
        note: String,
        express: Option<bool>,
        #[oai(validator(maximum(value = "10")))]
        count: Option<u32>,
        inner: Option<Inner>,
        tags: Option<Vec<String>>,
    }

    fn problems(value: Value) -> Vec<FieldProblem> {
        let reason = match Order::parse_from_json(Some(value.clone())) {
            Ok(_) => return Vec::new(),
            Err(error) => error.into_message(),
        };
        field_problems::<Order>(&value, &reason)
    }

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let found = problems(json!({ "note": [5], "express": "yes", "count": -1 }));
        assert_eq!(fields(&found), ["amount", "note", "express", "count"]);
        assert_eq!(found[0].message, "is required");
        assert_eq!(found[1].message, "must be a string");
        assert_eq!(found[3].message, format!("must be from 0 to {}", u32::MAX));
        // poem-openapi would take a number or a boolean for a string; the walk does not.
        assert_eq!(fields(&problems(json!({ "note": 5 }))), ["amount", "note"]);
        let mut found = Vec::new();
        let body = json!({ "amount": 1, "note": true, "tags": [7, "ok"], "inner": { "walletId": 3 } });
        mistyped_strings(&registry_of::<Order>(), &Order::schema_ref(), &body, "", 0, &mut found);
        assert_eq!(fields(&found), ["note", "inner.walletId", "tags[0]"]);
        assert!(found.iter().all(|problem| problem.message == "must be a string"));
        assert!(
            Order::parse_from_json(Some(json!({ "amount": 1, "note": 5 }))).is_ok(),
            "what the walk is for"
        );
    }

    #[test]
    fn control_characters_are_refused_in_every_string_but_tabs_and_line_breaks() {
        let mut found = Vec::new();
        let body = json!({
            "note": "nul\u{0}here",
            "inner": { "walletId": "bell\u{7}" },
            "tags": ["ok", "del\u{7f}", "c1\u{85}"],
            "fine": "tab\tnew\nline\r\n é ✓",
        });
        control_characters(&body, "", 0, &mut found);
        assert_eq!(fields(&found), ["inner.walletId", "note", "tags[1]", "tags[2]"]);
        assert!(found.iter().all(|problem| problem.code == codes::INVALID_CHARACTERS));
    }

    #[test]
    fn nested_fields_ranges_lengths_and_unknown_fields_are_named() {
        assert_eq!(fields(&problems(json!({ "amount": 1, "note": "abcdef" }))), ["note"]);
        assert_eq!(fields(&problems(json!({ "amount": 1, "note": "a", "count": 11 }))), ["count"]);
        assert_eq!(
            fields(&problems(json!({ "amount": 1, "note": "a", "inner": { "walletId": "x" } }))),
            ["inner.walletId"]
        );
        assert_eq!(fields(&problems(json!({ "amount": 1, "note": "a", "tags": ["a", {}] }))), ["tags[1]"]);
        assert_eq!(fields(&problems(json!({ "amount": 1, "note": "a", "extra": true }))), ["extra"]);
        assert_eq!(fields(&problems(json!([1, 2]))), ["body"]);
        assert!(problems(json!({ "amount": 1, "note": "a" })).is_empty());
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(JsonBody::<i64>::check_content_type("application/json"));
        assert!(JsonBody::<i64>::check_content_type("Application/JSON; charset=utf-8"));
        assert!(JsonBody::<i64>::check_content_type("application/merge-patch+json"));
        assert!(!JsonBody::<i64>::check_content_type("text/plain"));
        assert!(!JsonBody::<i64>::check_content_type("application/jsonx"));
    }
}
