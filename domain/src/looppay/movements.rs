//! Every movement of credits as a [`Decision`]: the streams it appends to, atomically, and
//! the rules it decides on their states.
//!
//! | movement        | streams, appended in one transaction              |
//! |-----------------|---------------------------------------------------|
//! | top-up          | the wallet (its `system.funding` leg is implied)  |
//! | transfer        | sender's wallet, recipient's wallet               |
//! | payment         | payer's wallet, payee's wallet, the payment       |
//! | hold            | payer's wallet, the payment                       |
//! | capture         | payer's wallet, payee's wallet, the payment       |
//! | void / expiry   | payer's wallet, the payment                       |
//! | refund          | payee's wallet, payer's wallet, the payment       |
//!
//! Every append carries each stream's expected version, so two movements racing for one
//! wallet cannot both spend the same credits: the loser is decided again on the new balance.

use super::{
    Credits, HoldReleased, LedgerAccount, LedgerError, Leg, Payment, PaymentAuthorized, PaymentCaptured,
    PaymentEvent, PaymentPaid, PaymentRefunded, PaymentStatus, TopUpLimits, Wallet, WalletCommand,
    WalletEvent, WalletEventKind, check_note, check_parties, check_reference, payment_accounts,
};
use crate::{Aggregate, Decision};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user tops up their wallet through a payment provider. With `confirmed` (a provider that
/// settles at once) the credits arrive in the same append; otherwise a later
/// [`WalletCommand::ConfirmTopUp`] brings them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUp {
    pub account: LedgerAccount,
    #[serde(skip)]
    pub top_up_id: Uuid,
    pub amount: Credits,
    /// Whether the provider settles at once: configuration, not the request.
    #[serde(skip)]
    pub confirmed: bool,
    #[serde(skip)]
    pub limits: TopUpLimits,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// A top-up is the wallet's own rule ([`WalletCommand::RequestTopUp`]), under its own kind.
impl Decision for TopUp {
    const KIND: &'static str = "looppay.top_up";
    type State = Wallet;
    type Error = LedgerError;

    fn stream_ids(&self) -> String {
        self.account.to_string()
    }

    fn decide(&self, wallet: &Wallet) -> Result<Vec<WalletEvent>, LedgerError> {
        let Self { account, top_up_id, amount, confirmed, limits, now } = *self;
        wallet.decide(&WalletCommand::RequestTopUp { account, top_up_id, amount, confirmed, limits, now })
    }
}

/// A user sends credits to another user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    #[serde(skip)]
    pub entry_id: Uuid,
    pub from: LedgerAccount,
    pub to: LedgerAccount,
    pub amount: Credits,
    pub note: Option<String>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// The events of a movement between two wallets: the debited one's, the credited one's.
pub type TwoLegs = (Vec<WalletEvent>, Vec<WalletEvent>);
/// The events of a movement between two wallets that belongs to a payment.
pub type PaymentLegs = (Vec<WalletEvent>, Vec<WalletEvent>, Vec<PaymentEvent>);
/// The events of a hold placed or released: the payer's wallet's and the payment's.
pub type HoldLegs = (Vec<WalletEvent>, Vec<PaymentEvent>);

/// A transfer: the sender's `transfer_sent` and the recipient's `transfer_received`.
impl Decision for Transfer {
    const KIND: &'static str = "looppay.transfer";
    type State = (Wallet, Wallet);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String) {
        (self.from.to_string(), self.to.to_string())
    }

    fn decide(&self, (from, to): (&Wallet, &Wallet)) -> Result<TwoLegs, LedgerError> {
        let amount = self.amount.minor_units();
        check_note(self.note.as_deref())?;
        check_parties(self.from, self.to)?;
        let leg = |delta: i64, counterparty| Leg {
            entry_id: self.entry_id,
            amount,
            available_delta: delta,
            counterparty: Some(counterparty),
            note: self.note.clone(),
            ..Leg::default()
        };
        let sent = from.seal(self.from, WalletEventKind::TransferSent, leg(-amount, self.to), self.now)?;
        let received =
            to.seal(self.to, WalletEventKind::TransferReceived, leg(amount, self.from), self.now)?;
        Ok((vec![sent], vec![received]))
    }
}

