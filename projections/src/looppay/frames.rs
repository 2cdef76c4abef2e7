//! The live frames the LoopPay ledger projection emits (durable: stored with a cursor and
//! replayed on resume).

use crate::live::LiveFrame;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The user's LoopPay wallet balance changed.
///
/// Carries the balance as of the wallet's `sequence`, after each batch of changes (not every
/// step to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceUpdated {
    /// What can be spent, in minor units (100 = 1.00 LOOP).
    pub available: i64,
    /// Reserved by holds until captured, voided or expired, in minor units.
    pub held: i64,
    /// The ledger's currency, `LOOP`.
    pub currency: String,
    /// The wallet's last event sequence: a balance with a greater sequence is newer (e.g. than
    /// one read over HTTP).
    pub sequence: i64,
}

impl LiveFrame for BalanceUpdated {
    const KIND: &'static str = "balance_updated";
}
