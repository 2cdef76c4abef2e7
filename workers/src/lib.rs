//! Background work of Loopync.
//!
//! - [`runner`]: the projection runtime. Each projection is owned by exactly one worker at a
//!   time (a PostgreSQL advisory lock held by the worker's lease connection, taken over within
//!   seconds when that worker dies); its owner reads the log in batches, applies them and
//!   advances the checkpoint in one transaction, catches up and then follows the log live.
//! - [`rebuild`]: rebuilding a projection into a fresh generation and switching over without
//!   downtime.
//! - [`status`]: where each projection is, how far behind, and who owns it; lag metrics.
//! - [`housekeeping`]: expiry of idempotency keys.
//! - [`looppay`]: LoopPay's background jobs and audit: the hold-expiry sweep,
//!   the top-up-expiry sweep and `loopync audit ledger`.

pub mod dead_letters;
pub mod housekeeping;
pub mod lease;
pub mod looppay;
pub mod notifications;
pub mod rebuild;
pub mod runner;
pub mod social;
pub mod status;

pub use runner::{ProjectionRunner, RunnerConfig};
pub use status::{ProjectionStatus, projection_status};
