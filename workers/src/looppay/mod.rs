//! LoopPay's background jobs and audit.
//!
//! - [`hold_expiry`]: holds that reach their expiry give their credits back, exactly once
//!   however many workers sweep (run by every worker process and by `loopync serve`).
//! - [`top_up_expiry`]: top-ups left unconfirmed past the pending window expire, exactly once,
//!   and a confirmation arriving later credits nothing (run like hold expiry).
//! - [`audit`]: `loopync audit ledger`, proving the ledger's money from the event store alone.
//!
//! Both sweeps find what is due in tables that triggers on `events` keep current in the
//! appending transaction (migration `0012_looppay_deadlines.sql`), so neither depends on a
//! read model being current.

pub mod audit;
pub mod hold_expiry;
pub mod top_up_expiry;

#[cfg(test)]
mod tests {
    /// The deadline triggers of migration 0012 read these event types' payloads at version 1.
    /// A new version of one of them must be read by the triggers too (and backfilled); this
    /// fails until someone has looked.
    #[test]
    fn deadline_triggers_read_the_current_event_versions() {
        for event_type in [
            "payment.authorized",
            "payment.captured",
            "payment.voided",
            "payment.expired",
            "wallet.top_up_requested",
            "wallet.topped_up",
            "wallet.top_up_failed",
            "wallet.top_up_expired",
        ] {
            let info = loopync_schemas::registry::lookup(event_type)
                .unwrap_or_else(|| panic!("{event_type} is not registered"));
            assert_eq!(info.version, 1, "{event_type}: update the triggers of 0012_looppay_deadlines.sql");
        }
    }
}
