//! Every NATS subject Loopync publishes or subscribes to, under the deployment's prefix.
//!
//! Two deployments (staging and production, or two tenants) may share one NATS cluster: each
//! sets `LOOPYNC_NATS_PREFIX`, and every subject below starts with it, so neither hears the
//! other's live frames, session endings or presence. Nothing builds a subject by hand
//! elsewhere: a subject without the prefix would cross deployments silently.
//!
//! It lives here, in the lowest crate that talks to NATS (projections publish live updates
//! after their commits), so that the API and the workers share one list.

use sqlx::types::Uuid;
use std::fmt;
use std::sync::Arc;

/// The subjects of one deployment. The default has no prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects {
    /// Empty, or the prefix followed by a `.`.
    prefix: Arc<str>,
}

/// A prefix NATS would not accept as the start of a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid NATS subject prefix {0:?}: dot-separated tokens of letters, digits, '-' and '_' \
     (no wildcards, spaces or empty tokens)"
)]
pub struct InvalidPrefix(pub String);

impl Subjects {
    /// Subjects under `prefix` (`""` for none; `"acme.prod"` makes `acme.prod.live.user.…`).
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        if prefix.is_empty() {
            return Ok(Self::default());
        }
        let valid_token = |token: &str| {
            !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !prefix.split('.').all(valid_token) {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        Ok(Self { prefix: format!("{prefix}.").into() })
    }

    /// The prefix as configured (`""` for none).
    pub fn prefix(&self) -> &str {
        self.prefix.strip_suffix('.').unwrap_or_default()
    }

    fn subject(&self, rest: fmt::Arguments<'_>) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// A user's durable live updates (projections publish them after their commits).
    pub fn live_durable(&self, user_id: Uuid) -> String {
        self.subject(format_args!("live.user.{user_id}.durable"))
    }

    /// A user's ephemeral frames (typing, signals), relayed by whichever node the sender is on.
    pub fn live_ephemeral(&self, user_id: Uuid) -> String {
        self.subject(format_args!("live.user.{user_id}.ephemeral"))
    }

    /// Everything live for one user: what a node with that user's sockets subscribes to.
    pub fn live_all(&self, user_id: Uuid) -> String {
        self.subject(format_args!("live.user.{user_id}.*"))
    }

    /// A user's presence changes, for the nodes of those who watch them.
    pub fn presence(&self, user_id: Uuid) -> String {
        self.subject(format_args!("presence.user.{user_id}"))
    }

    /// Gateway nodes announcing themselves and who is online on them.
    pub fn presence_nodes(&self) -> String {
        self.subject(format_args!("presence.nodes"))
    }

    /// A node asking the others who is online (answered on the asker's inbox).
    pub fn presence_query(&self) -> String {
        self.subject(format_args!("presence.query"))
    }

    /// Ended sessions, so every node refuses their tokens at once.
    pub fn sessions_ended(&self) -> String {
        self.subject(format_args!("identity.sessions.ended"))
    }

    /// The positions sessions' commands reached, for read-your-writes on every node.
    pub fn session_positions(&self) -> String {
        self.subject(format_args!("positions.sessions"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_prefix_leaves_subjects_as_they_are() {
        let user = Uuid::nil();
        assert_eq!(Subjects::default().live_durable(user), format!("live.user.{user}.durable"));
        assert_eq!(Subjects::new("").unwrap().sessions_ended(), "identity.sessions.ended");
        assert_eq!(Subjects::default().prefix(), "");
    }

    #[test]
    fn a_prefix_starts_every_subject() {
        let subjects = Subjects::new("acme.prod-1").unwrap();
        let user = Uuid::nil();
        assert_eq!(subjects.prefix(), "acme.prod-1");
        for subject in [
            subjects.live_durable(user),
            subjects.live_ephemeral(user),
            subjects.live_all(user),
            subjects.presence(user),
            subjects.presence_nodes(),
            subjects.presence_query(),
            subjects.sessions_ended(),
            subjects.session_positions(),
        ] {
            assert!(subject.starts_with("acme.prod-1."), "{subject}");
        }
    }

    #[test]
    fn prefixes_nats_would_misread_are_refused() {
        for prefix in ["acme.", ".acme", "a..b", "a b", "a.*", ">", "tenant>", "ü"] {
            assert_eq!(Subjects::new(prefix), Err(InvalidPrefix(prefix.to_owned())), "{prefix}");
        }
    }
}
