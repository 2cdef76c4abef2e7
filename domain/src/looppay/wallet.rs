//! A wallet: its events (each one leg of an entry, chained by hash) and the `Wallet`
//! aggregate, whose one rule is that its balances never go below zero.

use super::{Credits, GENESIS_HASH, LedgerAccount, LedgerError, SETTLED_TOP_UPS_KEPT};
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Wallet events
// ---------------------------------------------------------------------------------------------

/// The payload of every wallet event: one leg of an entry (or, for top-up requests and
/// failures, a fact without a movement), the balances it left, and its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WalletEntry {
    /// The account this stream belongs to (a user id, or `system.escrow`).
    pub account: String,
    /// The event's place in the wallet's chain: 1 for its first event, then +1.
    pub sequence: i64,
    /// The movement this leg belongs to; every leg of one movement has the same id.
    pub entry_id: Uuid,
    /// The amount moved (positive), in minor units of [`CURRENCY`].
    pub amount: i64,
    /// Signed change of the available balance.
    pub available_delta: i64,
    /// Signed change of the held balance.
    pub held_delta: i64,
    pub available_after: i64,
    pub held_after: i64,
    /// The account on the other side of the movement.
    pub counterparty: Option<String>,
    /// The payment (or hold) this leg belongs to.
    pub payment_id: Option<Uuid>,
    /// The top-up this leg belongs to.
    pub top_up_id: Option<Uuid>,
    /// What was paid for, e.g. `event:<id>` or `order:<id>`.
    pub reference: Option<String>,
    /// The sender's note.
    pub note: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The previous event's `hash` ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 of `prevHash` and the canonical form, lowercase hex.
    pub hash: String,
}

impl WalletEntry {
    /// The change of the wallet's total (available + held).
    pub fn total_delta(&self) -> i64 {
        self.available_delta + self.held_delta
    }