/// Pay an account at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pay {
    #[serde(skip)]
    pub payment_id: Uuid,
    pub payer: LedgerAccount,
    pub payee: LedgerAccount,
    pub amount: Credits,
    pub reference: String,
    pub note: Option<String>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// A payment: the payer's `payment_sent`, the payee's `payment_received`, and the payment's
/// `payment.paid`.
impl Decision for Pay {
    const KIND: &'static str = "looppay.pay";
    type State = (Wallet, Wallet, Payment);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String, String) {
        (self.payer.to_string(), self.payee.to_string(), self.payment_id.to_string())
    }

    fn decide(
        &self,
        (payer, payee, payment): (&Wallet, &Wallet, &Payment),
    ) -> Result<PaymentLegs, LedgerError> {
        let amount = self.amount.minor_units();
        check_reference(&self.reference)?;
        check_note(self.note.as_deref())?;
        check_parties(self.payer, self.payee)?;
        if payment.status != PaymentStatus::None {
            return Err(LedgerError::PaymentExists);
        }
        let leg = |delta: i64, counterparty| Leg {
            entry_id: self.payment_id,
            amount,
            available_delta: delta,
            counterparty: Some(counterparty),
            payment_id: Some(self.payment_id),
            reference: Some(self.reference.clone()),
            note: self.note.clone(),
            ..Leg::default()
        };
        let sent =
            payer.seal(self.payer, WalletEventKind::PaymentSent, leg(-amount, self.payee), self.now)?;
        let received =
            payee.seal(self.payee, WalletEventKind::PaymentReceived, leg(amount, self.payer), self.now)?;
        let paid = PaymentEvent::Paid(PaymentPaid {
            payer: self.payer.to_string(),
            payee: self.payee.to_string(),
            amount,
            reference: self.reference.clone(),
            note: self.note.clone(),
            paid_at: self.now,
        });
        Ok((vec![sent], vec![received], vec![paid]))
    }
}

/// Reserve credits of the payer for a payee until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceHold {
    pub payment_id: Uuid,
    pub payer: LedgerAccount,
    pub payee: LedgerAccount,
    pub amount: Credits,
    pub reference: String,
    #[serde(skip)]
    pub expires_at: DateTime<Utc>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Longest a hold may last.
pub const MAX_HOLD_SECONDS: i64 = 7 * 24 * 3600;

/// A hold: the payer's `hold_placed` (available → held) and `payment.authorized`.
impl Decision for PlaceHold {
    const KIND: &'static str = "looppay.hold";
    type State = (Wallet, Payment);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String) {
        (self.payer.to_string(), self.payment_id.to_string())
    }

    fn decide(&self, (payer, payment): (&Wallet, &Payment)) -> Result<HoldLegs, LedgerError> {
        let amount = self.amount.minor_units();
        check_reference(&self.reference)?;
        check_parties(self.payer, self.payee)?;
        let millis = (self.expires_at - self.now).num_milliseconds();
        if !(1000..=MAX_HOLD_SECONDS * 1000).contains(&millis) {
            return Err(LedgerError::InvalidHoldDuration);
        }
        if payment.status != PaymentStatus::None {
            return Err(LedgerError::PaymentExists);
        }
        let leg = Leg {
            entry_id: self.payment_id,
            amount,
            available_delta: -amount,
            held_delta: amount,
            counterparty: Some(self.payee),
            payment_id: Some(self.payment_id),
            reference: Some(self.reference.clone()),
            ..Leg::default()
        };
        let placed = payer.seal(self.payer, WalletEventKind::HoldPlaced, leg, self.now)?;
        let authorized = PaymentEvent::Authorized(PaymentAuthorized {
            payer: self.payer.to_string(),
            payee: self.payee.to_string(),
            amount,
            reference: self.reference.clone(),
            authorized_at: self.now,
            expires_at: self.expires_at,
        });
        Ok((vec![placed], vec![authorized]))
    }
}

