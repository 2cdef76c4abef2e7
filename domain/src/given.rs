//! A given/when/then harness so that domain tests read as the rules they check:
//!
//! ```
//! use loopync_domain::given::given;
//! use loopync_domain::sample::*;
//!
//! given::<SampleWallet>([SampleWalletEvent::ToppedUp(ToppedUp { amount: Money::loop_credits(5), balance_after: 5 })])
//!     .when(SampleWalletCommand::Withdraw { amount: 3 })
//!     .then([SampleWalletEvent::Withdrawn(Withdrawn { amount: Money::loop_credits(3), balance_after: 2 })]);
//! ```

use crate::Aggregate;
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
    pub fn when(self, command: A::Command) -> When<A> {
        let outcome = self.state.decide(&command);
        When { outcome }
    }
}

pub struct When<A: Aggregate> {
    outcome: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> When<A>
where
    A::Event: PartialEq,
{
    /// The command must be accepted and produce exactly these events.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => assert_eq!(events, expected, "the command produced other events"),
            Err(error) => panic!("expected events {expected:?}, but the command was refused: {error:?}"),
        }
    }

    /// The command must be refused with exactly this error.
    #[track_caller]
    pub fn then_error(self, expected: A::Error)
    where
        A::Error: fmt::Debug,
    {
        match self.outcome {
            Ok(events) => panic!("expected refusal {expected:?}, but the command produced {events:?}"),
            Err(error) => assert_eq!(error, expected, "the command was refused for another reason"),
        }
    }
}
