//! The registry of event types: each type's current schema version, its payload's JSON Schema,
//! and the upcasters that turn payloads written by older versions into the current shape.
//!
//! Events are never rewritten in the store. When a payload's shape changes, its type gets a new
//! version here plus an upcaster from the previous one; readers (aggregates, projections,
//! auditors' tools) always see the current shape.

use loopync_domain::identity::{account, phone_code, session};
use loopync_domain::{claim, looppay, sample};
use schemars::{Schema, schema_for};
use serde_json::Value;

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

/// Every event type of Loopync.
pub static REGISTRY: &[EventTypeInfo] = &[
    EventTypeInfo {
        name: "account.registered",
        version: 1,
        description: "An account was created, by email and password or by a verified phone number.",
        schema: || schema_for!(account::Registered),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.email_verification_requested",
        version: 1,
        description: "A verification mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        schema: || schema_for!(account::TokenChallenge),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.email_verified",
        version: 1,
        description: "The owner proved they receive mail at the account's address.",
        schema: || schema_for!(account::EmailVerified),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.password_reset_requested",
        version: 1,
        description: "A password reset mail was sent; holds the SHA-256 of its single-use token and its expiry.",
        schema: || schema_for!(account::TokenChallenge),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.password_changed",
        version: 1,
        description: "The password was changed or reset; every session of an earlier credentials epoch is over.",
        schema: || schema_for!(account::PasswordChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.profile_updated",
        version: 1,
        description: "The public profile after a change: name, bio, avatar, cover photo, location, website.",
        schema: || schema_for!(account::ProfileUpdated),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.handle_changed",
        version: 1,
        description: "The public handle changed (the old one was released, the new one claimed).",
        schema: || schema_for!(account::HandleChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.settings_updated",
        version: 1,
        description: "The private settings after a change: privacy, notifications, dark mode.",
        schema: || schema_for!(account::Settings),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "account.role_changed",
        version: 1,
        description: "An admin changed the account's role.",
        schema: || schema_for!(account::RoleChanged),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "claim.claimed",
        version: 1,
        description: "A unique value (an email, a handle) was claimed by its owner.",
        schema: || schema_for!(claim::ClaimOwner),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "claim.released",
        version: 1,
        description: "A unique value was given up by its owner and may be claimed again.",
        schema: || schema_for!(claim::ClaimOwner),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.sent",
        version: 1,
        description: "A one-time sign-in code was sent by SMS; holds its keyed hash and expiry.",
        schema: || schema_for!(phone_code::CodeSent),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.attempt_failed",
        version: 1,
        description: "A wrong code was entered for the pending code.",
        schema: || schema_for!(phone_code::AttemptFailed),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "phone_code.verified",
        version: 1,
        description: "The pending code was entered correctly and is used up.",
        schema: || schema_for!(phone_code::CodeVerified),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.paid",
        version: 1,
        description: "A payment made at once; its wallet legs are appended with it.",
        schema: || schema_for!(looppay::PaymentPaid),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.authorized",
        version: 1,
        description: "Credits of the payer held for a payee until capture, void or expiry.",
        schema: || schema_for!(looppay::PaymentAuthorized),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.captured",
        version: 1,
        description: "A hold turned into a payment (the uncaptured rest released).",
        schema: || schema_for!(looppay::PaymentCaptured),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.voided",
        version: 1,
        description: "A hold was cancelled; its credits are available again.",
        schema: || schema_for!(looppay::HoldReleased),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.expired",
        version: 1,
        description: "A hold reached its expiry unsettled; its credits are available again.",
        schema: || schema_for!(looppay::HoldReleased),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "payment.refunded",
        version: 1,
        description: "Part or all of a payment was given back, as a new compensating entry.",
        schema: || schema_for!(looppay::PaymentRefunded),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "sample_wallet.topped_up",
        version: 2,
        description: "The core's reference aggregate received credits.",
        schema: || schema_for!(sample::ToppedUp),
        upcasters: &[sample_wallet_topped_up_v1_to_v2],
    },
    EventTypeInfo {
        name: "sample_wallet.withdrawn",
        version: 1,
        description: "The core's reference aggregate paid credits out.",
        schema: || schema_for!(sample::Withdrawn),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.started",
        version: 1,
        description: "A device signed in; holds the SHA-256 of its first refresh token.",
        schema: || schema_for!(session::SessionStarted),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.refreshed",
        version: 1,
        description: "The session's refresh token was rotated; holds the SHA-256 of the next one.",
        schema: || schema_for!(session::SessionRefreshed),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "session.revoked",
        version: 1,
        description: "The session ended: logout, revocation from the devices list, or reuse of a rotated refresh token.",
        schema: || schema_for!(session::SessionRevoked),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.top_up_requested",
        version: 1,
        description: "A top-up was started with a provider that confirms later; counts toward the daily limit, moves nothing yet. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.topped_up",
        version: 1,
        description: "Credits arrived from a payment provider (counterparty system.funding). Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.top_up_failed",
        version: 1,
        description: "The provider reported a requested top-up as failed; nothing moved. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.transfer_sent",
        version: 1,
        description: "The sender's leg of a transfer between users. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.transfer_received",
        version: 1,
        description: "The recipient's leg of a transfer between users. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.payment_sent",
        version: 1,
        description: "The payer's leg of a payment made at once. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.payment_received",
        version: 1,
        description: "The payee's leg of a payment, made at once or by capturing a hold. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_placed",
        version: 1,
        description: "Credits moved from available to held for a payment that may be captured later. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_captured",
        version: 1,
        description: "A hold was captured: the captured amount paid to the payee, the rest available again. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.hold_released",
        version: 1,
        description: "A hold was voided or expired: its credits are available again. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.refund_sent",
        version: 1,
        description: "The payee's leg of a refund: part or all of a payment given back. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
    EventTypeInfo {
        name: "wallet.refund_received",
        version: 1,
        description: "The payer's leg of a refund. Hash-chained per wallet.",
        schema: || schema_for!(looppay::WalletEntry),
        upcasters: &[],
    },
];

/// Looks an event type up by name.
pub fn lookup(name: &str) -> Option<&'static EventTypeInfo> {
    REGISTRY.iter().find(|info| info.name == name)
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

/// v1 stored `amount` as a bare integer of Loop credits; v2 names the currency.
fn sample_wallet_topped_up_v1_to_v2(mut payload: Value) -> Result<Value, String> {
    let amount = payload.get("amount").and_then(Value::as_i64).ok_or("v1 `amount` is not an integer")?;
    payload["amount"] = serde_json::json!({ "minor": amount, "currency": sample::LOOP });
    Ok(payload)
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
        for info in REGISTRY {
            assert_eq!(info.upcasters.len(), usize::try_from(info.version - 1).unwrap_or(0), "{}", info.name);
        }
    }

    /// CI fails when `schemas/events/` no longer matches the Rust types: run `just schemas`.
    #[test]
    fn exported_schemas_are_up_to_date() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let mut expected_files = Vec::new();
        for info in REGISTRY {
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
