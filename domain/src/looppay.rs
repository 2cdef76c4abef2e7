//! LoopPay: a double-entry ledger of Loop credits.
//!
//! Every account of the ledger is a [`LedgerAccount`]: a user's wallet, or a system account.
//! Accounts that have a rule to enforce (a wallet never goes below zero) are aggregates of
//! their own, [`Wallet`], one stream each (`wallet-<account>`). A movement of money is an
//! *entry* whose legs sum to zero; each leg is an event in the stream of the account it moves,
//! and the legs of one entry share its `entryId` and are appended atomically.
//!
//! The one account without a stream is [`LedgerAccount::Funding`], the mirror of money that
//! entered from payment providers: it has no rule to enforce (it is as negative as the credits
//! in circulation), and a stream of its own would serialize every top-up of the system. Its
//! leg of a top-up is implied by the wallet's `wallet.topped_up` event, whose counterparty it
//! is; auditors derive its balance from those events.
//!
//! A wallet has two balances: `available`, which can be spent, and `held`, which is reserved
//! by holds (a ticket being booked, say) until they are captured, voided or expire. A hold
//! moves credits from available to held inside the wallet; a capture pays the payee out of
//! held. The wallet's total (`available + held`) is what it owns.
//!
//! **Tamper evidence.** Every wallet event carries `hash = SHA-256(prevHash ‖ canonical form)`
//! where the canonical form ([`WalletEntry::canonical`]) names the event type, the account, the
//! event's sequence in the wallet and every field; the first event's `prevHash` is
//! [`GENESIS_HASH`]. Editing, dropping, reordering or inserting an event breaks the chain from
//! that point on, which `loopync audit ledger` detects.
//!
//! Payments (paid at once or through a hold) are also aggregates, [`Payment`], so that a
//! capture, a void, an expiry or a refund is decided against the payment's own state: a hold
//! settles exactly once, and refunds never exceed what was paid. Refunds are new compensating
//! entries that reference the payment; no ledger event is ever edited or deleted.
//!
//! Everything here is pure: time, ids and limits arrive in the commands. Serialized, a command
//! is its idempotency fingerprint — what the caller asked for — so the ids and times the server
//! draws for each attempt (and configuration such as limits) are `#[serde(skip)]`: a retry with
//! the same `Idempotency-Key` matches its original.

use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use uuid::Uuid;

/// The currency of the ledger: Loop credits, in integer minor units.
pub const CURRENCY: &str = "LOOP";

/// The `prevHash` of a wallet's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest note on a transfer or payment, in characters.
pub const MAX_NOTE_CHARS: usize = 280;

/// Longest payment reference (`<kind>:<id>`), in bytes.
pub const MAX_REFERENCE_BYTES: usize = 160;

/// Settled top-ups a wallet remembers, to answer a repeated provider notice as "already
/// applied" (or "settled the other way") rather than "unknown". A notice about an older one is
/// refused as unknown, so it is still never applied twice. (Top-up ids are drawn by the server
/// for each request; a retried request is answered from its idempotency record, not by
/// deciding the same id again.)
pub const SETTLED_TOP_UPS_KEPT: usize = 1000;

/// An account of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    /// A user's wallet, keyed by the user's id.
    User(Uuid),
    /// Money from outside: every top-up is a movement from here. Has no stream (see the
    /// module documentation) and is never positive.
    Funding,
    /// The merchant account of platform sales (tickets, marketplace orders) until they are
    /// settled to sellers. A wallet like any other: it never goes below zero.
    Escrow,
}

impl LedgerAccount {
    pub const FUNDING: &'static str = "system.funding";
    pub const ESCROW: &'static str = "system.escrow";

    /// Whether the account has a stream of its own (all but [`Self::Funding`]).
    pub fn has_stream(self) -> bool {
        !matches!(self, Self::Funding)
    }

