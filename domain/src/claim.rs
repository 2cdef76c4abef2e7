//! Set uniqueness: a claim on a unique value (an email address, a handle) has at most one
//! owner at a time.
//!
//! Each value has its own stream, `claim-<kind>:<value>`. A command that needs a unique value
//! (a sign-up, a handle change) appends to the claim's stream in the same atomic multi-stream
//! append as its own events. Two concurrent sign-ups with one email both append to the claim
//! expecting the version they loaded; exactly one succeeds, the other conflicts, reloads, and
//! is refused with `Taken`. No separate uniqueness table, and no window between checking and
//! claiming.

use crate::{Aggregate, DomainEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The id of a claim's stream: the kind of value and the (already normalised) value.
pub fn claim_id(kind: &str, value: &str) -> String {
    format!("{kind}:{value}")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueClaim {
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClaimCommand {
    /// Take the value for `owner`; claiming what one already owns changes nothing.
    Claim { owner: String },
    /// Give the value up, so someone else may claim it.
    Release { owner: String },
}

/// Payload of `claim.claimed` and `claim.released`, schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimOwner {
    /// Who holds (or held) the value, e.g. an account id.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ClaimEvent {
    #[serde(rename = "claim.claimed")]
    Claimed(ClaimOwner),
    #[serde(rename = "claim.released")]
    Released(ClaimOwner),
}

impl DomainEvent for ClaimEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Claimed(_) => "claim.claimed",
            Self::Released(_) => "claim.released",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the value is already taken")]
    Taken,
    #[error("the value is not held by this owner")]
    NotOwner,
}

impl Aggregate for UniqueClaim {
    const CATEGORY: &'static str = "claim";
    type Command = ClaimCommand;
    type Event = ClaimEvent;
    type Error = ClaimError;

    fn decide(&self, command: &ClaimCommand) -> Result<Vec<ClaimEvent>, ClaimError> {
        match (command, &self.owner) {
            (ClaimCommand::Claim { owner }, None) => {
                Ok(vec![ClaimEvent::Claimed(ClaimOwner { owner: owner.clone() })])
            }
            (ClaimCommand::Claim { owner }, Some(holder)) if holder == owner => Ok(vec![]),
            (ClaimCommand::Claim { .. }, Some(_)) => Err(ClaimError::Taken),
            (ClaimCommand::Release { owner }, Some(holder)) if holder == owner => {
                Ok(vec![ClaimEvent::Released(ClaimOwner { owner: owner.clone() })])
            }
            (ClaimCommand::Release { .. }, _) => Err(ClaimError::NotOwner),
        }
    }

    fn apply(&mut self, event: &ClaimEvent) {
        self.owner = match event {
            ClaimEvent::Claimed(claimed) => Some(claimed.owner.clone()),
            ClaimEvent::Released(_) => None,
        };
    }
}

#[cfg(test)]
mod rules {
    use super::*;
    use crate::given::given;

    fn claimed(owner: &str) -> ClaimEvent {
        ClaimEvent::Claimed(ClaimOwner { owner: owner.to_owned() })
    }

    fn released(owner: &str) -> ClaimEvent {
        ClaimEvent::Released(ClaimOwner { owner: owner.to_owned() })
    }

    fn claim(owner: &str) -> ClaimCommand {
        ClaimCommand::Claim { owner: owner.to_owned() }
    }

    #[test]
    fn a_free_value_can_be_claimed() {
        given::<UniqueClaim>([]).when(claim("ada")).then([claimed("ada")]);
    }

    #[test]
    fn a_value_held_by_someone_else_is_taken() {
        given::<UniqueClaim>([claimed("ada")]).when(claim("bob")).then_error(ClaimError::Taken);
    }

    #[test]
    fn claiming_what_one_holds_changes_nothing() {
        given::<UniqueClaim>([claimed("ada")]).when(claim("ada")).then([]);
    }

    #[test]
    fn a_released_value_can_be_claimed_again() {
        given::<UniqueClaim>([claimed("ada"), released("ada")]).when(claim("bob")).then([claimed("bob")]);
    }

    #[test]
    fn only_the_holder_releases() {
        given::<UniqueClaim>([claimed("ada")])
            .when(ClaimCommand::Release { owner: "bob".into() })
            .then_error(ClaimError::NotOwner);
        given::<UniqueClaim>([claimed("ada")])
            .when(ClaimCommand::Release { owner: "ada".into() })
            .then([released("ada")]);
    }
}