/// The hold must be active (held and not expired) at `now`.
fn active_hold(payment: &Payment, now: DateTime<Utc>) -> Result<(), LedgerError> {
    match payment.status {
        PaymentStatus::Held => match payment.expires_at {
            Some(expires_at) if now >= expires_at => Err(LedgerError::HoldExpired(expires_at)),
            _ => Ok(()),
        },
        PaymentStatus::None => Err(LedgerError::PaymentNotFound),
        other => Err(LedgerError::HoldNotActive(other.as_str())),
    }
}

/// Capture (part of) a hold: `amount` goes to the payee, the rest back to the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureHold {
    pub payment_id: Uuid,
    /// The payment's payer and payee, as recorded: they name the wallets to load. Looked up
    /// by the server (see [`payment_accounts`]) and checked again by the decision.
    #[serde(skip)]
    pub accounts: (LedgerAccount, LedgerAccount),
    /// `None` captures the whole hold.
    pub amount: Option<Credits>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// A capture: the payer's `hold_captured`, the payee's `payment_received` and
/// `payment.captured`.
impl Decision for CaptureHold {
    const KIND: &'static str = "looppay.capture";
    type State = (Wallet, Wallet, Payment);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String, String) {
        let (payer, payee) = self.accounts;
        (payer.to_string(), payee.to_string(), self.payment_id.to_string())
    }

    fn decide(
        &self,
        (payer, payee, payment): (&Wallet, &Wallet, &Payment),
    ) -> Result<PaymentLegs, LedgerError> {
        active_hold(payment, self.now)?;
        let accounts = self.accounts;
        check_accounts(payment, accounts)?;
        let held = payment.amount;
        let amount = self.amount.map_or(held, Credits::minor_units);
        if amount > held {
            return Err(LedgerError::CaptureExceedsHold { held, requested: amount });
        }
        let (payer_account, payee_account) = accounts;
        let released = held - amount;
        let reference = payment.reference.clone();
        let captured = payer.seal(
            payer_account,
            WalletEventKind::HoldCaptured,
            Leg {
                entry_id: self.payment_id,
                amount,
                available_delta: released,
                held_delta: -held,
                counterparty: Some(payee_account),
                payment_id: Some(self.payment_id),
                reference: reference.clone(),
                ..Leg::default()
            },
            self.now,
        )?;
        let received = payee.seal(
            payee_account,
            WalletEventKind::PaymentReceived,
            Leg {
                entry_id: self.payment_id,
                amount,
                available_delta: amount,
                counterparty: Some(payer_account),
                payment_id: Some(self.payment_id),
                reference,
                ..Leg::default()
            },
            self.now,
        )?;
        let event = PaymentEvent::Captured(PaymentCaptured { amount, released, captured_at: self.now });
        Ok((vec![captured], vec![received], vec![event]))
    }
}

/// Why a hold is released without payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// The merchant cancelled it.
    Void,
    /// It reached its expiry. Deciding this before the expiry changes nothing.
    Expire,
}

/// Release a hold: void it, or expire it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseHold {
    pub payment_id: Uuid,
    /// The payment's payer, as recorded: it names the wallet to load.
    #[serde(skip)]
    pub payer: LedgerAccount,
    pub why: Release,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// A release: the payer's `hold_released` and `payment.voided` / `payment.expired`. An expiry
