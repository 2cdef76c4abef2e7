//! The read side of Loopync.
//!
//! - [`log`]: reads the global event log in commit-safe order, never skipping an event that a
//!   concurrent transaction commits late, and wakes readers when the log grows.
//! - [`projection`]: the contract of a projection (a named fold of events into tables) and
//!   where its tables live (one schema per generation, views in `read_models`).
//! - [`live`]: the durable per-user live updates the realtime gateway replays on resume.
//! - [`subjects`]: every NATS subject, under the deployment's prefix.
//! - [`checkpoints`]: where each projection has read up to, and read-your-writes waits.
//! - [`sample`]: the reference projection of the core's sample wallet.
//! - [`identity`]: user profiles (with user search) and sessions.
//! - [`looppay`]: the LoopPay ledger: wallet balances and statements, payments and top-ups.
//! - [`social`]: the social graph, posts, likes, comments, bookmarks and the feed.
//! - [`notifications`]: notifications derived from social events, grouped, read and muted.
//!
//! The runtime that drives projections (ownership, batching, catch-up, rebuilds) lives in
//! `workers`.

pub mod checkpoints;
pub mod identity;
pub mod live;
pub mod log;
pub mod looppay;
pub mod notifications;
pub mod projection;
pub mod sample;
pub mod social;
pub mod subjects;

pub use checkpoints::{CheckpointBoard, Consistency};
pub use log::{EventLog, LogWaker};
pub use projection::{LiveUpdate, PRIVATE_VIEWS, Projection, ProjectionError, VIEWS, views};
pub use subjects::Subjects;
