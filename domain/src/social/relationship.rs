//! What stands between two users: the [`Relationship`] aggregate, one stream per unordered
//! pair (`relationship-<smaller id>:<larger id>`).
//!
//! ```text
//!            request(a)                 accept(b) / request(b)
//!   none ───────────────▶ requested(a) ───────────────────────▶ friends
//!    ▲                      │  reject(b), cancel(a)                │ unfriend(a or b)
//!    └──────────────────────┴──────────────────────────────────────┘
//!   block(x): friendship and request end, both follows end, and neither may request or
//!   follow again until every block is lifted. Follows are independent of friendship:
//!   each side follows the other or not.
//! ```
//!
//! Every command names the acting user and the other, and is decided on the stream named
//! from the two ([`pair_id`]). A request that finds the other's request pending is their
//! acceptance: two users who ask each other at once end as one friendship, whichever append
//! wins.

use super::SocialError;
use crate::{Aggregate, DomainEvent};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The stream id of the pair `a`, `b`: the same whichever comes first.
pub fn pair_id(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// Where a friendship stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Friendship {
    #[default]
    None,
    /// `by` asked the other to be friends.
    Requested {
        by: Uuid,
    },
    Friends,
}

/// Everything between two users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub friendship: Friendship,
    /// Who of the two follows the other.
    pub followers: BTreeSet<Uuid>,
    /// Who of the two has blocked the other.
    pub blockers: BTreeSet<Uuid>,
}

/// A command of `actor` about `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipCommand {
    pub actor: Uuid,
    pub other: Uuid,
    pub action: RelationshipAction,
    /// When the command is decided: drawn by the server for each attempt.
    #[serde(skip)]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipAction {
    RequestFriendship,
    AcceptRequest,
    RejectRequest,
    CancelRequest,
    Unfriend,
    Block,
    Unblock,
    Follow,
    Unfollow,
}

/// Payload of every relationship event, schema version 1: who did it to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairChange {
    /// The user acting.
    pub actor: Uuid,
    /// The other user of the pair.
    pub other: Uuid,
    pub at: DateTime<Utc>,
}

/// Payload of `relationship.blocked`, schema version 1: what the block ended with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blocked {
    /// Who blocks.
    pub actor: Uuid,
    /// Who is blocked.
    pub other: Uuid,
    pub at: DateTime<Utc>,
    /// They were friends until now.
    pub ended_friendship: bool,
    /// The pending friend request this block ended, by whom.
    pub ended_request_by: Option<Uuid>,
    /// The follows this block ended (the followers' ids).
    pub ended_follows: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RelationshipEvent {
    /// `actor` asked `other` to be friends.
    #[serde(rename = "relationship.friend_requested")]
    FriendRequested(PairChange),
    /// `actor` accepted `other`'s request (or asked while `other`'s request was pending).
    #[serde(rename = "relationship.friends_made")]
    FriendsMade(PairChange),
    /// `actor` turned down `other`'s request.
    #[serde(rename = "relationship.friend_request_rejected")]
    RequestRejected(PairChange),
    /// `actor` withdrew their request to `other`.
    #[serde(rename = "relationship.friend_request_cancelled")]
    RequestCancelled(PairChange),
    #[serde(rename = "relationship.unfriended")]
    Unfriended(PairChange),
    #[serde(rename = "relationship.followed")]
    Followed(PairChange),
    #[serde(rename = "relationship.unfollowed")]
    Unfollowed(PairChange),
    #[serde(rename = "relationship.blocked")]
    Blocked(Blocked),
    #[serde(rename = "relationship.unblocked")]
    Unblocked(PairChange),
}

impl RelationshipEvent {
    /// Who acted, and on whom.
    pub fn parties(&self) -> (Uuid, Uuid) {
        match self {
            Self::Blocked(e) => (e.actor, e.other),
            Self::FriendRequested(e)
            | Self::FriendsMade(e)
            | Self::RequestRejected(e)
            | Self::RequestCancelled(e)
            | Self::Unfriended(e)
            | Self::Followed(e)
            | Self::Unfollowed(e)
            | Self::Unblocked(e) => (e.actor, e.other),
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Blocked(e) => e.at,
            Self::FriendRequested(e)
            | Self::FriendsMade(e)
            | Self::RequestRejected(e)
            | Self::RequestCancelled(e)
            | Self::Unfriended(e)
            | Self::Followed(e)
            | Self::Unfollowed(e)
            | Self::Unblocked(e) => e.at,
        }
    }
}

