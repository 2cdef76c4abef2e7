//! The registry of event types: each type's current schema version, its payload's JSON Schema,
//! and the upcasters that turn payloads written by older versions into the current shape.
//!
//! Events are never rewritten in the store. When a payload's shape changes, its type gets a new
//! version here plus an upcaster from the previous one; readers (aggregates, projections,
//! auditors' tools) always see the current shape.

use schemars::Schema;
use serde_json::Value;

pub mod claims;
pub mod identity;
pub mod looppay;
pub mod notifications;
pub mod sample;
pub mod social;

/// Turns a payload of version `from` into version `from + 1`.
pub type Upcaster = fn(Value) -> Result<Value, String>;

/// One event type as registered.
#[derive(Debug)]
pub struct EventTypeInfo {
    /// Stable type name, as stored in `events.event_type`.
    pub name: &'static str,
    /// The schema version current code writes.
    pub version: i32,
    /// What the event means, for the exported schema.
    pub description: &'static str,
    /// JSON Schema of the current payload.
    pub schema: fn() -> Schema,
    /// `upcasters[i]` turns version `i + 1` into version `i + 2`.
    pub upcasters: &'static [Upcaster],
}

impl EventTypeInfo {
    /// A type at its first version: nothing to upcast.
    pub const fn first(name: &'static str, description: &'static str, schema: fn() -> Schema) -> Self {
        Self { name, version: 1, description, schema, upcasters: &[] }
    }
}

/// Every event type of Loopync, by group: each feature's own (its descriptor names the same
/// group), the platform's claims, and the core's sample wallet. A feature adds its group here.
pub static GROUPS: &[&[EventTypeInfo]] = &[
    identity::EVENTS,
    claims::EVENTS,
    looppay::EVENTS,
    social::EVENTS,
    notifications::EVENTS,
    sample::EVENTS,
];

/// Every registered event type.
pub fn all() -> impl Iterator<Item = &'static EventTypeInfo> {
    GROUPS.iter().flat_map(|group| group.iter())
}

/// Looks an event type up by name.
pub fn lookup(name: &str) -> Option<&'static EventTypeInfo> {
    all().find(|info| info.name == name)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("event {event_type} has schema version {version}, newer than this code's {current}")]
    FromTheFuture { event_type: String, version: i32, current: i32 },
    #[error("event {event_type} v{version} cannot be upcast: {reason}")]
    Failed { event_type: String, version: i32, reason: String },
}

/// Brings a payload of `event_type` at `version` up to the current version.
pub fn upcast(event_type: &str, version: i32, mut payload: Value) -> Result<(i32, Value), UpcastError> {
    let info = lookup(event_type).ok_or_else(|| UpcastError::UnknownType(event_type.to_owned()))?;
    if version > info.version || version < 1 {
        return Err(UpcastError::FromTheFuture {
            event_type: event_type.to_owned(),
            version,
            current: info.version,
        });
    }
    for step in version..info.version {
        let upcaster =
            usize::try_from(step - 1).ok().and_then(|i| info.upcasters.get(i)).ok_or_else(|| {
                UpcastError::Failed {
                    event_type: event_type.to_owned(),
                    version: step,
                    reason: "no upcaster registered".to_owned(),
                }
            })?;
        payload = upcaster(payload).map_err(|reason| UpcastError::Failed {
            event_type: event_type.to_owned(),
            version: step,
            reason,
        })?;
    }
    Ok((info.version, payload))
}

/// The exported JSON Schema of one event type: the payload schema plus its identity.
pub fn exported_schema(info: &EventTypeInfo) -> Value {
    let mut schema = (info.schema)().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".into(), Value::String(format!("loopync:event:{}:v{}", info.name, info.version)));
        object.insert("title".into(), Value::String(info.name.to_owned()));
        object.insert("description".into(), Value::String(info.description.to_owned()));
        object.insert("x-event-type".into(), Value::String(info.name.to_owned()));
        object.insert("x-schema-version".into(), Value::from(info.version));
    }
    schema
}

/// The file name of an event type's exported schema under `schemas/events/`.
pub fn schema_file_name(info: &EventTypeInfo) -> String {
    format!("{}.v{}.json", info.name, info.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopync_domain::sample::{Money, SampleWalletEvent, ToppedUp};

    #[test]
    fn a_v1_top_up_is_read_as_v2() {
        let v1 = serde_json::json!({ "amount": 5, "balanceAfter": 5 });
        let (version, payload) = upcast("sample_wallet.topped_up", 1, v1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(version, 2);
        let event: SampleWalletEvent =
            serde_json::from_value(serde_json::json!({ "type": "sample_wallet.topped_up", "data": payload }))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            event,
            SampleWalletEvent::ToppedUp(ToppedUp { amount: Money::loop_credits(5), balance_after: 5 })
        );
    }

    #[test]
    fn unknown_and_future_versions_are_refused() {
        assert!(matches!(upcast("nope", 1, Value::Null), Err(UpcastError::UnknownType(_))));
        assert!(matches!(
            upcast("sample_wallet.withdrawn", 2, Value::Null),
            Err(UpcastError::FromTheFuture { .. })
        ));
    }

    #[test]
    fn every_type_has_an_upcaster_per_old_version() {
        for info in all() {
            assert_eq!(info.upcasters.len(), usize::try_from(info.version - 1).unwrap_or(0), "{}", info.name);
        }
    }

    /// CI fails when `schemas/events/` no longer matches the Rust types: run `just schemas`.
    #[test]
    fn exported_schemas_are_up_to_date() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let mut expected_files = Vec::new();
        for info in all() {
            let name = schema_file_name(info);
            let expected = serde_json::to_string_pretty(&exported_schema(info)).unwrap_or_default() + "\n";
            let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            assert_eq!(on_disk, expected, "schemas/events/{name} is stale: run `just schemas`");
            expected_files.push(name);
        }
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        present.retain(|name| name.ends_with(".json"));
        present.sort();
        expected_files.sort();
        assert_eq!(
            present, expected_files,
            "schemas/events/ holds files of unregistered types: run `just schemas`"
        );
    }
}