    /// The text the hash covers, version 1 of the chain format: one `name=value` line per
    /// field in a fixed order, strings JSON-quoted (so separators inside them cannot forge
    /// another field), absent values as `-`. Independent of how the payload is stored.
    pub fn canonical(&self, event_type: &str) -> String {
        fn text(value: Option<&str>) -> String {
            value.map_or_else(|| "-".to_owned(), |v| serde_json::Value::from(v).to_string())
        }
        fn id(value: Option<Uuid>) -> String {
            value.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        format!(
            "loopync-ledger-v1\ntype={}\naccount={}\nsequence={}\nentry={}\namount={}\navailableDelta={}\n\
             heldDelta={}\navailableAfter={}\nheldAfter={}\ncounterparty={}\npayment={}\ntopUp={}\n\
             reference={}\nnote={}\noccurredAt={}\n",
            text(Some(event_type)),
            text(Some(&self.account)),
            self.sequence,
            self.entry_id,
            self.amount,
            self.available_delta,
            self.held_delta,
            self.available_after,
            self.held_after,
            text(self.counterparty.as_deref()),
            id(self.payment_id),
            id(self.top_up_id),
            text(self.reference.as_deref()),
            text(self.note.as_deref()),
            self.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
    }

    /// The hash this entry must carry, given its `prev_hash` and fields.
    pub fn expected_hash(&self, event_type: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.canonical(event_type).as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Events of a wallet stream, adjacently tagged like every event of Loopync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WalletEvent {
    /// A top-up was started with a provider that confirms later; counts toward the daily limit.
    #[serde(rename = "wallet.top_up_requested")]
    TopUpRequested(WalletEntry),
    /// Credits arrived from a payment provider (counterparty `system.funding`).
    #[serde(rename = "wallet.topped_up")]
    ToppedUp(WalletEntry),
    /// The provider reported that a requested top-up failed; nothing moved.
    #[serde(rename = "wallet.top_up_failed")]
    TopUpFailed(WalletEntry),
    /// A requested top-up stayed unconfirmed past the pending window; nothing moved, and a
    /// confirmation arriving later credits nothing.
    #[serde(rename = "wallet.top_up_expired")]
    TopUpExpired(WalletEntry),
    #[serde(rename = "wallet.transfer_sent")]
    TransferSent(WalletEntry),
    #[serde(rename = "wallet.transfer_received")]
    TransferReceived(WalletEntry),
    #[serde(rename = "wallet.payment_sent")]
    PaymentSent(WalletEntry),
    /// Credits received for a payment, immediate or a captured hold.
    #[serde(rename = "wallet.payment_received")]
    PaymentReceived(WalletEntry),
    /// Credits moved from available to held for a payment that may be captured later.
    #[serde(rename = "wallet.hold_placed")]
    HoldPlaced(WalletEntry),
    /// A hold was captured: the captured part paid out, the rest back to available.
    #[serde(rename = "wallet.hold_captured")]
    HoldCaptured(WalletEntry),
    /// A hold was voided or expired: its credits are available again.
    #[serde(rename = "wallet.hold_released")]
    HoldReleased(WalletEntry),
    /// The payee gave back (part of) a payment.
    #[serde(rename = "wallet.refund_sent")]
    RefundSent(WalletEntry),
    #[serde(rename = "wallet.refund_received")]
    RefundReceived(WalletEntry),
}

/// The kinds of wallet event, for building them and naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletEventKind {
    TopUpRequested,
    ToppedUp,
    TopUpFailed,
    TopUpExpired,
    TransferSent,
    TransferReceived,
    PaymentSent,
    PaymentReceived,
    HoldPlaced,
    HoldCaptured,
    HoldReleased,
    RefundSent,
    RefundReceived,
}

impl WalletEventKind {
    /// Every kind, in the order of [`WalletEvent`]'s variants.
    pub const ALL: [WalletEventKind; 13] = [
        Self::TopUpRequested,
        Self::ToppedUp,
        Self::TopUpFailed,
        Self::TopUpExpired,
        Self::TransferSent,
        Self::TransferReceived,
        Self::PaymentSent,
        Self::PaymentReceived,
        Self::HoldPlaced,
        Self::HoldCaptured,
        Self::HoldReleased,
        Self::RefundSent,
        Self::RefundReceived,
    ];

    pub fn event_type(self) -> &'static str {
        match self {
            Self::TopUpRequested => "wallet.top_up_requested",
            Self::ToppedUp => "wallet.topped_up",
            Self::TopUpFailed => "wallet.top_up_failed",
            Self::TopUpExpired => "wallet.top_up_expired",
            Self::TransferSent => "wallet.transfer_sent",
            Self::TransferReceived => "wallet.transfer_received",
            Self::PaymentSent => "wallet.payment_sent",
            Self::PaymentReceived => "wallet.payment_received",
            Self::HoldPlaced => "wallet.hold_placed",
            Self::HoldCaptured => "wallet.hold_captured",
            Self::HoldReleased => "wallet.hold_released",
            Self::RefundSent => "wallet.refund_sent",
            Self::RefundReceived => "wallet.refund_received",
        }
    }

    pub(super) fn wrap(self, entry: WalletEntry) -> WalletEvent {
        match self {
            Self::TopUpRequested => WalletEvent::TopUpRequested(entry),
            Self::ToppedUp => WalletEvent::ToppedUp(entry),
            Self::TopUpFailed => WalletEvent::TopUpFailed(entry),
            Self::TopUpExpired => WalletEvent::TopUpExpired(entry),
            Self::TransferSent => WalletEvent::TransferSent(entry),
            Self::TransferReceived => WalletEvent::TransferReceived(entry),
            Self::PaymentSent => WalletEvent::PaymentSent(entry),
            Self::PaymentReceived => WalletEvent::PaymentReceived(entry),
            Self::HoldPlaced => WalletEvent::HoldPlaced(entry),
            Self::HoldCaptured => WalletEvent::HoldCaptured(entry),
            Self::HoldReleased => WalletEvent::HoldReleased(entry),
            Self::RefundSent => WalletEvent::RefundSent(entry),
            Self::RefundReceived => WalletEvent::RefundReceived(entry),
        }
    }
}

impl WalletEvent {
    pub fn entry(&self) -> &WalletEntry {
        match self {
            Self::TopUpRequested(e)
            | Self::ToppedUp(e)
            | Self::TopUpFailed(e)
            | Self::TopUpExpired(e)
            | Self::TransferSent(e)
            | Self::TransferReceived(e)
            | Self::PaymentSent(e)
            | Self::PaymentReceived(e)
            | Self::HoldPlaced(e)
            | Self::HoldCaptured(e)
            | Self::HoldReleased(e)
            | Self::RefundSent(e)
            | Self::RefundReceived(e) => e,
        }
    }

    pub fn kind(&self) -> WalletEventKind {
        match self {
            Self::TopUpRequested(_) => WalletEventKind::TopUpRequested,
            Self::ToppedUp(_) => WalletEventKind::ToppedUp,
            Self::TopUpFailed(_) => WalletEventKind::TopUpFailed,
            Self::TopUpExpired(_) => WalletEventKind::TopUpExpired,
            Self::TransferSent(_) => WalletEventKind::TransferSent,
            Self::TransferReceived(_) => WalletEventKind::TransferReceived,
            Self::PaymentSent(_) => WalletEventKind::PaymentSent,
            Self::PaymentReceived(_) => WalletEventKind::PaymentReceived,
            Self::HoldPlaced(_) => WalletEventKind::HoldPlaced,
            Self::HoldCaptured(_) => WalletEventKind::HoldCaptured,
            Self::HoldReleased(_) => WalletEventKind::HoldReleased,
            Self::RefundSent(_) => WalletEventKind::RefundSent,
            Self::RefundReceived(_) => WalletEventKind::RefundReceived,
        }
    }
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> &'static str {
        self.kind().event_type()
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

// ---------------------------------------------------------------------------------------------
// The wallet aggregate
// ---------------------------------------------------------------------------------------------

/// A ledger account with a stream: a user's wallet or the escrow account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    pub available: i64,
    pub held: i64,
    /// Events in the chain so far (= the stream's version).
    pub sequence: i64,
    pub last_hash: String,
    /// Top-ups requested and not yet confirmed or failed.
    pub pending_top_ups: BTreeMap<Uuid, PendingTopUp>,
    /// The most recently settled top-ups (see [`SETTLED_TOP_UPS_KEPT`]).
    pub settled_top_ups: VecDeque<SettledTopUp>,
    /// The UTC day `topped_up_today` counts, and the amount requested that day.
    pub top_up_day: Option<NaiveDate>,
    pub topped_up_today: i64,
}

impl Default for Wallet {
    fn default() -> Self {
        Self {
            available: 0,
            held: 0,
            sequence: 0,
            last_hash: GENESIS_HASH.to_owned(),
            pending_top_ups: BTreeMap::new(),
            settled_top_ups: VecDeque::new(),
            top_up_day: None,
            topped_up_today: 0,
        }
    }
}

/// A top-up waiting for its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTopUp {
    pub amount: i64,
    /// The UTC day whose limit it counts against.
    pub requested_on: NaiveDate,
    /// When it was requested: the pending window runs from here.
    pub requested_at: DateTime<Utc>,
}

/// How a top-up was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpSettlement {
    /// The provider confirmed it (or confirmed it at once): the credits arrived.
    Confirmed,
    /// The provider reported it failed.
    Failed,
    /// Nobody settled it within the pending window; a late confirmation credits nothing.
    Expired,
}

