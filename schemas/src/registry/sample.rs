//! The core's sample wallet: the reference aggregate of the core's tests and `bench-core`
//! (never appended in production), with the one upcaster of the registry.

use super::EventTypeInfo;
use loopync_domain::sample;
use schemars::schema_for;
use serde_json::Value;

/// The sample wallet's event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo {
        name: "sample_wallet.topped_up",
        version: 2,
        description: "The core's reference aggregate received credits.",
        schema: || schema_for!(sample::ToppedUp),
        upcasters: &[sample_wallet_topped_up_v1_to_v2],
    },
    EventTypeInfo::first(
        "sample_wallet.withdrawn",
        "The core's reference aggregate paid credits out.",
        || schema_for!(sample::Withdrawn),
    ),
];

/// v1 stored `amount` as a bare integer of Loop credits; v2 names the currency.
fn sample_wallet_topped_up_v1_to_v2(mut payload: Value) -> Result<Value, String> {
    let amount = payload.get("amount").and_then(Value::as_i64).ok_or("v1 `amount` is not an integer")?;
    payload["amount"] = serde_json::json!({ "minor": amount, "currency": sample::LOOP });
    Ok(payload)
}
