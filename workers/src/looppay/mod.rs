//! LoopPay's background jobs and audit.
//!
//! - [`hold_expiry`]: holds that reach their expiry give their credits back, exactly once
//!   however many workers sweep (run by every worker process and by `loopync serve`).
//! - [`audit`]: `loopync audit ledger`, proving the ledger's money from the event store alone.

pub mod audit;
pub mod hold_expiry;
