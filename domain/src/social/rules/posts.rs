//! Posting, editing and deleting.

use super::{ada, at, bob, cy};
use crate::given::given;
use crate::social::*;

fn new_post(text: &str) -> PostCommand {
    PostCommand::Create(NewPost {
        author: ada(),
        text: Some(PostText::parse(text).unwrap_or_else(|e| panic!("{e}"))),
        visibility: Visibility::Friends,
        repost_of: None,
        mentions: vec![bob(), ada(), bob()],
        at: at(0),
    })
}

fn created(text: &str, hashtags: &[&str]) -> PostEvent {
    PostEvent::Created(PostCreated {
        author: ada(),
        text: text.to_owned(),
        visibility: Visibility::Friends,
        repost_of: None,
        hashtags: hashtags.iter().map(|t| (*t).to_owned()).collect(),
        mentions: vec![bob()],
        created_at: at(0),
    })
}

fn edit(by: uuid::Uuid, text: &str, minutes: i64) -> PostCommand {
    PostCommand::Edit {
        by,
        text: PostText::parse(text).unwrap_or_else(|e| panic!("{e}")),
        mentions: vec![],
        at: at(minutes),
    }
}

#[test]
fn a_post_records_its_hashtags_and_mentions_but_not_its_author() {
    given::<Post>([]).when(new_post("Hello #Rust @bob")).then([created("Hello #Rust @bob", &["rust"])]);
}

#[test]
fn a_post_id_is_used_once() {
    given::<Post>([created("x", &[])]).when(new_post("again")).then_error(SocialError::PostExists);
}

#[test]
fn a_repost_may_have_no_text_of_its_own_but_a_post_must() {
    let repost = |text: Option<&str>, repost_of| {
        PostCommand::Create(NewPost {
            author: ada(),
            text: text.map(|t| PostText::parse(t).unwrap_or_else(|e| panic!("{e}"))),
            visibility: Visibility::Public,
            repost_of,
            mentions: vec![],
            at: at(0),
        })
    };
    let original = uuid::Uuid::from_u128(42);
    let outcome = given::<Post>([]).when(repost(None, Some(original))).outcome();
    assert!(
        matches!(outcome.as_deref(), Ok([PostEvent::Created(c)]) if c.repost_of == Some(original) && c.text.is_empty())
    );
    given::<Post>([]).when(repost(None, None)).then_error(SocialError::Invalid(TextError::Empty));
}

#[test]
fn the_author_edits_within_fifteen_minutes_and_every_edit_is_kept() {
    given::<Post>([created("x", &[])]).when(edit(ada(), "better #now", 15)).then([PostEvent::Edited(
        PostEdited {
            text: "better #now".into(),
            hashtags: vec!["now".into()],
            mentions: vec![],
            edited_at: at(15),
        },
    )]);
    given::<Post>([created("x", &[])])
        .when(edit(ada(), "too late", 16))
        .then_error(SocialError::EditWindowClosed);
    given::<Post>([created("x", &[])]).when(edit(bob(), "not mine", 1)).then_error(SocialError::NotAuthor);
}

#[test]
fn only_the_author_deletes_and_a_deleted_post_is_gone() {
    let deleted = PostEvent::Deleted(PostDeleted { by: ada(), deleted_at: at(1) });
    given::<Post>([created("x", &[])])
        .when(PostCommand::Delete { by: cy(), at: at(1) })
        .then_error(SocialError::NotAuthor);
    given::<Post>([created("x", &[])])
        .when(PostCommand::Delete { by: ada(), at: at(1) })
        .then([deleted.clone()]);
    given::<Post>([created("x", &[]), deleted.clone()])
        .when(PostCommand::Delete { by: ada(), at: at(2) })
        .then_error(SocialError::PostNotFound);
    given::<Post>([created("x", &[]), deleted])
        .when(edit(ada(), "back", 3))
        .then_error(SocialError::PostNotFound);
    given::<Post>([])
        .when(PostCommand::Delete { by: ada(), at: at(1) })
        .then_error(SocialError::PostNotFound);
}
