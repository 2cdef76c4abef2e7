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
//!
//! Where things are: [`account`] (the accounts and the checks on amounts, notes and
//! references), [`wallet`] (wallet events, the hash chain's entries, the `Wallet` aggregate),
//! [`payment`] (the `Payment` aggregate), [`movements`] (every movement as a [`Decision`]:
//! top-up, transfer, payment, hold, capture, release, refund) and [`chain`] (verifying a
//! wallet's chain).
//!
//! [`Decision`]: crate::Decision

pub mod account;
pub mod chain;
pub mod credits;
pub mod movements;
pub mod payment;
pub mod wallet;

pub use account::*;
pub use chain::*;
pub use credits::Credits;
pub use movements::*;
pub use payment::*;
pub use wallet::*;

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

#[cfg(test)]
mod rules;
