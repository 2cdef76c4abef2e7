//! A payment (paid at once, or held and then captured, voided or expired) and what has been
//! refunded of it: the `Payment` aggregate, so that a hold settles exactly once and refunds
//! never exceed what was paid.

use super::{LedgerAccount, LedgerError};
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// Payments and holds
// ---------------------------------------------------------------------------------------------

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// No payment with this id.
    #[default]
    None,
    /// Credits are held for the payee until capture, void or expiry.
    Held,
    /// Paid: at once, or by capturing a hold.
    Paid,
    Voided,
    Expired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "unknown",
            Self::Held => "held",
            Self::Paid => "paid",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }
}

/// A payment from one account to another, with what has been refunded of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub status: PaymentStatus,
    pub payer: Option<String>,
    pub payee: Option<String>,
    /// Held (while held) or paid amount.
    pub amount: i64,
    pub refunded: i64,
    pub reference: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `payment.paid`: a payment made at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentPaid {
    pub payer: String,
    pub payee: String,
    pub amount: i64,
    pub reference: String,
    pub note: Option<String>,
    pub paid_at: DateTime<Utc>,
}

/// `payment.authorized`: credits held for a payee until capture, void or expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentAuthorized {
    pub payer: String,
    pub payee: String,
    pub amount: i64,
    pub reference: String,
    pub authorized_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `payment.captured`: a hold turned into a payment of `amount` (the rest released).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentCaptured {
    pub amount: i64,
    pub released: i64,
    pub captured_at: DateTime<Utc>,
}

/// `payment.voided` / `payment.expired`: a hold released without payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldReleased {
    pub amount: i64,
    pub released_at: DateTime<Utc>,
}

/// `payment.refunded`: part or all of a payment given back, as a new entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentRefunded {
    pub refund_id: Uuid,
    pub amount: i64,
    pub reason: Option<String>,
    pub refunded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    #[serde(rename = "payment.paid")]
    Paid(PaymentPaid),
    #[serde(rename = "payment.authorized")]
    Authorized(PaymentAuthorized),
    #[serde(rename = "payment.captured")]
    Captured(PaymentCaptured),
    #[serde(rename = "payment.voided")]
    Voided(HoldReleased),
    #[serde(rename = "payment.expired")]
    Expired(HoldReleased),
    #[serde(rename = "payment.refunded")]
    Refunded(PaymentRefunded),
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Paid(_) => "payment.paid",
            Self::Authorized(_) => "payment.authorized",
            Self::Captured(_) => "payment.captured",
            Self::Voided(_) => "payment.voided",
            Self::Expired(_) => "payment.expired",
            Self::Refunded(_) => "payment.refunded",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

/// Payments take no command of their own: they move together with wallets, through the
/// functions below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PaymentCommand {}

impl Aggregate for Payment {
    const CATEGORY: &'static str = "payment";
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = LedgerError;

    fn decide(&self, command: &PaymentCommand) -> Result<Vec<PaymentEvent>, LedgerError> {
        match *command {}
    }

    fn apply(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::Paid(e) => {
                self.status = PaymentStatus::Paid;
                self.payer = Some(e.payer.clone());
                self.payee = Some(e.payee.clone());
                self.amount = e.amount;
                self.reference = Some(e.reference.clone());
            }
            PaymentEvent::Authorized(e) => {
                self.status = PaymentStatus::Held;
                self.payer = Some(e.payer.clone());
                self.payee = Some(e.payee.clone());
                self.amount = e.amount;
                self.reference = Some(e.reference.clone());
                self.expires_at = Some(e.expires_at);
            }
            PaymentEvent::Captured(e) => {
                self.status = PaymentStatus::Paid;
                self.amount = e.amount;
            }
            PaymentEvent::Voided(_) => self.status = PaymentStatus::Voided,
            PaymentEvent::Expired(_) => self.status = PaymentStatus::Expired,
            PaymentEvent::Refunded(e) => self.refunded += e.amount,
        }
    }
}

impl Payment {
    /// What can still be refunded.
    pub fn refundable(&self) -> i64 {
        if self.status == PaymentStatus::Paid { self.amount - self.refunded } else { 0 }
    }
}

/// The accounts of a payment, as recorded.
pub fn payment_accounts(payment: &Payment) -> Option<(LedgerAccount, LedgerAccount)> {
    let payer = LedgerAccount::parse(payment.payer.as_deref()?)?;
    let payee = LedgerAccount::parse(payment.payee.as_deref()?)?;
    Some((payer, payee))
}
