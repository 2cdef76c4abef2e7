//! Friend requests, friendships, follows and blocks between two users.

use super::{ada, at, bob};
use crate::given::given;
use crate::social::*;

fn command(actor: uuid::Uuid, other: uuid::Uuid, action: RelationshipAction) -> RelationshipCommand {
    RelationshipCommand { actor, other, action, at: at(0) }
}

fn change(actor: uuid::Uuid, other: uuid::Uuid) -> PairChange {
    PairChange { actor, other, at: at(0) }
}

fn requested(by: uuid::Uuid, to: uuid::Uuid) -> RelationshipEvent {
    RelationshipEvent::FriendRequested(change(by, to))
}

fn friends() -> Vec<RelationshipEvent> {
    vec![requested(ada(), bob()), RelationshipEvent::FriendsMade(change(bob(), ada()))]
}

fn blocked_by(actor: uuid::Uuid, other: uuid::Uuid) -> RelationshipEvent {
    RelationshipEvent::Blocked(Blocked {
        actor,
        other,
        at: at(0),
        ended_friendship: false,
        ended_request_by: None,
        ended_follows: vec![],
    })
}

use RelationshipAction::*;

#[test]
fn a_request_then_an_acceptance_make_friends() {
    given::<Relationship>([]).when(command(ada(), bob(), RequestFriendship)).then([requested(ada(), bob())]);
    given::<Relationship>([requested(ada(), bob())])
        .when(command(bob(), ada(), AcceptRequest))
        .then([RelationshipEvent::FriendsMade(change(bob(), ada()))]);
}

#[test]
fn crossed_requests_end_as_one_friendship() {
    // Bob asks while Ada's request is pending: he accepts it.
    given::<Relationship>([requested(ada(), bob())])
        .when(command(bob(), ada(), RequestFriendship))
        .then([RelationshipEvent::FriendsMade(change(bob(), ada()))]);
}

#[test]
fn asking_again_or_accepting_again_changes_nothing() {
    given::<Relationship>([requested(ada(), bob())]).when(command(ada(), bob(), RequestFriendship)).then([]);
    given::<Relationship>(friends()).when(command(bob(), ada(), AcceptRequest)).then([]);
}

#[test]
fn friends_cannot_ask_again() {
    given::<Relationship>(friends())
        .when(command(ada(), bob(), RequestFriendship))
        .then_error(SocialError::AlreadyFriends);
}

#[test]
fn only_the_addressee_accepts_or_rejects_and_only_the_requester_cancels() {
    let pending = || given::<Relationship>([requested(ada(), bob())]);
    pending().when(command(ada(), bob(), AcceptRequest)).then_error(SocialError::RequestNotFound);
    pending().when(command(ada(), bob(), RejectRequest)).then_error(SocialError::RequestNotFound);
    pending().when(command(bob(), ada(), CancelRequest)).then_error(SocialError::RequestNotFound);
    pending()
        .when(command(bob(), ada(), RejectRequest))
        .then([RelationshipEvent::RequestRejected(change(bob(), ada()))]);
    pending()
        .when(command(ada(), bob(), CancelRequest))
        .then([RelationshipEvent::RequestCancelled(change(ada(), bob()))]);
}

#[test]
fn there_is_nothing_to_accept_without_a_request() {
    given::<Relationship>([])
        .when(command(bob(), ada(), AcceptRequest))
        .then_error(SocialError::RequestNotFound);
    given::<Relationship>([]).when(command(bob(), ada(), Unfriend)).then_error(SocialError::NotFriends);
}

#[test]
fn a_rejected_request_can_be_made_again() {
    given::<Relationship>([
        requested(ada(), bob()),
        RelationshipEvent::RequestRejected(change(bob(), ada())),
    ])
    .when(command(ada(), bob(), RequestFriendship))
    .then([requested(ada(), bob())]);
}

#[test]
fn either_friend_unfriends() {
    for (actor, other) in [(ada(), bob()), (bob(), ada())] {
        given::<Relationship>(friends())
            .when(command(actor, other, Unfriend))
            .then([RelationshipEvent::Unfriended(change(actor, other))]);
    }
}

#[test]
fn nobody_befriends_follows_or_blocks_themself() {
    for action in [RequestFriendship, AcceptRequest, Follow, Block, Unfriend] {
        given::<Relationship>([]).when(command(ada(), ada(), action)).then_error(SocialError::SelfTarget);
    }
}

#[test]
fn a_block_ends_friendship_requests_and_follows_at_once() {
    let mut history = friends();
    history.push(RelationshipEvent::Followed(change(ada(), bob())));
    history.push(RelationshipEvent::Followed(change(bob(), ada())));
    given::<Relationship>(history).when(command(bob(), ada(), Block)).then([RelationshipEvent::Blocked(
        Blocked {
            actor: bob(),
            other: ada(),
            at: at(0),
            ended_friendship: true,
            ended_request_by: None,
            ended_follows: vec![ada(), bob()],
        },
    )]);
    given::<Relationship>([requested(ada(), bob())]).when(command(bob(), ada(), Block)).then([
        RelationshipEvent::Blocked(Blocked {
            actor: bob(),
            other: ada(),
            at: at(0),
            ended_friendship: false,
            ended_request_by: Some(ada()),
            ended_follows: vec![],
        }),
    ]);
}

#[test]
fn a_block_either_way_stops_requests_acceptances_and_follows() {
    for blocker in [ada(), bob()] {
        let other = if blocker == ada() { bob() } else { ada() };
        for action in [RequestFriendship, AcceptRequest, Follow] {
            given::<Relationship>([blocked_by(blocker, other)])
                .when(command(ada(), bob(), action))
                .then_error(SocialError::Blocked);
        }
    }
}

#[test]
fn only_the_blocker_unblocks_and_both_blocks_must_go() {
    given::<Relationship>([blocked_by(ada(), bob())])
        .when(command(bob(), ada(), Unblock))
        .then_error(SocialError::NotBlocked);
    given::<Relationship>([blocked_by(ada(), bob())]).when(command(ada(), bob(), Block)).then([]);
    let both = || given::<Relationship>([blocked_by(ada(), bob()), blocked_by(bob(), ada())]);
    both().when(command(ada(), bob(), Unblock)).then([RelationshipEvent::Unblocked(change(ada(), bob()))]);
    given::<Relationship>([
        blocked_by(ada(), bob()),
        blocked_by(bob(), ada()),
        RelationshipEvent::Unblocked(change(ada(), bob())),
    ])
    .when(command(ada(), bob(), RequestFriendship))
    .then_error(SocialError::Blocked);
}

#[test]
fn follows_are_one_way_and_idempotent() {
    given::<Relationship>([])
        .when(command(ada(), bob(), Follow))
        .then([RelationshipEvent::Followed(change(ada(), bob()))]);
    let following = || given::<Relationship>([RelationshipEvent::Followed(change(ada(), bob()))]);
    following().when(command(ada(), bob(), Follow)).then([]);
    following().when(command(bob(), ada(), Follow)).then([RelationshipEvent::Followed(change(bob(), ada()))]);
    following().when(command(bob(), ada(), Unfollow)).then([]);
    following()
        .when(command(ada(), bob(), Unfollow))
        .then([RelationshipEvent::Unfollowed(change(ada(), bob()))]);
}

#[test]
fn the_pair_is_one_stream_whoever_asks() {
    assert_eq!(pair_id(ada(), bob()), pair_id(bob(), ada()));
    assert_ne!(pair_id(ada(), bob()), pair_id(ada(), super::cy()));
}
