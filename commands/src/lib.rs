//! The write side of Loopync.
//!
//! - [`store`]: the [`EventStore`] trait — append to one or several streams atomically with
//!   expected versions and an optional idempotency record, read a stream, snapshots.
//! - [`postgres`]: the PostgreSQL implementation, including group commit.
//! - [`pipeline`]: the one path every command takes: load aggregate(s) from cache, snapshot and
//!   events → pure `decide` → append with expected versions → bounded retry on conflict.
//! - [`cache`]: recent aggregate states, so a hot aggregate is not re-read per command.
//! - [`error`]: [`CommandError`], what a command can end in, mapped to HTTP by `api`.

pub mod cache;
pub mod error;
pub mod idempotency;
pub mod pipeline;
pub mod postgres;
pub mod store;
mod turns;

pub use error::{CommandError, StoreError};
pub use pipeline::{
    CommandContext, CommandOutcome, CommandPipeline, DecisionEvents, DecisionIds, DecisionLoaded, InStore,
    Loaded, PipelineConfig, Streams,
};
pub use postgres::{GroupCommit, PgEventStore};
pub use store::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamAppend,
};
