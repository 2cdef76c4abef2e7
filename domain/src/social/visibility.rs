//! Who may see what: [`Relation`], what one user is to another, and the rules every read path
//! applies with it (profiles, posts, comments, feeds, search, presence, typing and signals).
//!
//! A block, either way, hides each from the other whatever the settings. Otherwise a post or
//! a profile is seen by everyone when `public`, by friends when `friends`, and by its owner
//! alone when `private`; the owner always sees their own.

use super::values::Visibility;
use serde::Serialize;

/// What `owner` is to `viewer`, as the social read model has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// The viewer is the owner.
    pub is_self: bool,
    pub friends: bool,
    /// The viewer asked the owner to be friends.
    pub request_sent: bool,
    /// The owner asked the viewer.
    pub request_received: bool,
    /// The viewer follows the owner.
    pub following: bool,
    /// The owner follows the viewer.
    pub followed_by: bool,
    /// The viewer blocked the owner.
    pub blocking: bool,
    /// The owner blocked the viewer.
    pub blocked_by: bool,
}

impl Relation {
    /// The relation of a user to themself.
    pub fn own() -> Self {
        Self { is_self: true, ..Self::default() }
    }

    /// The same relation seen from the other side: what the viewer is to the owner.
    pub fn mirrored(&self) -> Self {
        Self {
            is_self: self.is_self,
            friends: self.friends,
            request_sent: self.request_received,
            request_received: self.request_sent,
            following: self.followed_by,
            followed_by: self.following,
            blocking: self.blocked_by,
            blocked_by: self.blocking,
        }
    }

    /// Either has blocked the other.
    pub fn blocked(&self) -> bool {
        !self.is_self && (self.blocking || self.blocked_by)
    }

    /// Whether the viewer may see what the owner shares with `visibility`.
    pub fn may_see(&self, visibility: Visibility) -> bool {
        if self.is_self {
            return true;
        }
        if self.blocked() {
            return false;
        }
        match visibility {
            Visibility::Public => true,
            Visibility::Friends => self.friends,
            Visibility::Private => false,
        }
    }

    /// The relation in one word, as the API shows it: `self`, `blocked`, `friends`,
    /// `request_sent`, `request_received`, `following` or `none`.
    pub fn summary(&self) -> &'static str {
        match self {
            Self { is_self: true, .. } => "self",
            _ if self.blocked() => "blocked",
            Self { friends: true, .. } => "friends",
            Self { request_sent: true, .. } => "request_sent",
            Self { request_received: true, .. } => "request_received",
            Self { following: true, .. } => "following",
            _ => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Visibility::*;

    #[test]
    fn the_owner_sees_everything_of_theirs() {
        for visibility in [Public, Friends, Private] {
            assert!(Relation::own().may_see(visibility));
        }
    }

    #[test]
    fn strangers_see_public_friends_see_friends_nobody_else_sees_private() {
        let stranger = Relation::default();
        let friend = Relation { friends: true, ..Relation::default() };
        let follower = Relation { following: true, ..Relation::default() };
        assert_eq!([Public, Friends, Private].map(|v| stranger.may_see(v)), [true, false, false]);
        assert_eq!([Public, Friends, Private].map(|v| friend.may_see(v)), [true, true, false]);
        assert_eq!([Public, Friends, Private].map(|v| follower.may_see(v)), [true, false, false]);
    }

    #[test]
    fn a_block_either_way_hides_everything() {
        for relation in [
            Relation { blocking: true, ..Relation::default() },
            Relation { blocked_by: true, friends: true, ..Relation::default() },
        ] {
            assert!(relation.blocked());
            assert!(!relation.may_see(Public));
            assert_eq!(relation.summary(), "blocked");
        }
    }
}