/// of a hold that is already settled, or not yet due, decides nothing: expiry workers may race
/// each other and captures, and exactly one of them moves the credits.
impl Decision for ReleaseHold {
    const KIND: &'static str = "looppay.release";
    type State = (Wallet, Payment);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String) {
        (self.payer.to_string(), self.payment_id.to_string())
    }

    fn decide(&self, (payer, payment): (&Wallet, &Payment)) -> Result<HoldLegs, LedgerError> {
        let payer_account = self.payer;
        match self.why {
            Release::Void => active_hold(payment, self.now)?,
            Release::Expire => {
                let due = payment.status == PaymentStatus::Held
                    && payment.expires_at.is_some_and(|expires_at| self.now >= expires_at);
                if !due {
                    return Ok((Vec::new(), Vec::new()));
                }
            }
        }
        if payment_accounts(payment).map(|(payer, _)| payer) != Some(payer_account) {
            return Err(LedgerError::PaymentNotFound);
        }
        let amount = payment.amount;
        let released = payer.seal(
            payer_account,
            WalletEventKind::HoldReleased,
            Leg {
                entry_id: self.payment_id,
                amount,
                available_delta: amount,
                held_delta: -amount,
                counterparty: payment.payee.as_deref().and_then(LedgerAccount::parse),
                payment_id: Some(self.payment_id),
                reference: payment.reference.clone(),
                note: Some(match self.why {
                    Release::Void => "voided".to_owned(),
                    Release::Expire => "expired".to_owned(),
                }),
                ..Leg::default()
            },
            self.now,
        )?;
        let fact = HoldReleased { amount, released_at: self.now };
        let event = match self.why {
            Release::Void => PaymentEvent::Voided(fact),
            Release::Expire => PaymentEvent::Expired(fact),
        };
        Ok((vec![released], vec![event]))
    }
}

/// Give back (part of) a paid payment: a new entry from the payee to the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub payment_id: Uuid,
    /// The payment's payer and payee, as recorded: they name the wallets to load.
    #[serde(skip)]
    pub accounts: (LedgerAccount, LedgerAccount),
    #[serde(skip)]
    pub refund_id: Uuid,
    /// `None` refunds everything still refundable.
    pub amount: Option<Credits>,
    pub reason: Option<String>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// A refund: the payee's `refund_sent`, the payer's `refund_received` and `payment.refunded`.
/// The payee must have the credits available.
impl Decision for Refund {
    const KIND: &'static str = "looppay.refund";
    type State = (Wallet, Wallet, Payment);
    type Error = LedgerError;

    fn stream_ids(&self) -> (String, String, String) {
        let (payer, payee) = self.accounts;
        (payee.to_string(), payer.to_string(), self.payment_id.to_string())
    }

    fn decide(
        &self,
        (payee, payer, payment): (&Wallet, &Wallet, &Payment),
    ) -> Result<PaymentLegs, LedgerError> {
        let accounts = self.accounts;
        match payment.status {
            PaymentStatus::Paid => {}
            PaymentStatus::None => return Err(LedgerError::PaymentNotFound),
            other => return Err(LedgerError::NotRefundable(other.as_str())),
        }
        check_note(self.reason.as_deref())?;
        let refundable = payment.refundable();
        let amount = match self.amount {
            Some(amount) => amount.minor_units(),
            None if refundable > 0 => refundable,
            None => return Err(LedgerError::RefundExceedsPayment { refundable }),
        };
        if amount > refundable {
            return Err(LedgerError::RefundExceedsPayment { refundable });
        }
        check_accounts(payment, accounts)?;
        let (payer_account, payee_account) = accounts;
        let leg = |delta: i64, counterparty| Leg {
            entry_id: self.refund_id,
            amount,
            available_delta: delta,
            counterparty: Some(counterparty),
            payment_id: Some(self.payment_id),
            reference: payment.reference.clone(),
            note: self.reason.clone(),
            ..Leg::default()
        };
        let sent =
            payee.seal(payee_account, WalletEventKind::RefundSent, leg(-amount, payer_account), self.now)?;
        let received = payer.seal(
            payer_account,
            WalletEventKind::RefundReceived,
            leg(amount, payee_account),
            self.now,
        )?;
        let event = PaymentEvent::Refunded(PaymentRefunded {
            refund_id: self.refund_id,
            amount,
            reason: self.reason.clone(),
            refunded_at: self.now,
        });
        Ok((vec![sent], vec![received], vec![event]))
    }
}

/// The accounts a movement of a payment names must be the payment's own (`(payer, payee)`);
/// anything else is treated as an unknown payment.
fn check_accounts(payment: &Payment, accounts: (LedgerAccount, LedgerAccount)) -> Result<(), LedgerError> {
    if payment_accounts(payment) == Some(accounts) { Ok(()) } else { Err(LedgerError::PaymentNotFound) }
}
