//! The pure domain model of Loopync.
//!
//! Everything here is synchronous and free of I/O: aggregates decide which events a command
//! produces (`Aggregate::decide`) and fold events into state (`Aggregate::apply`); a command
//! over several aggregates (a transfer, a sign-up with its unique claims) is a [`Decision`]
//! that names its streams and decides on their states. Time, new ids
//! and facts from outside arrive as command fields, so every decision is a deterministic
//! function of state and command, and can be tested as a rule with [`given`].
//!
//! The `commands` crate loads aggregates from the event store, calls `decide` and appends the
//! result; the `projections` crate folds the same events into read models.

pub mod aggregate;
pub mod claim;
pub mod decision;
pub mod given;
pub mod identity;
pub mod looppay;
pub mod notifications;
pub mod sample;
pub mod social;

pub use aggregate::{Aggregate, DomainEvent, StreamName, StreamNameError};
pub use decision::{Decision, StateSet};
