//! A given/when/then harness so that domain tests read as the rules they check.
//!
//! One aggregate and one of its commands:
//!
//! ```
//! use loopync_domain::given::given;
//! use loopync_domain::sample::*;
//!
//! given::<SampleWallet>([SampleWalletEvent::ToppedUp(ToppedUp { amount: Money::loop_credits(5), balance_after: 5 })])
//!     .when(SampleWalletCommand::Withdraw { amount: 3 })
//!     .then([SampleWalletEvent::Withdrawn(Withdrawn { amount: Money::loop_credits(3), balance_after: 2 })]);
//! ```
//!
//! A [`Decision`] over several aggregates: [`given_streams`] takes each stream's history, in
//! the order of the decision's `State`, and `then` each stream's new events (see
//! [`crate::decision`] for an example).

use crate::Aggregate;
use crate::decision::{Decision, Owned, StateSet};
use std::fmt;

/// Starts a rule: the aggregate's history.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let events: Vec<A::Event> = history.into_iter().collect();
    Given { state: A::default().fold(&events) }
}

pub struct Given<A: Aggregate> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// The command under test.
    pub fn when(self, command: A::Command) -> Then<Vec<A::Event>, A::Error> {
        Then { outcome: self.state.decide(&command) }
    }

    /// A decision over this aggregate alone, under test.
    pub fn when_decided<D: Decision<State = A>>(self, decision: D) -> Then<Vec<A::Event>, D::Error> {
        Then { outcome: decision.decide(&self.state) }
    }
}

/// Starts a rule about a decision over several streams: each stream's history, in the order
/// of the decision's `State` (a tuple of `Vec`s of events).
pub fn given_streams<S: StateSet>(histories: S::Events) -> GivenStreams<S> {
    GivenStreams { states: S::fold(&histories) }
}

pub struct GivenStreams<S: StateSet> {
    states: S::Held<Owned>,
}

impl<S: StateSet> GivenStreams<S> {
    /// The decision under test.
    pub fn when<D: Decision<State = S>>(self, decision: D) -> Then<S::Events, D::Error> {
        Then { outcome: decision.decide(S::refs::<Owned>(&self.states)) }
    }
}

/// What a rule expects of the command: these events, or this refusal.
pub struct Then<Events, Error> {
    outcome: Result<Events, Error>,
}

impl<Events, Error> Then<Events, Error>
where
    Events: PartialEq + fmt::Debug,
    Error: PartialEq + fmt::Debug,
{
    /// The command must be accepted and produce exactly these events.
    #[track_caller]
    pub fn then(self, expected: impl Into<Events>) {
        let expected = expected.into();
        match self.outcome {
            Ok(events) => assert_eq!(events, expected, "the command produced other events"),
            Err(error) => panic!("expected events {expected:?}, but the command was refused: {error:?}"),
        }
    }

    /// The command must be refused with exactly this error.
    #[track_caller]
    pub fn then_error(self, expected: Error) {
        match self.outcome {
            Ok(events) => panic!("expected refusal {expected:?}, but the command produced {events:?}"),
            Err(error) => assert_eq!(error, expected, "the command was refused for another reason"),
        }
    }

    /// The outcome itself, for rules that check more than equality.
    pub fn outcome(self) -> Result<Events, Error> {
        self.outcome
    }
}

/// `minor_units` of Loop credits, for tests and fixtures that write amounts as literals.
///
/// # Panics
/// If `minor_units` is not positive: a test that means a refusal asks
/// [`Credits::new`](crate::looppay::Credits::new) itself.
pub fn credits(minor_units: i64) -> crate::looppay::Credits {
    crate::looppay::Credits::new(minor_units).unwrap_or_else(|error| panic!("{error}"))
}
