//! The contract of a command over one or several aggregates: a [`Decision`].
//!
//! A decision is a pure, serializable domain value — a transfer, a sign-up, a payment — that
//! names the streams it needs ([`Decision::stream_ids`]) and decides on their states
//! ([`Decision::decide`]). The command pipeline loads those streams, calls `decide`, and
//! appends every stream's events atomically with the versions it loaded: one generic path,
//! `pipeline.decide(&decision, &context)`, for every feature. So each business rule lives in
//! exactly one place — the decision's `decide` — and is tested as a rule with
//! [`crate::given::given_streams`]:
//!
//! ```
//! use loopync_domain::claim::{ClaimCommand, ClaimError, ClaimEvent, ClaimOwner, UniqueClaim};
//! use loopync_domain::given::given_streams;
//! use loopync_domain::{Aggregate, Decision};
//!
//! /// Take a new value and give up the old one, in one atomic append.
//! #[derive(Debug, serde::Serialize)]
//! struct Rename { owner: String, new: String, old: String }
//!
//! impl Decision for Rename {
//!     const KIND: &'static str = "example.rename";
//!     type State = (UniqueClaim, UniqueClaim);
//!     type Error = ClaimError;
//!
//!     fn stream_ids(&self) -> (String, String) {
//!         (self.new.clone(), self.old.clone())
//!     }
//!
//!     fn decide(
//!         &self,
//!         (new, old): (&UniqueClaim, &UniqueClaim),
//!     ) -> Result<(Vec<ClaimEvent>, Vec<ClaimEvent>), ClaimError> {
//!         let owner = self.owner.clone();
//!         let claimed = new.decide(&ClaimCommand::Claim { owner: owner.clone() })?;
//!         Ok((claimed, old.decide(&ClaimCommand::Release { owner })?))
//!     }
//! }
//!
//! let claimed = |owner: &str| ClaimEvent::Claimed(ClaimOwner { owner: owner.into() });
//! let released = |owner: &str| ClaimEvent::Released(ClaimOwner { owner: owner.into() });
//! let rename = || Rename { owner: "ada".into(), new: "handle:lovelace".into(), old: "handle:ada".into() };
//! given_streams((vec![], vec![claimed("ada")]))
//!     .when(rename())
//!     .then((vec![claimed("ada")], vec![released("ada")]));
//! given_streams((vec![claimed("bob")], vec![claimed("ada")]))
//!     .when(rename())
//!     .then_error(ClaimError::Taken);
//! ```
//!
//! Serialized, a decision is its idempotency fingerprint: what the client asked for. Ids,
//! times and limits the server draws or configures are `#[serde(skip)]`, so a retry with the
//! same `Idempotency-Key` matches its original.
//!
//! The states a decision reads are a [`StateSet`]: one aggregate, or a tuple of two or three.
//! Whoever loads them decides how each is held (the pipeline keeps its stream version beside
//! it; the test harness owns it outright): that is [`Holder`].

use crate::{Aggregate, StreamName};
use serde::Serialize;
use std::fmt;

/// A command over the aggregates `State`, decided purely on their current states.
pub trait Decision: Serialize + fmt::Debug + Send + Sync {
    /// The command's stable name, e.g. `"looppay.transfer"`: a metrics label, and part of the
    /// idempotency fingerprint (the same key on another kind of command is refused).
    const KIND: &'static str;

    /// The aggregates read and appended to: one aggregate type, or a tuple of them.
    type State: StateSet;

    /// Why the decision can be refused. Nothing is appended when it is.
    type Error: std::error::Error + Clone + PartialEq + Send + Sync + 'static;

    /// The ids of the streams of `State`, in the same order.
    fn stream_ids(&self) -> <Self::State as StateSet>::Ids;

    /// The events each stream gets (in `State`'s order), or why the command is refused.
    fn decide(
        &self,
        state: <Self::State as StateSet>::Refs<'_>,
    ) -> Result<<Self::State as StateSet>::Events, Self::Error>;
}

/// How the states of a [`StateSet`] are held by whoever loaded them.
///
/// Why a family of holders rather than a trait in `commands` implemented for `Loaded<A>` and
/// for tuples: `commands` could not implement one trait both for every aggregate and for tuples
/// of them (the domain might one day make a tuple an aggregate, so Rust rejects the overlap
/// outside this crate). Here, where `Aggregate` is defined, both impls are allowed.
pub trait Holder {
    /// One aggregate as held.
    type Of<A: Aggregate>;

    /// The aggregate's state.
    fn state<A: Aggregate>(held: &Self::Of<A>) -> &A;
}

/// States held outright: the test harness's.
#[derive(Debug)]
pub struct Owned;

impl Holder for Owned {
    type Of<A: Aggregate> = A;

    fn state<A: Aggregate>(held: &A) -> &A {
        held
    }
}

/// The aggregates one decision reads: an aggregate, or a tuple of two or three.
pub trait StateSet: Sized + Send + Sync + 'static {
    /// One stream id per aggregate: `String`, or a tuple of them.
    type Ids: Clone + fmt::Debug + Send + Sync;
    /// One `Vec` of events per aggregate.
    type Events: fmt::Debug + Send + Sync;
    /// A reference to each aggregate's state, as `decide` receives them.
    type Refs<'a>;
    /// Each aggregate as held by `H`.
    type Held<H: Holder>;

    /// The stream names of `ids`, in order.
    fn stream_names(ids: &Self::Ids) -> Vec<StreamName>;
    /// Whether no stream gets an event.
    fn is_empty(events: &Self::Events) -> bool;
    /// The states of held aggregates, for `decide`.
    fn refs<H: Holder>(held: &Self::Held<H>) -> Self::Refs<'_>;
    /// Each aggregate folded from its history (the test harness's load).
    fn fold(histories: &Self::Events) -> Self::Held<Owned>;
}

impl<A: Aggregate> StateSet for A {
    type Ids = String;
    type Events = Vec<A::Event>;
    type Refs<'a> = &'a A;
    type Held<H: Holder> = H::Of<A>;

    fn stream_names(id: &String) -> Vec<StreamName> {
        vec![StreamName::of::<A>(id)]
    }
    fn is_empty(events: &Self::Events) -> bool {
        events.is_empty()
    }
    fn refs<H: Holder>(held: &H::Of<A>) -> &A {
        H::state::<A>(held)
    }
    fn fold(history: &Self::Events) -> A {
        A::default().fold(history)
    }
}

macro_rules! state_set_for_tuple {
    ($($a:ident $i:tt),+) => {
        impl<$($a: Aggregate),+> StateSet for ($($a,)+) {
            type Ids = ($(state_set_for_tuple!(@string $a),)+);
            type Events = ($(Vec<$a::Event>,)+);
            type Refs<'a> = ($(&'a $a,)+);
            type Held<H: Holder> = ($(H::Of<$a>,)+);

            fn stream_names(ids: &Self::Ids) -> Vec<StreamName> {
                vec![$(StreamName::of::<$a>(&ids.$i)),+]
            }
            fn is_empty(events: &Self::Events) -> bool {
                true $(&& events.$i.is_empty())+
            }
            fn refs<H: Holder>(held: &Self::Held<H>) -> Self::Refs<'_> {
                ($(H::state::<$a>(&held.$i),)+)
            }
            fn fold(histories: &Self::Events) -> Self::Held<Owned> {
                ($($a::default().fold(&histories.$i),)+)
            }
        }
    };
    (@string $a:ident) => { String };
}
state_set_for_tuple!(A 0, B 1);
state_set_for_tuple!(A 0, B 1, C 2);