    /// Parses a user id or a system account name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            Self::FUNDING => Some(Self::Funding),
            Self::ESCROW => Some(Self::Escrow),
            other => Uuid::parse_str(other).ok().map(Self::User),
        }
    }

    /// The user owning the wallet, for user wallets.
    pub fn user(self) -> Option<Uuid> {
        match self {
            Self::User(id) => Some(id),
            _ => None,
        }
    }
}

impl Serialize for LedgerAccount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => id.fmt(f),
            Self::Funding => f.write_str(Self::FUNDING),
            Self::Escrow => f.write_str(Self::ESCROW),
        }
    }
}

/// Why the ledger refused a command. Nothing moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("amounts are positive whole numbers of minor units, got {0}")]
    InvalidAmount(i64),
    #[error("insufficient funds: {available} available, {requested} requested")]
    InsufficientFunds { available: i64, requested: i64 },
    #[error("the balance would overflow")]
    Overflow,
    #[error("a wallet cannot pay or transfer to itself")]
    SameAccount,
    #[error("a single top-up is at most {limit}")]
    TopUpLimitExceeded { limit: i64 },
    #[error("the daily top-up limit of {limit} would be exceeded; {remaining} left today")]
    DailyLimitExceeded { limit: i64, remaining: i64 },
    #[error("no such top-up in this wallet")]
    TopUpNotFound,
    #[error("this top-up was already settled the other way")]
    TopUpAlreadySettled,
    #[error("no such payment")]
    PaymentNotFound,
    #[error("a payment with this id already exists")]
    PaymentExists,
    #[error("the hold is {0}, not active")]
    HoldNotActive(&'static str),
    #[error("the hold expired at {0}")]
    HoldExpired(DateTime<Utc>),
    #[error("a capture of {requested} exceeds the hold of {held}")]
    CaptureExceedsHold { held: i64, requested: i64 },
    #[error("the payment is {0} and cannot be refunded")]
    NotRefundable(&'static str),
    #[error("at most {refundable} of this payment can still be refunded")]
    RefundExceedsPayment { refundable: i64 },
    #[error("a reference is `<kind>:<id>` (lowercase kind, at most {MAX_REFERENCE_BYTES} bytes)")]
    InvalidReference,
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error("holds last between 1 second and 7 days")]
    InvalidHoldDuration,
    #[error("`{0}` is not an account that can pay or be paid")]
    NotAWallet(String),
}

/// Both parties of a movement must be wallets (accounts with a stream), and distinct.
fn check_parties(from: LedgerAccount, to: LedgerAccount) -> Result<(), LedgerError> {
    for account in [from, to] {
        if !account.has_stream() {
            return Err(LedgerError::NotAWallet(account.to_string()));
        }
    }
    if from == to { Err(LedgerError::SameAccount) } else { Ok(()) }
}

/// Checks an amount: positive minor units.
pub fn check_amount(amount: i64) -> Result<i64, LedgerError> {
    if amount <= 0 { Err(LedgerError::InvalidAmount(amount)) } else { Ok(amount) }
}

/// Checks a payment reference: `<kind>:<id>`, kind `[a-z_]+`, id printable ASCII.
pub fn check_reference(reference: &str) -> Result<(), LedgerError> {
    let Some((kind, id)) = reference.split_once(':') else { return Err(LedgerError::InvalidReference) };
    let kind_ok = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic());
    if kind_ok && id_ok && reference.len() <= MAX_REFERENCE_BYTES {
        Ok(())
    } else {
        Err(LedgerError::InvalidReference)
    }
}

/// Checks an optional note's length.
pub fn check_note(note: Option<&str>) -> Result<(), LedgerError> {
    match note {
        Some(note) if note.chars().count() > MAX_NOTE_CHARS => Err(LedgerError::NoteTooLong),
        _ => Ok(()),
    }
}

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
    pub const ALL: [WalletEventKind; 12] = [
        Self::TopUpRequested,
        Self::ToppedUp,
        Self::TopUpFailed,
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

    fn wrap(self, entry: WalletEntry) -> WalletEvent {
        match self {
            Self::TopUpRequested => WalletEvent::TopUpRequested(entry),
            Self::ToppedUp => WalletEvent::ToppedUp(entry),
            Self::TopUpFailed => WalletEvent::TopUpFailed(entry),
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
}

/// A top-up the provider settled, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettledTopUp {
    pub id: Uuid,
    pub confirmed: bool,
}

/// Limits on top-ups, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpLimits {
    /// Largest single top-up.
    pub per_top_up: i64,
    /// Most a wallet may top up per UTC day (requests that have not failed).
    pub daily: i64,
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
        amount: i64,
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
}

