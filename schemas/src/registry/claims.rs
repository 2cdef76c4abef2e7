//! Claims of unique values (an email, a phone number, a handle): the platform's uniqueness
//! mechanism, which any feature's decisions may use.

use super::EventTypeInfo;
use loopync_domain::claim;
use schemars::schema_for;

/// The claims' event types.
pub static EVENTS: &[EventTypeInfo] = &[
    EventTypeInfo::first(
        "claim.claimed",
        "A unique value (an email, a handle) was claimed by its owner.",
        || schema_for!(claim::ClaimOwner),
    ),
    EventTypeInfo::first(
        "claim.released",
        "A unique value was given up by its owner and may be claimed again.",
        || schema_for!(claim::ClaimOwner),
    ),
];
