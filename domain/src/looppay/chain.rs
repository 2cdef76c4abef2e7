//! Verifying a wallet's hash chain: what `loopync audit ledger` checks of every wallet.

use super::{Wallet, WalletEvent};
use crate::{Aggregate, DomainEvent};

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
