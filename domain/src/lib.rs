//! The pure domain model of Loopync.
//!
//! Everything here is synchronous and free of I/O: aggregates decide which events a command
//! produces (`Aggregate::decide`) and fold events into state (`Aggregate::apply`). Time, new ids
//! and facts from outside arrive as command fields, so every decision is a deterministic
//! function of state and command, and can be tested as a rule with [`given`].
//!
//! The `commands` crate loads aggregates from the event store, calls `decide` and appends the
//! result; the `projections` crate folds the same events into read models.

pub mod account;
pub mod aggregate;
pub mod claim;
pub mod given;
pub mod identity;
pub mod looppay;
pub mod phone_code;
pub mod sample;
pub mod session;

pub use aggregate::{Aggregate, DomainEvent, StreamName, StreamNameError};