impl DomainEvent for RelationshipEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::FriendRequested(_) => "relationship.friend_requested",
            Self::FriendsMade(_) => "relationship.friends_made",
            Self::RequestRejected(_) => "relationship.friend_request_rejected",
            Self::RequestCancelled(_) => "relationship.friend_request_cancelled",
            Self::Unfriended(_) => "relationship.unfriended",
            Self::Followed(_) => "relationship.followed",
            Self::Unfollowed(_) => "relationship.unfollowed",
            Self::Blocked(_) => "relationship.blocked",
            Self::Unblocked(_) => "relationship.unblocked",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }
}

impl Relationship {
    pub fn is_blocked(&self) -> bool {
        !self.blockers.is_empty()
    }

    pub fn are_friends(&self) -> bool {
        self.friendship == Friendship::Friends
    }
}

impl Aggregate for Relationship {
    const CATEGORY: &'static str = "relationship";
    type Command = RelationshipCommand;
    type Event = RelationshipEvent;
    type Error = SocialError;

    fn decide(&self, command: &RelationshipCommand) -> Result<Vec<RelationshipEvent>, SocialError> {
        use RelationshipAction as A;
        let RelationshipCommand { actor, other, action, at } = *command;
        if actor == other {
            return Err(SocialError::SelfTarget);
        }
        let change = PairChange { actor, other, at };
        let event = match (action, self.friendship) {
            (A::RequestFriendship | A::AcceptRequest | A::Follow, _) if self.is_blocked() => {
                return Err(SocialError::Blocked);
            }
            (A::RequestFriendship, Friendship::Friends) => return Err(SocialError::AlreadyFriends),
            (A::RequestFriendship, Friendship::Requested { by }) if by == actor => return Ok(vec![]),
            // Crossed requests: asking someone who has asked you is accepting.
            (A::RequestFriendship | A::AcceptRequest, Friendship::Requested { by }) if by == other => {
                RelationshipEvent::FriendsMade(change)
            }
            (A::RequestFriendship, _) => RelationshipEvent::FriendRequested(change),
            // Accepting again what is accepted: the retry of a lost answer.
            (A::AcceptRequest, Friendship::Friends) => return Ok(vec![]),
            (A::AcceptRequest, _) => return Err(SocialError::RequestNotFound),
            (A::RejectRequest, Friendship::Requested { by }) if by == other => {
                RelationshipEvent::RequestRejected(change)
            }
            (A::CancelRequest, Friendship::Requested { by }) if by == actor => {
                RelationshipEvent::RequestCancelled(change)
            }
            (A::RejectRequest | A::CancelRequest, _) => return Err(SocialError::RequestNotFound),
            (A::Unfriend, Friendship::Friends) => RelationshipEvent::Unfriended(change),
            (A::Unfriend, _) => return Err(SocialError::NotFriends),
            (A::Follow, _) if self.followers.contains(&actor) => return Ok(vec![]),
            (A::Follow, _) => RelationshipEvent::Followed(change),
            (A::Unfollow, _) if self.followers.contains(&actor) => RelationshipEvent::Unfollowed(change),
            (A::Unfollow, _) => return Ok(vec![]),
            (A::Block, _) if self.blockers.contains(&actor) => return Ok(vec![]),
            (A::Block, friendship) => RelationshipEvent::Blocked(Blocked {
                actor,
                other,
                at,
                ended_friendship: friendship == Friendship::Friends,
                ended_request_by: match friendship {
                    Friendship::Requested { by } => Some(by),
                    _ => None,
                },
                ended_follows: self.followers.iter().copied().collect(),
            }),
            (A::Unblock, _) if self.blockers.contains(&actor) => RelationshipEvent::Unblocked(change),
            (A::Unblock, _) => return Err(SocialError::NotBlocked),
        };
        Ok(vec![event])
    }

    fn apply(&mut self, event: &RelationshipEvent) {
        match event {
            RelationshipEvent::FriendRequested(e) => self.friendship = Friendship::Requested { by: e.actor },
            RelationshipEvent::FriendsMade(_) => self.friendship = Friendship::Friends,
            RelationshipEvent::RequestRejected(_)
            | RelationshipEvent::RequestCancelled(_)
            | RelationshipEvent::Unfriended(_) => self.friendship = Friendship::None,
            RelationshipEvent::Followed(e) => {
                self.followers.insert(e.actor);
            }
            RelationshipEvent::Unfollowed(e) => {
                self.followers.remove(&e.actor);
            }
            RelationshipEvent::Blocked(e) => {
                self.friendship = Friendship::None;
                self.followers.clear();
                self.blockers.insert(e.actor);
            }
            RelationshipEvent::Unblocked(e) => {
                self.blockers.remove(&e.actor);
            }
        }
    }
}
