//! The contract every aggregate and every event of Loopync fulfils.

use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// An event as the domain sees it: a past-tense fact with a stable type name and schema version.
///
/// The type name and version are what the event store records next to the JSON payload; they
/// must never change for an event once it has been written. A change to the payload's shape gets
/// a new version and an upcaster in `schemas` that turns the old shape into the new one.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The stable name of this event's type, e.g. `"wallet.topped_up"`.
    fn event_type(&self) -> &'static str;

    /// The schema version of the payload this code writes and reads.
    fn schema_version(&self) -> i32;
}

/// A consistency boundary: commands are decided against its state, one stream of events per
/// instance.
///
/// `decide` is pure and may refuse; `apply` always succeeds and performs no checks, because the
/// events it folds were already decided (and may be years old).
pub trait Aggregate: Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stream category; an instance's stream is `<CATEGORY>-<id>`.
    const CATEGORY: &'static str;

    /// Version of the serialized state, for snapshots: a snapshot written with another version
    /// is ignored and the state is rebuilt from events.
    const SNAPSHOT_VERSION: i32 = 1;

    type Command: fmt::Debug + Serialize + Send + Sync;
    type Event: DomainEvent;
    type Error: std::error::Error + Clone + PartialEq + Send + Sync + 'static;

    /// Decides which events `command` produces against the current state, or why it is refused.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);

    /// Folds a sequence of events, starting from the current state.
    fn fold<'a>(mut self, events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        for event in events {
            self.apply(event);
        }
        self
    }
}

/// The name of an event stream: `<category>-<id>`, where the category is lowercase ASCII
/// letters, digits, `_` or `.`, the id is non-empty, and the whole name at most 512 bytes
/// (room for a claim on a 254-character email address).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream name `{0}` is not of the form <category>-<id>")]
    Malformed(String),
}

impl StreamName {
    /// The stream of the aggregate `A` with the given id.
    pub fn of<A: Aggregate>(id: impl fmt::Display) -> Self {
        Self(format!("{}-{}", A::CATEGORY, id))
    }

    /// Parses `<category>-<id>`.
    pub fn parse(name: &str) -> Result<Self, StreamNameError> {
        let malformed = || StreamNameError::Malformed(name.to_owned());
        let (category, id) = name.split_once('-').ok_or_else(malformed)?;
        let category_ok = !category.is_empty()
            && category
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !category_ok || id.is_empty() || name.len() > 512 {
            return Err(malformed());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(self.0.as_str(), |(category, _)| category)
    }
}

impl TryFrom<String> for StreamName {
    type Error = StreamNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StreamName> for String {
    fn from(value: StreamName) -> Self {
        value.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_have_a_category_and_an_id() {
        assert_eq!(StreamName::parse("wallet-42").map(|s| s.category().to_owned()), Ok("wallet".into()));
        assert!(StreamName::parse("wallet").is_err());
        assert!(StreamName::parse("-42").is_err());
        assert!(StreamName::parse("wallet-").is_err());
        assert!(StreamName::parse("Wallet-1").is_err());
        assert!(StreamName::parse(&format!("w-{}", "x".repeat(600))).is_err());
        assert!(StreamName::parse(&format!("claim-email:{}@example.com", "x".repeat(64))).is_ok());
    }
}
