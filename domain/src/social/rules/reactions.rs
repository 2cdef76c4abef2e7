//! Likes, bookmarks and comments.

use super::{ada, at, bob, cy};
use crate::given::given;
use crate::social::*;

fn post() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x9057)
}

fn mark(mark: Mark) -> MarkCommand {
    MarkCommand { post: post(), user: bob(), mark, post_author: ada(), at: at(0) }
}

fn change() -> MarkChanged {
    MarkChanged { post: post(), user: bob(), post_author: ada(), at: at(0) }
}

#[test]
fn a_like_is_set_once_and_cleared_once() {
    given::<Like>([]).when(mark(Mark::Set)).then([LikeEvent::Added(change())]);
    given::<Like>([LikeEvent::Added(change())]).when(mark(Mark::Set)).then([]);
    given::<Like>([LikeEvent::Added(change())]).when(mark(Mark::Clear)).then([LikeEvent::Removed(change())]);
    given::<Like>([]).when(mark(Mark::Clear)).then([]);
}

#[test]
fn a_toggle_flips_the_like() {
    given::<Like>([]).when(mark(Mark::Toggle)).then([LikeEvent::Added(change())]);
    given::<Like>([LikeEvent::Added(change())]).when(mark(Mark::Toggle)).then([LikeEvent::Removed(change())]);
}

#[test]
fn bookmarks_follow_the_same_rule() {
    given::<Bookmark>([]).when(mark(Mark::Set)).then([BookmarkEvent::Added(change())]);
    given::<Bookmark>([BookmarkEvent::Added(change())]).when(mark(Mark::Set)).then([]);
}

fn added() -> CommentEvent {
    CommentEvent::Added(CommentAdded {
        post: post(),
        author: bob(),
        post_author: ada(),
        text: "nice".into(),
        reply_to: None,
        reply_to_author: None,
        mentions: vec![cy()],
        created_at: at(0),
    })
}

#[test]
fn a_comment_keeps_its_mentions_but_not_its_author() {
    given::<Comment>([])
        .when(CommentCommand::Add {
            post: post(),
            author: bob(),
            text: CommentText::parse(" nice ").unwrap_or_else(|e| panic!("{e}")),
            reply_to: None,
            post_author: ada(),
            reply_to_author: None,
            mentions: vec![cy(), bob(), cy()],
            at: at(0),
        })
        .then([added()]);
}

#[test]
fn the_commenter_or_the_post_author_deletes_a_comment_once() {
    for by in [bob(), ada()] {
        given::<Comment>([added()])
            .when(CommentCommand::Delete { by, at: at(1) })
            .then([CommentEvent::Deleted(CommentDeleted { post: post(), by, deleted_at: at(1) })]);
    }
    given::<Comment>([added()])
        .when(CommentCommand::Delete { by: cy(), at: at(1) })
        .then_error(SocialError::NotAuthor);
    let deleted = CommentEvent::Deleted(CommentDeleted { post: post(), by: bob(), deleted_at: at(1) });
    given::<Comment>([added(), deleted])
        .when(CommentCommand::Delete { by: bob(), at: at(2) })
        .then_error(SocialError::CommentNotFound);
}