/// What a leg needs besides the wallet's own state.
#[derive(Debug, Clone, Default)]
struct Leg {
    entry_id: Uuid,
    amount: i64,
    available_delta: i64,
    held_delta: i64,
    counterparty: Option<LedgerAccount>,
    payment_id: Option<Uuid>,
    top_up_id: Option<Uuid>,
    reference: Option<String>,
    note: Option<String>,
}

impl Wallet {
    /// What the wallet owns: available plus held.
    pub fn total(&self) -> i64 {
        self.available + self.held
    }

    /// The next event of this wallet's chain, or why the leg is impossible (it would take a
    /// balance below zero or overflow).
    fn seal(
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
    fn settled(&self, top_up_id: Uuid) -> Option<bool> {
        self.settled_top_ups.iter().find(|s| s.id == top_up_id).map(|s| s.confirmed)
    }

    /// The answer to a notice about a top-up that is not pending: nothing to do when it was
    /// settled the same way, a refusal when the other way or unknown.
    fn not_pending(&self, top_up_id: Uuid, confirming: bool) -> Result<Vec<WalletEvent>, LedgerError> {
        match self.settled(top_up_id) {
            Some(confirmed) if confirmed == confirming => Ok(Vec::new()),
            Some(_) => Err(LedgerError::TopUpAlreadySettled),
            None => Err(LedgerError::TopUpNotFound),
        }
    }
}

impl Aggregate for Wallet {
    const CATEGORY: &'static str = "wallet";
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = LedgerError;

