//! The core's reference aggregate: a wallet-like balance that can be topped up and withdrawn.
//!
//! It exists so the event store, the command pipeline, the projection runtime and the
//! `bench-core` benchmark are exercised on a realistic shape (load state, validate, append one
//! event with an expected version) before the product's own aggregates arrive. LoopPay's real
//! ledger is a separate aggregate; this one is never exposed by the product API.
//!
//! `sample_wallet.topped_up` also carries the core's real schema change: version 1 stored the
//! amount as a bare integer, version 2 names the currency (`{"minor": 5, "currency": "LOOP"}`).
//! The upcaster lives in `schemas`; this module only knows version 2.

use crate::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only currency of the sample wallet (Loop credits).
pub const LOOP: &str = "LOOP";

/// An amount in integer minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

impl Money {
    pub fn loop_credits(minor: i64) -> Self {
        Self { minor, currency: LOOP.to_owned() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleWallet {
    pub balance: i64,
    pub operations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SampleWalletCommand {
    TopUp { amount: i64 },
    Withdraw { amount: i64 },
}

/// Payload of `sample_wallet.topped_up`, schema version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToppedUp {
    pub amount: Money,
    pub balance_after: i64,
}

/// Payload of `sample_wallet.withdrawn`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Withdrawn {
    pub amount: Money,
    pub balance_after: i64,
}

/// Events of the sample wallet, serialized adjacently tagged: `{"type": ..., "data": payload}`;
/// the event store keeps `type` and `data` in separate columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SampleWalletEvent {
    #[serde(rename = "sample_wallet.topped_up")]
    ToppedUp(ToppedUp),
    #[serde(rename = "sample_wallet.withdrawn")]
    Withdrawn(Withdrawn),
}

impl DomainEvent for SampleWalletEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ToppedUp(_) => "sample_wallet.topped_up",
            Self::Withdrawn(_) => "sample_wallet.withdrawn",
        }
    }

    fn schema_version(&self) -> i32 {
        match self {
            Self::ToppedUp(_) => 2,
            Self::Withdrawn(_) => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleWalletError {
    #[error("amount must be positive, got {0}")]
    InvalidAmount(i64),
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds { balance: i64, requested: i64 },
    #[error("the balance would overflow")]
    Overflow,
}

impl Aggregate for SampleWallet {
    const CATEGORY: &'static str = "sample_wallet";
    type Command = SampleWalletCommand;
    type Event = SampleWalletEvent;
    type Error = SampleWalletError;

    fn decide(&self, command: &SampleWalletCommand) -> Result<Vec<SampleWalletEvent>, SampleWalletError> {
        match *command {
            SampleWalletCommand::TopUp { amount } => {
                if amount <= 0 {
                    return Err(SampleWalletError::InvalidAmount(amount));
                }
                let balance_after = self.balance.checked_add(amount).ok_or(SampleWalletError::Overflow)?;
                Ok(vec![SampleWalletEvent::ToppedUp(ToppedUp {
                    amount: Money::loop_credits(amount),
                    balance_after,
                })])
            }
            SampleWalletCommand::Withdraw { amount } => {
                if amount <= 0 {
                    return Err(SampleWalletError::InvalidAmount(amount));
                }
                if amount > self.balance {
                    return Err(SampleWalletError::InsufficientFunds {
                        balance: self.balance,
                        requested: amount,
                    });
                }
                let balance_after = self.balance - amount;
                Ok(vec![SampleWalletEvent::Withdrawn(Withdrawn {
                    amount: Money::loop_credits(amount),
                    balance_after,
                })])
            }
        }
    }

    fn apply(&mut self, event: &SampleWalletEvent) {
        match event {
            SampleWalletEvent::ToppedUp(e) => self.balance = e.balance_after,
            SampleWalletEvent::Withdrawn(e) => self.balance = e.balance_after,
        }
        self.operations += 1;
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;

    fn topped_up(amount: i64, balance_after: i64) -> SampleWalletEvent {
        SampleWalletEvent::ToppedUp(ToppedUp { amount: Money::loop_credits(amount), balance_after })
    }

    #[test]
    fn a_top_up_adds_to_the_balance() {
        given::<SampleWallet>([topped_up(5, 5)])
            .when(SampleWalletCommand::TopUp { amount: 7 })
            .then([topped_up(7, 12)]);
    }

    #[test]
    fn amounts_must_be_positive() {
        given::<SampleWallet>([])
            .when(SampleWalletCommand::TopUp { amount: 0 })
            .then_error(SampleWalletError::InvalidAmount(0));
        given::<SampleWallet>([])
            .when(SampleWalletCommand::Withdraw { amount: -1 })
            .then_error(SampleWalletError::InvalidAmount(-1));
    }

    #[test]
    fn a_withdrawal_cannot_exceed_the_balance() {
        given::<SampleWallet>([topped_up(5, 5)])
            .when(SampleWalletCommand::Withdraw { amount: 6 })
            .then_error(SampleWalletError::InsufficientFunds { balance: 5, requested: 6 });
    }

    #[test]
    fn the_balance_never_overflows() {
        given::<SampleWallet>([topped_up(i64::MAX, i64::MAX)])
            .when(SampleWalletCommand::TopUp { amount: 1 })
            .then_error(SampleWalletError::Overflow);
    }
}