/// A top-up that was settled, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettledTopUp {
    pub id: Uuid,
    pub outcome: TopUpSettlement,
}

/// Limits on top-ups, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpLimits {
    /// Largest single top-up.
    pub per_top_up: i64,
    /// Most a wallet may top up per UTC day (requests that have not failed or expired).
    pub daily: i64,
    /// Most top-ups a wallet may have started and not yet seen settled (confirmed, failed or
    /// expired). Each pending one is a checkout the provider may still charge; an unbounded
    /// number lets one account pile up work and open charges for nothing.
    pub pending: usize,
}

/// Commands on one wallet alone. Movements between accounts are the functions below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WalletCommand {
    /// Starts a top-up; with `confirmed` (a provider that confirms at once) the credits arrive
    /// in the same command.
    RequestTopUp {
        account: LedgerAccount,
        #[serde(skip)]
        top_up_id: Uuid,
        amount: Credits,
        /// Whether the provider settles at once: configuration, not the request.
        #[serde(skip)]
        confirmed: bool,
        #[serde(skip)]
        limits: TopUpLimits,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// The provider confirmed a requested top-up: the credits arrive. A repeat is a no-op.
    ConfirmTopUp {
        account: LedgerAccount,
        top_up_id: Uuid,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// The provider reported a requested top-up as failed. A repeat is a no-op.
    FailTopUp {
        account: LedgerAccount,
        top_up_id: Uuid,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// A requested top-up pending for `window` or longer at `now` expires. One already
    /// settled (any way), or not yet due, decides nothing: the expiry job may race the
    /// provider's confirmation or another worker, and whichever appends first settles it.
    ExpireTopUp {
        account: LedgerAccount,
        top_up_id: Uuid,
        /// How long a top-up may stay pending: configuration.
        #[serde(skip)]
        window: chrono::Duration,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
}

/// What a leg needs besides the wallet's own state.
#[derive(Debug, Clone, Default)]
pub(super) struct Leg {
    pub(super) entry_id: Uuid,
    pub(super) amount: i64,
    pub(super) available_delta: i64,
    pub(super) held_delta: i64,
    pub(super) counterparty: Option<LedgerAccount>,
    pub(super) payment_id: Option<Uuid>,
    pub(super) top_up_id: Option<Uuid>,
    pub(super) reference: Option<String>,
    pub(super) note: Option<String>,
}

impl Wallet {
    /// What the wallet owns: available plus held.
    pub fn total(&self) -> i64 {
        self.available + self.held
    }

    /// The next event of this wallet's chain, or why the leg is impossible (it would take a
    /// balance below zero or overflow).
    pub(super) fn seal(
        &self,
        account: LedgerAccount,
        kind: WalletEventKind,
        leg: Leg,
        now: DateTime<Utc>,
    ) -> Result<WalletEvent, LedgerError> {
        let available_after = self.available.checked_add(leg.available_delta).ok_or(LedgerError::Overflow)?;
        let held_after = self.held.checked_add(leg.held_delta).ok_or(LedgerError::Overflow)?;
        available_after.checked_add(held_after).ok_or(LedgerError::Overflow)?;
        if available_after < 0 {
            return Err(LedgerError::InsufficientFunds { available: self.available, requested: leg.amount });
        }
        if held_after < 0 {
            // Holds are tracked by their payments; a negative held balance is a broken history.
            return Err(LedgerError::InsufficientFunds { available: self.held, requested: leg.amount });
        }
        let mut entry = WalletEntry {
            account: account.to_string(),
            sequence: self.sequence + 1,
            entry_id: leg.entry_id,
            amount: leg.amount,
            available_delta: leg.available_delta,
            held_delta: leg.held_delta,
            available_after,
            held_after,
            counterparty: leg.counterparty.map(|c| c.to_string()),
            payment_id: leg.payment_id,
            top_up_id: leg.top_up_id,
            reference: leg.reference,
            note: leg.note,
            occurred_at: now,
            prev_hash: self.last_hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.expected_hash(kind.event_type());
        Ok(kind.wrap(entry))
    }

    /// The amount requested on `day` so far.
    fn requested_on(&self, day: NaiveDate) -> i64 {
        if self.top_up_day == Some(day) { self.topped_up_today } else { 0 }
    }

    /// How a top-up was settled, if the wallet remembers it.
    pub fn settlement(&self, top_up_id: Uuid) -> Option<TopUpSettlement> {
        self.settled_top_ups.iter().find(|s| s.id == top_up_id).map(|s| s.outcome)
    }

    /// The answer to a provider's notice about a top-up that is not pending: nothing to do
    /// when it was settled the same way; a confirmation of an expired top-up is refused
    /// (`TopUpExpired`: the credits never arrive), a failure of one agrees with it; a refusal
    /// when settled the other way or unknown.
    fn not_pending(&self, top_up_id: Uuid, confirming: bool) -> Result<Vec<WalletEvent>, LedgerError> {
        match (self.settlement(top_up_id), confirming) {
            (Some(TopUpSettlement::Confirmed), true) | (Some(TopUpSettlement::Failed), false) => {
                Ok(Vec::new())
            }
            (Some(TopUpSettlement::Expired), true) => Err(LedgerError::TopUpExpired),
            (Some(TopUpSettlement::Expired), false) => Ok(Vec::new()),
            (Some(_), _) => Err(LedgerError::TopUpAlreadySettled),
            (None, _) => Err(LedgerError::TopUpNotFound),
        }
    }

    /// A leg of a top-up that moves nothing (a request, a failure, an expiry).
    fn top_up_fact(top_up_id: Uuid, amount: i64) -> Leg {
        Leg {
            entry_id: top_up_id,
            amount,
            counterparty: Some(LedgerAccount::Funding),
            top_up_id: Some(top_up_id),
            ..Leg::default()
        }
    }
}

impl Aggregate for Wallet {
    const CATEGORY: &'static str = "wallet";
    /// 2: pending top-ups know when they were requested, settled ones how they were settled.
    const SNAPSHOT_VERSION: i32 = 2;
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = LedgerError;

    fn decide(&self, command: &WalletCommand) -> Result<Vec<WalletEvent>, LedgerError> {
        match *command {
            WalletCommand::RequestTopUp { account, top_up_id, amount, confirmed, limits, now } => {
                let amount = amount.minor_units();
                if self.pending_top_ups.contains_key(&top_up_id) || self.settlement(top_up_id).is_some() {
                    // The same top-up requested again (a retry): already done.
                    return Ok(Vec::new());
                }
                // Decided on the wallet's own state, with its expected version: two starts
                // racing for the last free place cannot both take it (the loser is decided
                // again on a wallet that holds the winner's request).
                if !confirmed && self.pending_top_ups.len() >= limits.pending {
                    return Err(LedgerError::TooManyPendingTopUps { limit: limits.pending });
                }
                if amount > limits.per_top_up {
                    return Err(LedgerError::TopUpLimitExceeded { limit: limits.per_top_up });
                }
                let today = self.requested_on(now.date_naive());
                if today.saturating_add(amount) > limits.daily {
                    return Err(LedgerError::DailyLimitExceeded {
                        limit: limits.daily,
                        remaining: (limits.daily - today).max(0),
                    });
                }
                let base = Leg {
                    entry_id: top_up_id,
                    amount,
                    counterparty: Some(LedgerAccount::Funding),
                    top_up_id: Some(top_up_id),
                    ..Leg::default()
                };
                if confirmed {
                    let leg = Leg { available_delta: amount, ..base };
                    Ok(vec![self.seal(account, WalletEventKind::ToppedUp, leg, now)?])
                } else {
                    Ok(vec![self.seal(account, WalletEventKind::TopUpRequested, base, now)?])
                }
            }
            WalletCommand::ConfirmTopUp { account, top_up_id, now } => {
                let Some(amount) = self.pending_top_ups.get(&top_up_id).map(|p| p.amount) else {
                    return self.not_pending(top_up_id, true);
                };
                let leg = Leg {
                    entry_id: top_up_id,
                    amount,
                    available_delta: amount,
                    counterparty: Some(LedgerAccount::Funding),
                    top_up_id: Some(top_up_id),
                    ..Leg::default()
                };
                Ok(vec![self.seal(account, WalletEventKind::ToppedUp, leg, now)?])
            }
            WalletCommand::FailTopUp { account, top_up_id, now } => {
                let Some(amount) = self.pending_top_ups.get(&top_up_id).map(|p| p.amount) else {
                    return self.not_pending(top_up_id, false);
                };
                let leg = Self::top_up_fact(top_up_id, amount);
                Ok(vec![self.seal(account, WalletEventKind::TopUpFailed, leg, now)?])
            }
            WalletCommand::ExpireTopUp { account, top_up_id, window, now } => {
                let Some(pending) = self.pending_top_ups.get(&top_up_id) else {
                    // Settled meanwhile, whichever way: nothing to expire.
                    return match self.settlement(top_up_id) {
                        Some(_) => Ok(Vec::new()),
                        None => Err(LedgerError::TopUpNotFound),
                    };
                };
                if now < pending.requested_at + window {
                    return Ok(Vec::new());
                }
                let leg = Self::top_up_fact(top_up_id, pending.amount);
                Ok(vec![self.seal(account, WalletEventKind::TopUpExpired, leg, now)?])
            }
        }
    }

    fn apply(&mut self, event: &WalletEvent) {
        let entry = event.entry();
        self.available = entry.available_after;
        self.held = entry.held_after;
        self.sequence = entry.sequence;
        self.last_hash.clone_from(&entry.hash);
        let day = entry.occurred_at.date_naive();
        match event {
            WalletEvent::TopUpRequested(e) => {
                if let Some(id) = e.top_up_id {
                    let pending =
                        PendingTopUp { amount: e.amount, requested_on: day, requested_at: e.occurred_at };
                    self.pending_top_ups.insert(id, pending);
                }
                self.count_top_up(day, e.amount);
            }
            WalletEvent::ToppedUp(e) => {
                if let Some(id) = e.top_up_id {
                    // A confirmation of a request was counted on the day it was requested;
                    // a top-up confirmed at once counts now.
                    if self.pending_top_ups.remove(&id).is_none() {
                        self.count_top_up(day, e.amount);
                    }
                    self.remember_settled(SettledTopUp { id, outcome: TopUpSettlement::Confirmed });
                }
            }
            WalletEvent::TopUpFailed(e) | WalletEvent::TopUpExpired(e) => {
                if let Some(id) = e.top_up_id {
                    // A failed or expired request no longer counts against the day it was
                    // requested on: no money came of it.
                    let requested_on = self.pending_top_ups.remove(&id).map(|p| p.requested_on);
                    if requested_on.is_some() && self.top_up_day == requested_on {
                        self.topped_up_today = (self.topped_up_today - e.amount).max(0);
                    }
                    let outcome = if matches!(event, WalletEvent::TopUpExpired(_)) {
                        TopUpSettlement::Expired
                    } else {
                        TopUpSettlement::Failed
                    };
                    self.remember_settled(SettledTopUp { id, outcome });
                }
            }
            _ => {}
        }
    }
}

impl Wallet {
    fn remember_settled(&mut self, settled: SettledTopUp) {
        self.settled_top_ups.push_back(settled);
        if self.settled_top_ups.len() > SETTLED_TOP_UPS_KEPT {
            self.settled_top_ups.pop_front();
        }
    }

    fn count_top_up(&mut self, day: NaiveDate, amount: i64) {
        if self.top_up_day != Some(day) {
            self.top_up_day = Some(day);
            self.topped_up_today = 0;
        }
        self.topped_up_today = self.topped_up_today.saturating_add(amount);
    }
}

// ---------------------------------------------------------------------------------------------