    fn decide(&self, command: &WalletCommand) -> Result<Vec<WalletEvent>, LedgerError> {
        match *command {
            WalletCommand::RequestTopUp { account, top_up_id, amount, confirmed, limits, now } => {
                check_amount(amount)?;
                if self.pending_top_ups.contains_key(&top_up_id) || self.settled(top_up_id).is_some() {
                    // The same top-up requested again (a retry): already done.
                    return Ok(Vec::new());
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
                let leg = Leg {
                    entry_id: top_up_id,
                    amount,
                    counterparty: Some(LedgerAccount::Funding),
                    top_up_id: Some(top_up_id),
                    ..Leg::default()
                };
                Ok(vec![self.seal(account, WalletEventKind::TopUpFailed, leg, now)?])
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
                    self.pending_top_ups.insert(id, PendingTopUp { amount: e.amount, requested_on: day });
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
                    self.remember_settled(SettledTopUp { id, confirmed: true });
                }
            }
            WalletEvent::TopUpFailed(e) => {
                if let Some(id) = e.top_up_id {
                    // A failed request no longer counts against the day it was requested on.
                    let requested_on = self.pending_top_ups.remove(&id).map(|p| p.requested_on);
                    if requested_on.is_some() && self.top_up_day == requested_on {
                        self.topped_up_today = (self.topped_up_today - e.amount).max(0);
                    }
                    self.remember_settled(SettledTopUp { id, confirmed: false });
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
// Transfers: wallet to wallet, in one atomic append
// ---------------------------------------------------------------------------------------------

/// A user sends credits to another user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    #[serde(skip)]
    pub entry_id: Uuid,
    pub from: LedgerAccount,
    pub to: LedgerAccount,
    pub amount: i64,
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

/// Decides a transfer: the sender's `transfer_sent` and the recipient's `transfer_received`.
pub fn transfer(from: &Wallet, to: &Wallet, command: &Transfer) -> Result<TwoLegs, LedgerError> {
    check_amount(command.amount)?;
    check_note(command.note.as_deref())?;
    check_parties(command.from, command.to)?;
    let leg = |delta: i64, counterparty| Leg {
        entry_id: command.entry_id,
        amount: command.amount,
        available_delta: delta,
        counterparty: Some(counterparty),
        note: command.note.clone(),
        ..Leg::default()
    };
    let sent = from.seal(
        command.from,
        WalletEventKind::TransferSent,
        leg(-command.amount, command.to),
        command.now,
    )?;
    let received = to.seal(
        command.to,
        WalletEventKind::TransferReceived,
        leg(command.amount, command.from),
        command.now,
    )?;
    Ok((vec![sent], vec![received]))
}

// ---------------------------------------------------------------------------------------------
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

/// Pay an account at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pay {
    #[serde(skip)]
    pub payment_id: Uuid,
    pub payer: LedgerAccount,
    pub payee: LedgerAccount,
    pub amount: i64,
    pub reference: String,
    pub note: Option<String>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Decides a payment: the payer's `payment_sent`, the payee's `payment_received`, and the
/// payment's `payment.paid`.
pub fn pay(
    payer: &Wallet,
    payee: &Wallet,
    payment: &Payment,
    command: &Pay,
) -> Result<PaymentLegs, LedgerError> {
    check_amount(command.amount)?;
    check_reference(&command.reference)?;
    check_note(command.note.as_deref())?;
    check_parties(command.payer, command.payee)?;
    if payment.status != PaymentStatus::None {
        return Err(LedgerError::PaymentExists);
    }
    let leg = |delta: i64, counterparty| Leg {
        entry_id: command.payment_id,
        amount: command.amount,
        available_delta: delta,
        counterparty: Some(counterparty),
        payment_id: Some(command.payment_id),
        reference: Some(command.reference.clone()),
        note: command.note.clone(),
        ..Leg::default()
    };
    let sent = payer.seal(
        command.payer,
        WalletEventKind::PaymentSent,
        leg(-command.amount, command.payee),
        command.now,
    )?;
    let received = payee.seal(
        command.payee,
        WalletEventKind::PaymentReceived,
        leg(command.amount, command.payer),
        command.now,
    )?;
    let paid = PaymentEvent::Paid(PaymentPaid {
        payer: command.payer.to_string(),
        payee: command.payee.to_string(),
        amount: command.amount,
        reference: command.reference.clone(),
        note: command.note.clone(),
        paid_at: command.now,
    });
    Ok((vec![sent], vec![received], vec![paid]))
}

/// Reserve credits of the payer for a payee until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceHold {
    pub payment_id: Uuid,
    pub payer: LedgerAccount,
    pub payee: LedgerAccount,
    pub amount: i64,
    pub reference: String,
    #[serde(skip)]
    pub expires_at: DateTime<Utc>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Longest a hold may last.
pub const MAX_HOLD_SECONDS: i64 = 7 * 24 * 3600;

/// Decides a hold: the payer's `hold_placed` (available → held) and `payment.authorized`.
pub fn place_hold(payer: &Wallet, payment: &Payment, command: &PlaceHold) -> Result<HoldLegs, LedgerError> {
    check_amount(command.amount)?;
    check_reference(&command.reference)?;
    check_parties(command.payer, command.payee)?;
    let millis = (command.expires_at - command.now).num_milliseconds();
    if !(1000..=MAX_HOLD_SECONDS * 1000).contains(&millis) {
        return Err(LedgerError::InvalidHoldDuration);
    }
    if payment.status != PaymentStatus::None {
        return Err(LedgerError::PaymentExists);
    }
    let leg = Leg {
        entry_id: command.payment_id,
        amount: command.amount,
        available_delta: -command.amount,
        held_delta: command.amount,
        counterparty: Some(command.payee),
        payment_id: Some(command.payment_id),
        reference: Some(command.reference.clone()),
        ..Leg::default()
    };
    let placed = payer.seal(command.payer, WalletEventKind::HoldPlaced, leg, command.now)?;
    let authorized = PaymentEvent::Authorized(PaymentAuthorized {
        payer: command.payer.to_string(),
        payee: command.payee.to_string(),
        amount: command.amount,
        reference: command.reference.clone(),
        authorized_at: command.now,
        expires_at: command.expires_at,
    });
    Ok((vec![placed], vec![authorized]))
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
    /// `None` captures the whole hold.
    pub amount: Option<i64>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Decides a capture: the payer's `hold_captured`, the payee's `payment_received` and
/// `payment.captured`. `payer` and `payee` are the payment's own accounts.
pub fn capture_hold(
    payer: &Wallet,
    payee: &Wallet,
    payment: &Payment,
    accounts: (LedgerAccount, LedgerAccount),
    command: &CaptureHold,
) -> Result<PaymentLegs, LedgerError> {
    active_hold(payment, command.now)?;
    check_accounts(payment, accounts)?;
    let held = payment.amount;
    let amount = check_amount(command.amount.unwrap_or(held))?;
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
            entry_id: command.payment_id,
            amount,
            available_delta: released,
            held_delta: -held,
            counterparty: Some(payee_account),
            payment_id: Some(command.payment_id),
            reference: reference.clone(),
            ..Leg::default()
        },
        command.now,
    )?;
    let received = payee.seal(
        payee_account,
        WalletEventKind::PaymentReceived,
        Leg {
            entry_id: command.payment_id,
            amount,
            available_delta: amount,
            counterparty: Some(payer_account),
            payment_id: Some(command.payment_id),
            reference,
            ..Leg::default()
        },
        command.now,
    )?;
    let event = PaymentEvent::Captured(PaymentCaptured { amount, released, captured_at: command.now });
    Ok((vec![captured], vec![received], vec![event]))
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
    pub why: Release,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Decides a release: the payer's `hold_released` and `payment.voided` / `payment.expired`.
/// An expiry of a hold that is already settled, or not yet due, decides nothing: expiry
/// workers may race each other and captures, and exactly one of them moves the credits.
pub fn release_hold(
    payer: &Wallet,
    payment: &Payment,
    payer_account: LedgerAccount,
    command: &ReleaseHold,
) -> Result<HoldLegs, LedgerError> {
    match command.why {
        Release::Void => active_hold(payment, command.now)?,
        Release::Expire => {
            let due = payment.status == PaymentStatus::Held
                && payment.expires_at.is_some_and(|expires_at| command.now >= expires_at);
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
            entry_id: command.payment_id,
            amount,
            available_delta: amount,
            held_delta: -amount,
            counterparty: payment.payee.as_deref().and_then(LedgerAccount::parse),
            payment_id: Some(command.payment_id),
            reference: payment.reference.clone(),
            note: Some(match command.why {
                Release::Void => "voided".to_owned(),
                Release::Expire => "expired".to_owned(),
            }),
            ..Leg::default()
        },
        command.now,
    )?;
    let fact = HoldReleased { amount, released_at: command.now };
    let event = match command.why {
        Release::Void => PaymentEvent::Voided(fact),
        Release::Expire => PaymentEvent::Expired(fact),
    };
    Ok((vec![released], vec![event]))
}

/// Give back (part of) a paid payment: a new entry from the payee to the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub payment_id: Uuid,
    #[serde(skip)]
    pub refund_id: Uuid,
    /// `None` refunds everything still refundable.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    #[serde(skip)]
    pub now: DateTime<Utc>,
}

/// Decides a refund: the payee's `refund_sent`, the payer's `refund_received` and
/// `payment.refunded`. The payee must have the credits available.
pub fn refund(
    payee: &Wallet,
    payer: &Wallet,
    payment: &Payment,
    accounts: (LedgerAccount, LedgerAccount),
    command: &Refund,
) -> Result<PaymentLegs, LedgerError> {
    match payment.status {
        PaymentStatus::Paid => {}
        PaymentStatus::None => return Err(LedgerError::PaymentNotFound),
        other => return Err(LedgerError::NotRefundable(other.as_str())),
    }
    check_note(command.reason.as_deref())?;
    let refundable = payment.refundable();
    let amount = match command.amount {
        Some(amount) => check_amount(amount)?,
        None if refundable > 0 => refundable,
        None => return Err(LedgerError::RefundExceedsPayment { refundable }),
    };
    if amount > refundable {
        return Err(LedgerError::RefundExceedsPayment { refundable });
    }
    check_accounts(payment, accounts)?;
    let (payer_account, payee_account) = accounts;
    let leg = |delta: i64, counterparty| Leg {
        entry_id: command.refund_id,
        amount,
        available_delta: delta,
        counterparty: Some(counterparty),
        payment_id: Some(command.payment_id),
        reference: payment.reference.clone(),
        note: command.reason.clone(),
        ..Leg::default()
    };
    let sent =
        payee.seal(payee_account, WalletEventKind::RefundSent, leg(-amount, payer_account), command.now)?;
    let received = payer.seal(
        payer_account,
        WalletEventKind::RefundReceived,
        leg(amount, payee_account),
        command.now,
    )?;
    let event = PaymentEvent::Refunded(PaymentRefunded {
        refund_id: command.refund_id,
        amount,
        reason: command.reason.clone(),
        refunded_at: command.now,
    });
    Ok((vec![sent], vec![received], vec![event]))
}

/// The accounts a movement of a payment names must be the payment's own (`(payer, payee)`);
/// anything else is treated as an unknown payment.
fn check_accounts(payment: &Payment, accounts: (LedgerAccount, LedgerAccount)) -> Result<(), LedgerError> {
    if payment_accounts(payment) == Some(accounts) { Ok(()) } else { Err(LedgerError::PaymentNotFound) }
}

/// The accounts of a payment, as recorded.
pub fn payment_accounts(payment: &Payment) -> Option<(LedgerAccount, LedgerAccount)> {
    let payer = LedgerAccount::parse(payment.payer.as_deref()?)?;
    let payee = LedgerAccount::parse(payment.payee.as_deref()?)?;
    Some((payer, payee))
}

/// Checks one wallet's chain: each event's `prevHash` is the previous event's `hash`, its
/// `sequence` follows, its balances follow from its deltas, and its `hash` matches its
/// contents. Returns the index of the first broken event and why.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a WalletEvent>,
) -> Result<Wallet, (usize, ChainBreak)> {
    let mut wallet = Wallet::default();
    for (index, event) in events.into_iter().enumerate() {
        let entry = event.entry();
        let broken = |why| Err((index, why));
        if entry.sequence != wallet.sequence + 1 {
            return broken(ChainBreak::Sequence { expected: wallet.sequence + 1, found: entry.sequence });
        }
        if entry.prev_hash != wallet.last_hash {
            return broken(ChainBreak::PrevHash);
        }
        if entry.hash != entry.expected_hash(event.event_type()) {
            return broken(ChainBreak::Hash);
        }
        let available = wallet.available.checked_add(entry.available_delta);
        let held = wallet.held.checked_add(entry.held_delta);
        if available != Some(entry.available_after) || held != Some(entry.held_after) {
            return broken(ChainBreak::Balance);
        }
        if entry.available_after < 0 || entry.held_after < 0 {
            return broken(ChainBreak::Negative);
        }
        wallet.apply(event);
    }
    Ok(wallet)
}

/// How a wallet's chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("sequence {found} where {expected} was expected (an event is missing or moved)")]
    Sequence { expected: i64, found: i64 },
    #[error("prevHash is not the previous event's hash")]
    PrevHash,
    #[error("hash does not match the event's contents (the event was altered)")]
    Hash,
    #[error("balances after do not follow from the previous balances and the deltas")]
    Balance,
    #[error("a balance is below zero")]
    Negative,
}

#[cfg(test)]
mod rules;
