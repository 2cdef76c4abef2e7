//! One wallet's hash chain, verified event by event as the wallet streams from the log.
//!
//! [`ChainVerifier`] makes the checks of [`looppay::verify_chain`] without holding the wallet's
//! events: the audit streams wallets of millions of events through one verifier each.
//!
//! [`looppay::verify_chain`]: loopync_domain::looppay::verify_chain

use loopync_domain::DomainEvent;
use loopync_domain::looppay::{ChainBreak, GENESIS_HASH, WalletEvent};

/// [`looppay::verify_chain`], one event at a time: the same checks in the same order, so that
/// a wallet's chain can be verified while it streams by.
///
/// [`looppay::verify_chain`]: loopync_domain::looppay::verify_chain
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerifier {
    available: i64,
    held: i64,
    sequence: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { available: 0, held: 0, sequence: 0, last_hash: GENESIS_HASH.to_owned() }
    }
}

impl ChainVerifier {
    /// Checks the wallet's next event and, when it holds, moves on past it. After a break the
    /// verifier stays where it was.
    pub fn check(&mut self, event: &WalletEvent) -> Result<(), ChainBreak> {
        let entry = event.entry();
        if entry.sequence != self.sequence + 1 {
            return Err(ChainBreak::Sequence { expected: self.sequence + 1, found: entry.sequence });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak::PrevHash);
        }
        if entry.hash != entry.expected_hash(event.event_type()) {
            return Err(ChainBreak::Hash);
        }
        let available = self.available.checked_add(entry.available_delta);
        let held = self.held.checked_add(entry.held_delta);
        if available != Some(entry.available_after) || held != Some(entry.held_after) {
            return Err(ChainBreak::Balance);
        }
        if entry.available_after < 0 || entry.held_after < 0 {
            return Err(ChainBreak::Negative);
        }
        self.available = entry.available_after;
        self.held = entry.held_after;
        self.sequence = entry.sequence;
        self.last_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Events verified so far.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The hash of the last event verified (the genesis hash before the first).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }
}
